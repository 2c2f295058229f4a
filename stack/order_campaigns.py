"""The two work-order campaigns in the core process: satisfaction callbacks (全量回访) and
reminder calls (催办电话).

- A pass every few seconds queues every replied order's callback and every new reminder's
  call with the dialer (:func:`hotline_core.workorders.callbacks.schedule_callbacks`,
  :func:`hotline_core.workorders.reminders.schedule_reminder_calls`); both are idempotent
  (each queued order gets an event in the same transaction), so a pass run twice, or by two
  cores, queues nothing twice.
- The order's own sentence for the callback IVR is generated into the instance's sounds
  (``sounds/orders/``), readable by Asterisk's group.
- :func:`order_campaign_flows` builds both IVR flows and :func:`add_order_hooks` makes each
  attempt of these kinds an order event, for ``stack/core.py`` to hand to the dialer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.backoff import Backoff, is_transient
from hotline_core.campaigns.model import CampaignKind
from hotline_core.campaigns.store import CampaignStore
from hotline_core.redis_keys import RedisKeys
from hotline_core.timeouts import within
from hotline_core.workorders.callbacks import (
    OrderCampaignHooks,
    schedule_callbacks,
    stale_targets,
)
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.reminders import schedule_reminder_calls
from ivr.campaign_flow import KindFlow
from ivr.flows.reminder_call import ReminderCallFlow, ReminderContext
from ivr.flows.satisfaction_callback import (
    GRAMMAR,
    ChoicePort,
    SatisfactionCallbackFlow,
    SatisfactionContext,
    Transcribe,
)
from speech.jobs import enqueue_transcription
from speech.settings import SpeechSettings
from stack.asterisk import AsteriskSpec, system_user
from stack.prompts import text_prompt

if TYPE_CHECKING:
    from speech.grammar import ChoiceService

log = logging.getLogger(__name__)

ORDER_SOUNDS = "orders"   # under the instance's sounds directory
ORDER_CAMPAIGN_EVERY = 2.0   # seconds between scheduling passes (two indexed look-ups)
# An order's sentence is said within minutes of being made (a retry makes it again): older
# files are removed, so 10 000 callbacks do not leave 10 000 WAVs (≈150 kB each) behind.
ORDER_PROMPT_MAX_AGE = 3600.0


def schedule_once(sessions: sessionmaker[Session], desk: DeskSettings,
                  store: CampaignStore) -> tuple[int, int]:
    """One pass; (callbacks queued, reminder calls queued). Targets no longer wanted are
    cancelled through the dialer's store (which skips one being dialled)."""
    with sessions.begin() as s:
        called_back = schedule_callbacks(s, desk)
        reminded = schedule_reminder_calls(s, desk)
    with sessions() as s:
        stale = stale_targets(s)
    for target_id in stale:
        store.cancel(target_id, "order moved on")
    return len(called_back), len(reminded)


async def run_order_campaigns(sessions: sessionmaker[Session], desk: DeskSettings,
                              store: CampaignStore, every: float) -> None:
    failing = Backoff(log, "work-order campaign pass")   # logs an outage once
    while True:
        try:
            callbacks, reminders = await asyncio.to_thread(schedule_once, sessions, desk,
                                                           store)
            failing.succeeded()
            if callbacks or reminders:
                log.info("queued %d satisfaction callback(s), %d reminder call(s)",
                         callbacks, reminders)
        except Exception as exc:  # a bad pass must not stop the schedule
            failing.failed(exc, expected=is_transient(exc))
        await asyncio.sleep(every)


class OrderPrompts:
    """An order's own prompt (回访: unit and result) as Asterisk plays it."""

    def __init__(self, spec: AsteriskSpec) -> None:
        self._dest = spec.host_dir / "sounds" / ORDER_SOUNDS
        self._inside = f"{spec.inst}/sounds/{ORDER_SOUNDS}"
        self._override = spec.prompts_override_dir
        self._gid = system_user(spec.root)[1]

    async def __call__(self, name: str, text: str) -> str:
        path = await within(asyncio.to_thread(self._make, name, text), 60)
        return f"{self._inside}/{path.stem}"

    def _make(self, name: str, text: str) -> Path:
        prune_order_prompts(self._dest, ORDER_PROMPT_MAX_AGE)
        path = text_prompt(name, text, self._override, self._dest)
        # Asterisk runs as its own user: the file (and its directory) are its group's.
        for p in (self._dest, path):
            os.chown(p, -1, self._gid)
        os.chmod(path, 0o640)
        return path


def prune_order_prompts(dest: Path, max_age: float, now: float | None = None) -> int:
    """Remove order sentences older than ``max_age`` seconds; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for path in dest.glob("*.wav") if dest.is_dir() else ():
        try:
            if now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:   # another pass removed it first
            continue
    return removed


ORDER_KINDS = (CampaignKind.SATISFACTION_CALLBACK, CampaignKind.REMINDER)


def add_order_hooks(store: CampaignStore, desk: DeskSettings) -> None:
    """Every attempt of the two kinds is a ``call_attempt`` event on its order."""
    for kind in ORDER_KINDS:
        store.hooks[kind] = OrderCampaignHooks(desk, kind)


def rating_choices(speech: SpeechSettings | None) -> ChoiceService | None:
    """The grammar recogniser for spoken ratings, when speech is on and
    ``[speech.grammars.rating]`` is configured; None: ratings by key only."""
    if speech is None or GRAMMAR not in speech.grammars:
        return None
    # Imported only now: a core with speech off never loads the recogniser's code.
    from speech.grammar import ChoiceService

    return ChoiceService(speech)


async def warm_choices(choices: ChoiceService, start_seconds: float = 300.0) -> None:
    """Load the recogniser's model before the first spoken rating; a failure is logged
    (spoken ratings then fail one by one and the flow asks for keys)."""
    try:
        await choices.start(start_seconds)
    except Exception:
        log.exception("the speech grammar recogniser for spoken ratings did not start")


def transcription_queue(redis: aioredis.Redis, namespace: str) -> Transcribe:
    """Queue a recording the way finished calls are queued (speech workers pick it up)."""
    keys = RedisKeys(namespace).speech

    async def queue(call_id: str, leg: str, path: Path) -> None:
        await enqueue_transcription(redis, call_id, leg, str(path), keys)
    return queue


def order_campaign_flows(spec: AsteriskSpec, sessions: sessionmaker[Session],
                         desk: DeskSettings, *, choices: ChoicePort | None,
                         transcribe: Transcribe | None) -> dict[CampaignKind, KindFlow]:
    """The IVR flow of each kind (``choices`` None: keys only, no spoken rating)."""
    sounds = f"{spec.inst}/sounds"
    return {
        CampaignKind.SATISFACTION_CALLBACK: SatisfactionCallbackFlow(SatisfactionContext(
            sessions=sessions, desk=desk, sounds_dir=sounds,
            recordings_dir=f"{spec.inst}/recordings", recordings_host=spec.recordings_dir,
            order_prompt=OrderPrompts(spec), choices=choices, transcribe=transcribe)),
        CampaignKind.REMINDER: ReminderCallFlow(ReminderContext(
            sessions=sessions, desk=desk, sounds_dir=sounds)),
    }
