"""The core's heartbeat: Asterisk's global variable ``HOTLINE_HEARTBEAT`` = epoch seconds.

The dialplan's waiting loop reads it: when the core stops beating, waiting callers go to
the fallback queue instead of hearing music forever. A global variable (AMI ``Setvar``, the
``call`` class) rather than AstDB (``DBPut``, the ``system`` class, which also allows
reloads and module loads): the AMI user needs no system rights. It also dies with Asterisk,
so a restarted Asterisk never trusts a stale beat.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hotline_core.backoff import Backoff
from ivr.ami import AmiClient, AmiError
from ivr.dialplan import Var

log = logging.getLogger(__name__)

HEARTBEAT_VARIABLE = Var.HEARTBEAT   # read by extensions.conf [hotline-wait]


async def beat(ami: AmiClient) -> None:
    await ami.action({"Action": "Setvar", "Variable": HEARTBEAT_VARIABLE,
                      "Value": str(int(time.time()))})


async def run_heartbeat(ami: AmiClient, every: float) -> None:
    """Beat every ``every`` seconds: the dialplan judges the core by the beat's age, so the
    pace stays fixed while AMI fails; the failure is logged once until a beat is written."""
    outage = Backoff(log, "heartbeat (AMI)")
    while True:
        try:
            if ami.connected:
                await beat(ami)
                outage.succeeded()
        except (AmiError, OSError, TimeoutError) as exc:
            outage.failed(exc)
        await asyncio.sleep(every)


async def stop_heartbeat(ami: AmiClient) -> None:
    """On a clean stop, hand waiting callers to the fallback queue at once."""
    try:
        await ami.action({"Action": "Setvar", "Variable": HEARTBEAT_VARIABLE, "Value": ""})
    except AmiError as exc:
        log.warning("could not clear heartbeat: %s", exc)
