"""Waiting-line announcements and virtual hold (排队播报与回拨).

Run by the dialplan's waiting loop every ``calls.announce_seconds``: tells the caller how
many callers are ahead and the estimated wait (numbers as words), and — when the estimated
wait exceeds ``calls.callback_offer_seconds`` and callbacks are enabled — offers a callback
on key 1. A caller who accepts keeps their place in line and hangs up; the dialer calls
back when an agent is free (the campaign engine, ``ivr/campaign.py``, places the call and
tries again after the spacing when the citizen does not answer). The offer is made only to
callers whose number the outbound number policy would dial (a withheld, foreign or premium
number keeps waiting instead).

A caller on hold whom the distributor no longer holds at all (its state was lost, e.g. Redis
came back empty) would otherwise hear music for ever: the flow hands such a caller to the
dialplan's fallback queue (``HOTLINE_NEXT=fallback``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from hotline_core.acd import Distributor
from hotline_core.dial_policy import DialPolicy, DialRefused
from ivr.agi import AgiSession
from ivr.campaign import CampaignEngine
from ivr.dialplan import Next, Var
from ivr.live_calls import LiveCalls
from ivr.numbers import spoken_number
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitingContext:
    distributor: Distributor
    live: LiveCalls
    calls: AsyncCallLog
    sounds_dir: str
    callback_offer_seconds: float | None   # None: virtual hold disabled (no outbound trunk)
    dial_policy: DialPolicy | None = None
    # The dialer: a caller who accepts becomes a virtual-hold target (attempts, retries).
    campaigns: CampaignEngine | None = None


class WaitingFlow:
    def __init__(self, ctx: WaitingContext) -> None:
        self.ctx = ctx

    async def __call__(self, session: AgiSession) -> None:
        call_id = session.env.get("uniqueid", "")
        # one read whose cost does not grow with the line (issue 14: 400 callers each
        # reading the whole line twice per announcement took the core down)
        place = await self.ctx.distributor.view.place(call_id)
        if place is None:
            if not await self.ctx.distributor.view.holds(call_id):
                log.warning("call %s is on hold but the distributor holds no such call: "
                            "handing it to the fallback queue", call_id)
                await session.set_variable(Var.NEXT, Next.FALLBACK)
            return   # otherwise: already being connected
        ahead, ewt = place.position - 1, place.estimated_wait
        await self._say(session, ["position-ahead", *spoken_number(min(ahead, 999), True),
                                  "position-unit"])
        if ewt is not None:
            minutes = math.ceil(ewt / 60)
            if minutes <= 1:
                await self._say(session, ["wait-under-a-minute"])
            else:
                await self._say(session, ["wait-about", *spoken_number(min(minutes, 999), True),
                                          "wait-minutes"])
        offer = self.ctx.callback_offer_seconds
        if offer is not None and ewt is not None and ewt >= offer \
                and await self._may_call_back(call_id):
            digit = await session.stream_file(f"{self.ctx.sounds_dir}/callback-offer", "1")
            if digit == "1":
                await self._accept_callback(session, call_id)

    async def _may_call_back(self, call_id: str) -> bool:
        call = await self.ctx.live.get(call_id)
        if call is None or self.ctx.dial_policy is None:
            return False
        try:
            self.ctx.dial_policy.dialable(call.caller)
        except DialRefused as exc:
            log.info("call %s: no callback offered: %s", call_id, exc.reason)
            return False
        return True

    async def _say(self, session: AgiSession, prompts: list[str]) -> None:
        for name in prompts:
            await session.stream_file(f"{self.ctx.sounds_dir}/{name}")

    async def _accept_callback(self, session: AgiSession, call_id: str) -> None:
        await self.ctx.distributor.request_callback(call_id)
        await self.ctx.live.mark_callback(call_id)
        await self.ctx.calls.callback_requested(call_id)
        call = await self.ctx.live.get(call_id)
        if self.ctx.campaigns is not None and call is not None:
            await self.ctx.campaigns.virtual_hold_accepted(call_id, call.line, call.caller)
        log.info("call %s: caller chose a callback and keeps the place in line", call_id)
        await session.stream_file(f"{self.ctx.sounds_dir}/callback-confirmed")
        await session.set_variable(Var.NEXT, Next.DONE)
