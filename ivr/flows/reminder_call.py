"""Reminder call IVR (催办电话, R-LIGHTS, R-AB): an overdue unit's liaison is told and confirms.

The dialer calls liaison A of the order's unit (then B, at once, when A does not answer or
does not confirm); when a liaison answers, ``ivr/campaign_flow.py`` runs this flow. It
says the order number (digit by digit) and how long the order is overdue (days and hours
since its deadline, reckoned when the call is answered), and asks for key 1 to confirm.
The confirmation is a ``reminder_confirmed`` event on the order
(:func:`hotline_core.workorders.reminders.confirm`). A unit that replied or returned the
order since the reminder hears that nothing is due any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.model import AttemptOutcome
from hotline_core.workorders.desk import DeskSettings, WorkOrderError
from hotline_core.workorders.reminders import (
    Liaison,
    ReminderScript,
    confirm,
    reminder_script,
)
from ivr.agi import AgiHangup, AgiSession
from ivr.campaign_flow import CampaignCall, FlowResult, order_digits, say, without_order
from ivr.numbers import spoken_number

log = logging.getLogger(__name__)

CONFIRM = "1"


@dataclass(frozen=True)
class ReminderContext:
    sessions: sessionmaker[Session]
    desk: DeskSettings
    sounds_dir: str             # prompts, as Asterisk sees them
    tries: int = 2              # times the reminder is said
    wait_ms: int = 5000         # time for the key after the last prompt


def overdue_prompts(days: int, hours: int) -> list[str]:
    """``已超期 N 天 M 小时``; under a day only the hours (0 小时 when just overdue)."""
    out = ["reminder-overdue"]
    if days:
        out += [*spoken_number(min(days, 999), True), "unit-day"]
    if hours or not days:
        out += [*spoken_number(hours, True), "unit-hour"]
    return out


class ReminderCallFlow:
    def __init__(self, ctx: ReminderContext) -> None:
        self.ctx = ctx

    async def __call__(self, session: AgiSession, call: CampaignCall) -> FlowResult:
        if call.order_id is None:
            return without_order(call, "reminder call")
        order_id = call.order_id
        script = await asyncio.to_thread(self._script, order_id)
        if not script.open:
            await self._say(session, ["reminder-not-due"])
            return FlowResult(AttemptOutcome.COMPLETED, {"skipped": "no longer overdue"})
        days, hours = script.days_hours
        prompts = ["reminder-intro", "reminder-order", *order_digits(order_id),
                   *overdue_prompts(days, hours), "reminder-confirm"]
        for _ in range(self.ctx.tries):
            digit = await self._say(session, prompts, escape=CONFIRM)
            if not digit:
                resp = await session.command(f"WAIT FOR DIGIT {self.ctx.wait_ms}",
                                             timeout=self.ctx.wait_ms / 1000 + 10)
                code = resp.result_int or 0
                digit = chr(code) if code > 0 else ""
            if digit == CONFIRM:
                return await self._confirmed(session, call, order_id, days, hours)
        # Answered, not confirmed: the dialer tries the next liaison (B after A) at once.
        return FlowResult(AttemptOutcome.HUNG_UP, {"confirmed": False}, finished=False)

    async def _confirmed(self, session: AgiSession, call: CampaignCall, order_id: int,
                         days: int, hours: int) -> FlowResult:
        names = call.data.get("names", {}) if isinstance(call.data, dict) else {}
        liaison = Liaison(call.role, str(names.get(call.role, "")), call.number)
        try:
            await asyncio.to_thread(self._confirm, order_id, call.attempt_id, liaison)
        except WorkOrderError as exc:
            log.warning("attempt %s: confirmation not stored: %s", call.attempt_id, exc.reason)
            return FlowResult(AttemptOutcome.HUNG_UP, {"confirmed": False}, finished=False)
        with contextlib.suppress(AgiHangup):   # confirmed: a hang-up now changes nothing
            await self._say(session, ["reminder-confirmed"])
        return FlowResult(AttemptOutcome.COMPLETED, {
            "confirmed": True, "role": call.role, "overdue_days": days,
            "overdue_hours": hours})

    def _script(self, order_id: int) -> ReminderScript:
        with self.ctx.sessions() as s:
            return reminder_script(s, self.ctx.desk, order_id)

    def _confirm(self, order_id: int, attempt_id: int, liaison: Liaison) -> None:
        with self.ctx.sessions.begin() as s:
            confirm(s, self.ctx.desk, order_id, attempt_id, liaison)

    async def _say(self, session: AgiSession, prompts: list[str], escape: str = "") -> str:
        return await say(session, str(self.ctx.sounds_dir), prompts, escape)
