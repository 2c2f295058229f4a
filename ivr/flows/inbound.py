"""Inbound call flow (来电受理): line → restriction check → greeting → waiting line.

No menu tree: GB/T 33358 advises against IVR menus for intake, so every caller goes
straight to an agent of the line's skill. The flow sets ``HOTLINE_NEXT`` to tell the
dialplan what comes next: ``wait`` (music on hold until the core rings an agent) or
``done``; anything else (the core died half-way) makes the dialplan use its fallback queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hotline_core.acd import Distributor, WaitingCall
from hotline_core.acd.caller_flags import CallerPriority
from hotline_core.acd.restriction import Restriction, RestrictionList
from hotline_core.call_records import Disposition
from hotline_core.lines import LinePlan
from hotline_core.phone_numbers import canonical_number
from hotline_core.recording_names import recording_name
from ivr.agi import AgiHangup, AgiSession
from ivr.dialplan import AgiParam, Next, Var, centre_of_channel
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog
from ivr.transfer import CentreIntake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundContext:
    lines: LinePlan
    calls: AsyncCallLog
    distributor: Distributor
    live: LiveCalls
    sounds_dir: str          # prompts directory as Asterisk sees it
    recordings_dir: str      # recordings directory as Asterisk sees it
    restrictions: RestrictionList | None = None
    priority: CallerPriority | None = None
    # Calls passed in by an emergency centre: keeps the centre's reference (ivr/transfer.py).
    centre_intake: CentreIntake | None = None
    # Told (call id, line) once a voice message is recorded: the desks' inbox updates live.
    voice_message_left: Callable[[str, str], Awaitable[None]] | None = None


class InboundFlow:
    def __init__(self, ctx: InboundContext) -> None:
        self.ctx = ctx

    async def __call__(self, session: AgiSession) -> None:
        ctx = self.ctx
        number = session.params.get(AgiParam.LINE) or session.env.get("extension", "")
        line = ctx.lines.by_number(number)
        if line is None:
            await session.stream_file(f"{ctx.sounds_dir}/not-in-service")
            await session.set_variable(Var.NEXT, Next.DONE)
            return
        call_id = session.env.get("uniqueid", "")
        # One form for every look-up below (restriction, priority, history, callback):
        # "+8613800138000" and "13800138000" are the same caller.
        caller = canonical_number(session.env.get("callerid", ""))
        # The dialplan passes these in the AGI URL; ask for them only if it did not. A name
        # that is not a plain recording name (".." or a quote smuggled in) is not used.
        p = session.params
        recording = recording_name(p.get(AgiParam.REC) or await session.get_variable(Var.REC))
        # Asterisk does not send the linkedid among the AGI headers.
        linkedid = p.get(AgiParam.LINKEDID) or await session.get_variable("CHANNEL(linkedid)")
        await ctx.calls.offered(call_id, line=line.number, caller=caller,
                                department=line.department, linkedid=linkedid or call_id,
                                recording=recording)
        arrival = await self._arrive(session, LiveCall(
            call_id=call_id, channel=session.env.get("channel", ""), line=line.number,
            caller=caller, department=line.department))
        if arrival.restriction is not None and ctx.restrictions is not None:
            await self._refuse(session, call_id, caller, arrival.restriction)
            return
        # A centre's call is known by the trunk it came in on (its source address), never
        # by a header: the same header from the carrier raises nobody.
        centre = centre_of_channel(session.env.get("channel", "")) or ""
        # The caller's priority (the work-order store in a thread) needs nothing from the
        # call: looked up while the greeting plays, not after it.
        lookup = (asyncio.ensure_future(ctx.priority.of(caller, centre, arrival.needs_help))
                  if ctx.priority is not None else None)
        try:
            await session.stream_file(f"{ctx.sounds_dir}/{line.greeting}")
            if not await self._anyone_serving(line.skills):
                await self._voice_message(session, call_id, recording, line.number)
                return
            if centre and ctx.centre_intake is not None:
                await ctx.centre_intake.arrived(session, call_id, centre)
            priority = 0 if lookup is None else await lookup
        finally:
            _settle(lookup)
        await session.set_variable(Var.NEXT, Next.WAIT)
        try:
            await ctx.distributor.enqueue(WaitingCall(
                call_id=call_id, line=line.number, skills=line.skills, caller=caller,
                department=line.department, priority=priority))
        except AgiHangup:
            raise
        except Exception:
            # The distributor (Redis) is unreachable: the dialplan's fallback queue takes
            # the caller instead of leaving them on hold with no one to pick them.
            log.exception("could not enqueue call %s; handing it to the fallback queue", call_id)
            await ctx.live.remove(call_id)
            await session.set_variable(Var.NEXT, Next.FALLBACK)

    async def _anyone_serving(self, skills: tuple[str, ...]) -> bool:
        """Is any agent logged in who could take the call, directly or by overflow?"""
        wanted = set(skills)
        overflow = self.ctx.distributor.config.overflow.get(skills[0])
        if overflow is not None:
            wanted.add(overflow.fallback)
        # one count per skill (issue 14: reading every agent on every call)
        return await self.ctx.distributor.view.anyone_logged_in(sorted(wanted))

    async def _voice_message(self, session: AgiSession, call_id: str,
                             recording: str | None, line: str) -> None:
        """Nobody can answer: the caller may leave a message (语音留言), which agents find
        in the voice-message list and turn into a work order."""
        message = recording_name((recording or f"{call_id}.wav").replace(".wav", "-message.wav"))
        if message is None:
            log.warning("call %s: no safe name for a voice message; not recorded", call_id)
            await session.set_variable(Var.NEXT, Next.DONE)
            return
        await self.ctx.calls.voice_message(call_id, message)
        await session.stream_file(f"{self.ctx.sounds_dir}/voicemail-offer")
        # Beep, up to 120 s, ends after 5 s of silence or on hang-up (the file is kept).
        try:
            await session.command(
                f'RECORD FILE "{self.ctx.recordings_dir}/{message.removesuffix(".wav")}" wav '
                f'"#" 120000 0 BEEP s=5', timeout=130)
        finally:        # a hang-up ends the message too: it is there either way
            if self.ctx.voice_message_left is not None:
                await self.ctx.voice_message_left(call_id, line)
        await session.set_variable(Var.NEXT, Next.DONE)

    async def _arrive(self, session: AgiSession, call: LiveCall) -> _Arrival:
        """The call's arrival in one Redis round trip (issue 14 item 3): registered for the
        event bridge before the greeting (a caller who hangs up during it is recorded as
        abandoned), the restriction list and the caller's needs-help flag read. A
        restricted caller's registration is taken back at once."""
        ctx = self.ctx
        batch = ctx.live.batch(ctx.distributor.config.redis_timeout_seconds)
        ctx.live.add_in(batch, call)
        restriction = (ctx.restrictions.look_up_in(batch, call.caller)
                       if ctx.restrictions is not None else None)
        needs_help = (ctx.priority.flags.needs_help_in(batch, call.caller)
                      if ctx.priority is not None else None)
        await batch.run()
        arrival = _Arrival(restriction.value if restriction is not None else None,
                           needs_help.value if needs_help is not None else None)
        if arrival.restriction is not None:
            await ctx.live.remove(call.call_id)
        return arrival

    async def _refuse(self, session: AgiSession, call_id: str, caller: str,
                      restriction: Restriction) -> None:
        """A restricted caller (R-RESTRICT): the hit logged, the call closed with its reason,
        the restriction prompt played."""
        if self.ctx.restrictions is not None:
            await self.ctx.restrictions.refused(caller, restriction)
        await self.ctx.calls.closed(call_id, Disposition.RESTRICTED,
                                    f"restricted: {restriction.reason}")
        await session.stream_file(f"{self.ctx.sounds_dir}/restricted")
        await session.set_variable(Var.NEXT, Next.DONE)


@dataclass(frozen=True)
class _Arrival:
    restriction: Restriction | None     # the caller's restriction in force, if any
    needs_help: bool | None             # None: no caller priority configured


def _settle(lookup: asyncio.Future[int] | None) -> None:
    """A look-up the flow no longer needs (hang-up, voice message): stopped, and its error,
    if it had one, taken so it is not reported as never retrieved."""
    if lookup is None:
        return
    if not lookup.done():
        lookup.cancel()
    elif not lookup.cancelled():
        lookup.exception()
