"""The core's heartbeat in Asterisk's AstDB (``hotline/heartbeat`` = epoch seconds).

The dialplan's waiting loop reads it: when the core stops beating, waiting callers go to
the fallback queue instead of hearing music forever.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ivr.ami import AmiClient, AmiError

log = logging.getLogger(__name__)


async def beat(ami: AmiClient) -> None:
    await ami.action({"Action": "DBPut", "Family": "hotline", "Key": "heartbeat",
                      "Val": str(int(time.time()))})


async def run_heartbeat(ami: AmiClient, every: float) -> None:
    while True:
        try:
            if ami.connected:
                await beat(ami)
        except AmiError as exc:
            log.warning("heartbeat not written: %s", exc)
        await asyncio.sleep(every)


async def stop_heartbeat(ami: AmiClient) -> None:
    """On a clean stop, hand waiting callers to the fallback queue at once."""
    try:
        await ami.action({"Action": "DBDel", "Family": "hotline", "Key": "heartbeat"})
    except AmiError as exc:
        log.warning("could not clear heartbeat: %s", exc)
