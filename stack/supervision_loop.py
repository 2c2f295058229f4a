"""Supervision on a schedule (督办): every few minutes, overdue orders get a reminder event
for their unit's A/B liaisons and unreported reminders escalate to special supervision
(R-LIGHTS, R-AB). The pass is idempotent, so several core instances may run it."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.backoff import Backoff, is_transient
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.supervision import run_supervision

log = logging.getLogger(__name__)


def supervise_once(sessions: sessionmaker[Session], desk: DeskSettings) -> tuple[int, int]:
    with sessions.begin() as s:
        result = run_supervision(s, desk)
    return len(result.reminders), len(result.special)


async def run_supervision_loop(sessions: sessionmaker[Session], desk: DeskSettings,
                               every: float) -> None:
    failing = Backoff(log, "work-order supervision pass")   # logs an outage once
    while True:
        try:
            reminders, special = await asyncio.to_thread(supervise_once, sessions, desk)
            failing.succeeded()
            if reminders or special:
                log.info("supervision: %d reminder(s), %d special supervision(s)",
                         reminders, special)
        except Exception as exc:  # a bad pass must not stop the schedule
            failing.failed(exc, expected=is_transient(exc))
        await asyncio.sleep(every)
