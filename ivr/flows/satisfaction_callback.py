"""Satisfaction callback IVR (全量回访, R-CALLBACK): the citizen rates the handling of an order.

The dialer (``ivr/campaign.py``) calls the citizen of an order with a unit reply; when the
citizen answers, ``ivr/campaign_flow.py`` runs this flow with the attempt. It names the
order (number read digit by digit) and its unit and reads a short result (the order's own
sentence: generated, or a recorded ``callback-order-<id>.wav`` from the prompts override
directory), then asks for a rating 1–5 — 非常满意 1, 满意 2, 基本满意 3, 不满意 4,
非常不满意 5 — by key or by voice. A spoken answer is recorded and matched against the
speech grammar ``rating`` (``[speech.grammars.rating]``: choice keys "1"…"5"; no speech
configured: keys only). The rating is stored at once as the order's evaluation
(:func:`hotline_core.workorders.callbacks.record_rating`; unsatisfied → review, the way to a
redo), then the citizen may leave a spoken comment (Record until "#", silence or hang-up),
queued for transcription like every other recording (leg ``comment`` of the attempt's
channel). A citizen who answers but gives no usable rating after two tries is left to the
dialer's retries and, after the last, to the human worklist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.model import AttemptOutcome
from hotline_core.recording_names import confined, recording_name
from hotline_core.workorders.callbacks import (
    CallbackScript,
    Rating,
    callback_script,
    rating_for_key,
    record_rating,
)
from hotline_core.workorders.desk import DeskSettings, WorkOrderError
from ivr.agi import AgiHangup, AgiSession
from ivr.campaign_flow import (
    PROMPT_SECONDS,
    CampaignCall,
    FlowResult,
    order_digits,
    say,
    without_order,
)

log = logging.getLogger(__name__)

RATING_DIGITS = "12345"
# A prompt's reply comes when it has been played: longer than the AGI server's default
# command timeout for the rating question (15 s) or a long result.
GRAMMAR = "rating"            # [speech.grammars.rating]: choice keys are the rating keys


class HeardChoice(Protocol):
    """What the speech grammar recogniser answers (``speech.grammar.Choice``)."""

    @property
    def key(self) -> str: ...

    @property
    def phrase(self) -> str: ...


class ChoicePort(Protocol):
    """The speech grammar recogniser as the flow uses it (``speech.grammar.ChoiceService``);
    the core imports the implementation only when speech is configured."""

    async def recognize(self, path: Path, grammar: str,
                        limit_seconds: float = 10.0) -> HeardChoice | None: ...


# (call id, leg, recording on this machine) → queued for the speech workers.
Transcribe = Callable[[str, str, Path], Awaitable[None]]
# (prompt name, Chinese text) → the prompt as Asterisk plays it (path without extension).
OrderPrompt = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True)
class SatisfactionContext:
    sessions: sessionmaker[Session]
    desk: DeskSettings
    sounds_dir: str                 # fixed prompts, as Asterisk sees them
    recordings_dir: str             # recordings, as Asterisk sees them
    recordings_host: Path           # the same directory on this machine
    order_prompt: OrderPrompt
    choices: ChoicePort | None = None
    transcribe: Transcribe | None = None
    tries: int = 2                  # times the rating is asked
    answer_ms: int = 6000           # longest spoken answer recorded
    comment_ms: int = 60000         # longest comment recorded
    recognise_seconds: float = 20.0


class SatisfactionCallbackFlow:
    def __init__(self, ctx: SatisfactionContext) -> None:
        self.ctx = ctx

    async def __call__(self, session: AgiSession, call: CampaignCall) -> FlowResult:
        if call.order_id is None:
            return without_order(call, "satisfaction callback")
        order_id = call.order_id
        script = await asyncio.to_thread(self._script, order_id)
        if not script.open:
            await self._say(session, ["callback-already-done"])
            return FlowResult(AttemptOutcome.COMPLETED, {"skipped": "already evaluated"})
        # The order's sentence is made while the intro plays (no silence before it).
        making: asyncio.Future[str] = asyncio.ensure_future(
            self.ctx.order_prompt(f"callback-order-{order_id}", script.text))
        try:
            await self._say(session, ["callback-intro", "callback-order",
                                      *order_digits(order_id)])
            sentence = await making
        except Exception as exc:
            making.cancel()
            if isinstance(exc, AgiHangup):
                raise
            # Without it the citizen can still rate what the unit did; the call goes on.
            log.warning("order %s: its prompt could not be made (%s); asked without it",
                        order_id, exc)
        else:
            await session.stream_file(sentence, timeout=PROMPT_SECONDS)
        base = self._base_name(call)
        rating = await self._ask_rating(session, base)
        if rating is None:
            await self._say(session, ["callback-not-heard"])
            return FlowResult(AttemptOutcome.HUNG_UP, {"rating": None}, finished=False)
        try:
            await asyncio.to_thread(self._record, order_id, rating)
        except WorkOrderError as exc:   # evaluated by staff while the call went on
            log.info("attempt %s: rating not stored: %s", call.attempt_id, exc.reason)
            await self._say(session, ["callback-already-done"])
            return FlowResult(AttemptOutcome.COMPLETED, {"skipped": exc.reason})
        result = {"rating": _key_of(rating), "level": rating.level.value, "by": rating.by,
                  "heard": rating.heard, "comment": None}
        # Stored: from here a hang-up ends a completed call, never a retried one.
        try:
            await self._say(session, ["callback-rated", f"rating-{_key_of(rating)}"])
            result["comment"] = await self._comment(session, base)
            await self._say(session, ["callback-thanks"])
        except AgiHangup:
            if result["comment"] is None:
                result["comment"] = await self._queue_comment(session.uniqueid, base)
        return FlowResult(AttemptOutcome.COMPLETED, result)

    # -- the rating ---------------------------------------------------------------------------

    async def _ask_rating(self, session: AgiSession, base: str) -> Rating | None:
        for attempt in range(self.ctx.tries):
            if attempt:
                await self._say(session, ["callback-not-heard"])
            digit = await session.stream_file(f"{self.ctx.sounds_dir}/callback-ask-rating",
                                              RATING_DIGITS, timeout=PROMPT_SECONDS)
            if not digit:
                digit, heard = await self._answer(session, f"{base}-rating-{attempt + 1}")
                if heard is not None:
                    return heard
            level = rating_for_key(digit) if digit else None
            if level is not None:
                return Rating(level, "dtmf")
        return None

    async def _answer(self, session: AgiSession, name: str) -> tuple[str, Rating | None]:
        """Record the spoken answer (a key still counts); recognise it with the grammar."""
        resp = await session.command(
            f'RECORD FILE "{self.ctx.recordings_dir}/{name}" wav "{RATING_DIGITS}" '
            f"{self.ctx.answer_ms} 0 s=3", timeout=self.ctx.answer_ms / 1000 + 10)
        code = resp.result_int or 0
        if code > 0 and chr(code) in RATING_DIGITS:
            return chr(code), None
        if self.ctx.choices is None:
            return "", None
        path = self._host(f"{name}.wav")
        if path is None:
            return "", None
        try:
            choice = await self.ctx.choices.recognize(path, GRAMMAR, self.ctx.recognise_seconds)
        except (TimeoutError, KeyError, OSError) as exc:
            log.warning("spoken rating not recognised (%s): keys only", exc)
            return "", None
        level = rating_for_key(choice.key) if choice is not None else None
        if choice is None or level is None:
            return "", None
        return "", Rating(level, "voice", heard=choice.phrase)

    # -- the comment --------------------------------------------------------------------------

    async def _comment(self, session: AgiSession, base: str) -> str | None:
        """The citizen's optional comment (意见建议): recorded, then queued for transcription."""
        await self._say(session, ["callback-comment"])
        name = f"{base}-comment"
        try:
            await session.command(
                f'RECORD FILE "{self.ctx.recordings_dir}/{name}" wav "#" '
                f"{self.ctx.comment_ms} 0 BEEP s=4", timeout=self.ctx.comment_ms / 1000 + 10)
        except AgiHangup:
            await self._queue_comment(session.uniqueid, base)
            raise
        return await self._queue_comment(session.uniqueid, base)

    async def _queue_comment(self, call_id: str, base: str) -> str | None:
        name = f"{base}-comment.wav"
        path = self._host(name)
        if path is None or not await asyncio.to_thread(_has_audio, path):
            return None
        if self.ctx.transcribe is not None:
            try:
                await self.ctx.transcribe(call_id, "comment", path)
            except Exception:   # the comment stays on disk; transcription can be redone
                log.exception("comment %s not queued for transcription", name)
        return name

    # -- helpers ------------------------------------------------------------------------------

    def _script(self, order_id: int) -> CallbackScript:
        with self.ctx.sessions() as s:
            return callback_script(s, order_id)

    def _record(self, order_id: int, rating: Rating) -> None:
        with self.ctx.sessions.begin() as s:
            record_rating(s, self.ctx.desk, order_id, rating)

    def _base_name(self, call: CampaignCall) -> str:
        """The attempt's recording name without ``.wav``: the answer and the comment are
        recorded beside the call's own recording."""
        name = recording_name(call.recording) or f"attempt-{call.attempt_id}.wav"
        return name.removesuffix(".wav")

    def _host(self, name: str) -> Path | None:
        try:
            return confined(self.ctx.recordings_host, name)
        except ValueError as exc:
            log.warning("%s", exc)
            return None

    async def _say(self, session: AgiSession, prompts: list[str]) -> None:
        await say(session, str(self.ctx.sounds_dir), prompts)


def _key_of(rating: Rating) -> str:
    return next(k for k in "12345" if rating_for_key(k) is rating.level)


def _has_audio(path: Path, min_bytes: int = 44 + 8000) -> bool:
    """More than half a second of 8 kHz audio after the WAV header."""
    try:
        return path.stat().st_size > min_bytes
    except FileNotFoundError:
        return False
