"""The ``campaign`` FastAGI script: an answered campaign attempt runs its kind's flow.

The dialplan (``hotline-campaign``) runs it with ``attempt=<id>`` once the callee answered
the dialer's Originate. The id must be the one the channel itself carries (its uniqueid is
``at-<id>``): a request naming another attempt — an attempt that is not in flight, or a
channel that is not an attempt's — is refused and the call hung up, so nobody can run a
flow (and write an evaluation) for an attempt they were not called for.

A kind's flow gets a :class:`CampaignCall` and returns a :class:`FlowResult`; the result is
stored at once (it survives a core restart), and the attempt ends when the leg hangs up.
A flow that raises leaves the attempt ``hung_up`` (retried by the rules).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hotline_core.campaigns.model import AttemptOutcome, AttemptState, CampaignKind
from hotline_core.campaigns.store import CampaignStore
from ivr.agi import AgiHangup, AgiSession
from ivr.campaign import attempt_of_leg, attempt_recording
from ivr.dialplan import ATTEMPT_LEG_PREFIX, AgiParam

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CampaignCall:
    """An answered attempt, as a kind's flow sees it."""

    attempt_id: int
    target_id: int
    campaign_id: int
    kind: CampaignKind
    seq: int                      # 1, 2, … for this target
    number: str                   # the digits dialled
    role: str                     # citizen, A, B, lead
    line: str                     # the line shown as caller ID
    order_id: int | None
    call_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    recording: str = ""           # this attempt's recording, relative to the recordings dir


@dataclass(frozen=True)
class FlowResult:
    """What the flow reports: ``finished`` False → the target is tried again by the rules."""

    outcome: AttemptOutcome = AttemptOutcome.COMPLETED
    result: Mapping[str, Any] = field(default_factory=dict)
    finished: bool = True


KindFlow = Callable[[AgiSession, CampaignCall], Awaitable[FlowResult]]

# Longest a single prompt of an order campaign may play (a sentence made from the order).
PROMPT_SECONDS = 90.0


def without_order(call: CampaignCall, what: str) -> FlowResult:
    """An order campaign's call (callback, reminder) that names no order: declined for
    good (retrying cannot give it one)."""
    log.warning("attempt %s: a %s without an order", call.attempt_id, what)
    return FlowResult(AttemptOutcome.DECLINED, {"error": "no order"}, finished=True)


def order_digits(order_id: int) -> list[str]:
    """An order number read digit by digit (编号 1 2 0 7), as numbers on the phone are."""
    return [f"num-{d}" for d in str(order_id)]


async def say(session: AgiSession, sounds_dir: str, prompts: list[str],
              escape: str = "") -> str:
    """Play ``prompts`` from ``sounds_dir`` in turn; the first key of ``escape`` pressed stops
    them and is returned ("" when none was)."""
    for name in prompts:
        digit = await session.stream_file(f"{sounds_dir}/{name}", escape,
                                          timeout=PROMPT_SECONDS)
        if digit:
            return digit
    return ""


class CampaignFlow:
    def __init__(self, store: CampaignStore, flows: Mapping[CampaignKind, KindFlow]) -> None:
        self._store = store
        self.flows = dict(flows)

    async def __call__(self, session: AgiSession) -> None:
        raw = session.params.get(AgiParam.ATTEMPT, "")
        own = attempt_of_leg(session.uniqueid)
        if not raw.isascii() or not raw.isdigit() or own is None or int(raw) != own:
            log.warning("campaign script refused: attempt %r on channel %r is not its own",
                        raw[:20], session.uniqueid[:80])
            await session.hangup()
            return
        info = await asyncio.to_thread(self._store.attempt, own)
        if info is None or info.state is AttemptState.ENDED or info.kind.agent_first \
                or not session.uniqueid.startswith(ATTEMPT_LEG_PREFIX):
            log.warning("campaign script refused: attempt %s is not in flight", own)
            await session.hangup()
            return
        flow = self.flows.get(info.kind)
        if flow is None:
            log.error("attempt %s: no flow for campaign kind %s", own, info.kind.value)
            await session.hangup()
            return
        await asyncio.to_thread(self._store.mark_up, own)
        recording = attempt_recording(info)
        await asyncio.to_thread(self._store.set_recording, own, recording)
        call = CampaignCall(
            attempt_id=info.id, target_id=info.target_id, campaign_id=info.campaign_id,
            kind=info.kind, seq=info.seq, number=info.number, role=info.role, line=info.line,
            order_id=info.order_id, call_id=info.call_id, data=info.data,
            recording=recording)
        try:
            result = await flow(session, call)
        except AgiHangup:
            log.info("attempt %s: the callee hung up during the flow", own)
            return
        except Exception:
            log.exception("attempt %s: the %s flow failed", own, info.kind.value)
            return
        await asyncio.to_thread(self._store.flow_result, own, result.outcome, result.result,
                                result.finished)
