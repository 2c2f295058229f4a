"""Call records (通话记录): one row per inbound call, kept current from AGI and AMI events.

A record is created when the call is offered to the platform and completed as the call is
answered and ends. Calls that the dialplan handled while the core was down are added later
from Asterisk's CDR file (``reconciled``), so no call is missing from the list.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from hotline_core.backoff import is_transient
from hotline_core.db import Base
from hotline_core.masking import mask_phone


class Disposition(StrEnum):
    OFFERED = "offered"          # still in progress: waiting or ringing
    ANSWERED = "answered"        # an agent answered (the call may still be going on)
    ABANDONED = "abandoned"      # caller hung up before an agent answered (呼损)
    CALLBACK = "callback"        # virtual hold: the caller hung up keeping the place in line
    VOICE_MESSAGE = "voice-message"  # nobody could answer: the caller left a message (留言)
    RESTRICTED = "restricted"    # caller on the restriction list, told and disconnected
    FAILED = "failed"            # the platform could not connect the call


class Route(StrEnum):
    CORE = "core"                # distributed by the core
    FALLBACK = "fallback"        # core unreachable: app_queue delivered it
    CALLBACK = "callback"        # virtual hold: the platform called the citizen back


class CallRecord(Base):
    __tablename__ = "call_records"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # Asterisk Uniqueid
    linkedid: Mapped[str] = mapped_column(String(64), default="")
    line: Mapped[str] = mapped_column(String(20), index=True)
    department: Mapped[str] = mapped_column(String(64), default="")
    caller: Mapped[str] = mapped_column(String(32), index=True)
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    agent_id: Mapped[str | None] = mapped_column(String(32), index=True)
    disposition: Mapped[str] = mapped_column(String(16), default=Disposition.OFFERED.value)
    reason: Mapped[str] = mapped_column(String(200), default="")
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    recording: Mapped[str | None] = mapped_column(String(300))
    # Virtual hold / missed-call callback: the callback conversation (<id>-callback.wav).
    callback_recording: Mapped[str | None] = mapped_column(String(300))
    message: Mapped[str | None] = mapped_column(String(300))   # voice message file
    route: Mapped[str] = mapped_column(String(16), default=Route.CORE.value)
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)


class QuarantinedCdrRow(Base):
    """A CDR row reconciliation could not store (too long for a column, rejected by the
    database): kept here with the reason instead of blocking every row after it."""

    __tablename__ = "cdr_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cdr_file: Mapped[str] = mapped_column(String(300))
    offset: Mapped[int] = mapped_column(BigInteger)          # byte offset of the batch
    row: Mapped[str] = mapped_column(Text)                   # the CDR line(s), as read
    reason: Mapped[str] = mapped_column(String(300))
    quarantined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReconcileState(Base):
    """How far reconciliation has read a CDR file (byte offset), stored with the records
    it produced so a row is merged once whatever else (Redis) is down."""

    __tablename__ = "cdr_offsets"

    cdr_file: Mapped[str] = mapped_column(String(300), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger)


@functools.cache
def field_limits() -> dict[str, int]:
    """Column sizes of a call record's text fields (``caller`` → 32), from the model."""
    limits: dict[str, int] = {}
    for column in CallRecord.__table__.columns:
        length = getattr(column.type, "length", None)
        if isinstance(column.type, String) and length:
            limits[column.key] = int(length)
    return limits


def too_long(record: CallRecord) -> str | None:
    """Why ``record`` cannot be stored (a field longer than its column), or None."""
    problems = [f"{name} has {len(value)} characters (at most {limit})"
                for name, limit in field_limits().items()
                if isinstance(value := getattr(record, name), str) and len(value) > limit]
    return "; ".join(problems) or None


def clip(value: str, field: str) -> str:
    """A free-text value (reason, department) cut to its column's size."""
    limit = field_limits()[field]
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass(frozen=True)
class CallView:
    """A call record as shown to a user; ``caller`` is masked unless the role may see it."""

    id: str
    line: str
    department: str
    caller: str
    offered_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    agent_id: str | None
    disposition: str
    reason: str
    hangup_cause: int | None
    recording: str | None
    message: str | None
    route: str
    reconciled: bool


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def view(record: CallRecord, reveal_caller: bool = False) -> CallView:
    return CallView(
        id=record.id, line=record.line, department=record.department,
        caller=record.caller if reveal_caller else mask_phone(record.caller),
        offered_at=_aware(record.offered_at) or record.offered_at,
        answered_at=_aware(record.answered_at), ended_at=_aware(record.ended_at),
        agent_id=record.agent_id, disposition=record.disposition, reason=record.reason,
        hangup_cause=record.hangup_cause, recording=record.recording,
        message=record.message, route=record.route,
        reconciled=record.reconciled,
    )


class CallLog:
    """Writes and reads call records. Synchronous: async callers run it in a thread.

    Inside :meth:`run_batch` the operations share one session and a batch-local map of the
    batch's records (call id → record, or None for a call with no record yet): the records
    named by the batch are loaded by one ``SELECT … WHERE id IN (…)`` per
    :data:`LOAD_CHUNK` ids, a record ``offered`` adds goes into the map, and nothing is
    flushed before the commit, so a batch costs one SELECT, one INSERT and one UPDATE
    (each an executemany; every changed record sets the same columns) instead of a SELECT
    and a flush per operation. Outside a batch every operation is a transaction of its
    own, as before.
    """

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory
        self._batch = threading.local()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """The open batch's session on this thread, or a transaction of its own."""
        current: Session | None = getattr(self._batch, "session", None)
        if current is not None:
            yield current
            return
        with self._sessions.begin() as s:
            yield s

    def _record(self, s: Session, call_id: str) -> CallRecord | None:
        """The call's record: from the open batch's map, else from the database."""
        records: dict[str, CallRecord | None] | None = getattr(self._batch, "records", None)
        if records is None:
            return s.get(CallRecord, call_id)
        if call_id not in records:
            # A call the batch did not name: every record this batch added is in the map,
            # so the database (autoflush off) still answers right.
            records[call_id] = s.get(CallRecord, call_id)
        return records[call_id]

    def _added(self, s: Session, record: CallRecord) -> None:
        s.add(record)
        records: dict[str, CallRecord | None] | None = getattr(self._batch, "records", None)
        if records is not None:
            records[record.id] = record

    def run_batch(self, ops: Sequence[Callable[[], Any]],
                  ids: Iterable[str] = ()) -> list[Any]:
        """Run several operations in one transaction (one commit); if that fails, each on
        its own so one bad operation cannot take the others down. Returns their results
        (an exception object for an operation that failed). ``ids``: the call ids the
        operations touch, loaded in one statement up front (an id left out costs a SELECT
        of its own when its operation runs).

        A transient database error (:func:`is_transient`) is raised instead: nothing of the
        batch is lost, the caller runs it again later (every operation is idempotent:
        applying it twice leaves the record as applying it once)."""
        try:
            with self._sessions.begin() as s:
                s.autoflush = False          # one flush, at the commit
                self._batch.session = s
                try:
                    self._batch.records = _load(s, ids)
                    results = [op() for op in ops]
                    _one_update_shape(s)
                finally:
                    self._batch.session = None
                    self._batch.records = None
            return results
        except Exception as exc:
            if is_transient(exc):
                raise
        out: list[Any] = []
        for op in ops:
            try:
                out.append(op())
            except Exception as exc:  # reported to the caller of that operation
                if is_transient(exc):
                    raise
                out.append(exc)
        return out

    def offered(self, call_id: str, *, line: str, caller: str, at: datetime,
                department: str = "", linkedid: str = "", recording: str | None = None,
                route: Route = Route.CORE) -> None:
        with self._tx() as s:
            if self._record(s, call_id) is not None:
                return  # a retried AGI request must not duplicate the call
            # Every column set here (defaults too): a read in the same batch sees the
            # record as stored, and all INSERTs of a batch share one statement.
            self._added(s, CallRecord(id=call_id, linkedid=linkedid or call_id, line=line,
                                      department=clip(department, "department"),
                                      caller=caller, offered_at=at, recording=recording,
                                      route=route.value, reason="", reconciled=False,
                                      disposition=Disposition.OFFERED.value))

    def answered(self, call_id: str, agent_id: str, at: datetime) -> None:
        with self._tx() as s:
            rec = self._record(s, call_id)
            if rec is None or rec.answered_at is not None:
                return
            rec.answered_at = at
            rec.agent_id = agent_id
            rec.disposition = Disposition.ANSWERED.value

    def closed(self, call_id: str, disposition: Disposition, reason: str, at: datetime) -> None:
        """End a call that the platform itself ended (restriction, failure)."""
        with self._tx() as s:
            rec = self._record(s, call_id)
            if rec is None:
                return
            rec.disposition = disposition.value
            rec.reason = clip(reason, "reason")
            rec.ended_at = rec.ended_at or at

    def voice_message(self, call_id: str, message: str) -> None:
        with self._tx() as s:
            rec = self._record(s, call_id)
            if rec is not None:
                rec.disposition = Disposition.VOICE_MESSAGE.value
                rec.reason = "no agent logged in for the line: voice message"
                rec.message = message

    def callback_requested(self, call_id: str) -> None:
        with self._tx() as s:
            rec = self._record(s, call_id)
            if rec is not None:
                rec.disposition = Disposition.CALLBACK.value
                rec.reason = "callback requested (virtual hold)"

    def callback_connected(self, call_id: str, agent_id: str, at: datetime) -> None:
        with self._tx() as s:
            rec = self._record(s, call_id)
            if rec is not None:
                rec.answered_at, rec.agent_id = at, agent_id
                rec.disposition = Disposition.ANSWERED.value
                rec.route = Route.CALLBACK.value
                rec.ended_at = None

    def ended(self, call_id: str, at: datetime, cause: int | None = None) -> None:
        with self._tx() as s:
            rec = self._record(s, call_id)
            if rec is None or rec.ended_at is not None:
                return
            rec.ended_at = at
            rec.hangup_cause = cause
            if rec.disposition == Disposition.OFFERED.value:
                rec.disposition = Disposition.ABANDONED.value

    def get(self, call_id: str) -> CallRecord | None:
        current: Session | None = getattr(self._batch, "session", None)
        if current is not None:
            return self._record(current, call_id)
        with self._sessions() as s:
            return s.get(CallRecord, call_id)

    def known_ids(self, ids: list[str]) -> set[str]:
        with self._sessions() as s:
            rows = s.scalars(select(CallRecord.id).where(CallRecord.id.in_(ids)))
            return set(rows)

    def page(self, *, line: str | None = None, disposition: str | None = None,
             limit: int = 100, offset: int = 0) -> list[CallRecord]:
        with self._sessions() as s:
            q = select(CallRecord).order_by(CallRecord.offered_at.desc(), CallRecord.id)
            if line:
                q = q.where(CallRecord.line == line)
            if disposition:
                q = q.where(CallRecord.disposition == disposition)
            return list(s.scalars(q.limit(limit).offset(offset)))

    def cdr_offset(self, cdr_file: str) -> int:
        """How far reconciliation has read ``cdr_file`` (0 before the first batch)."""
        with self._sessions() as s:
            state = s.get(ReconcileState, cdr_file)
            return state.offset if state is not None else 0

    def reconcile_batch(self, cdr_file: str, offset: int, new_offset: int,
                        batch: Sequence[tuple[CallRecord, str]],
                        rejected: Sequence[tuple[str, str]], at: datetime) -> tuple[int, int]:
        """Merge one batch of CDR records and move the file's offset to ``new_offset``;
        returns (records changed, rows quarantined).

        ``batch`` holds each record with the CDR text it came from; ``rejected`` CDR text
        that could not be read, with the reason. A record too long for its columns, or one
        the database refuses, is quarantined (:class:`QuarantinedCdrRow`) with the reason and
        the offset moves on anyway: one bad row never stops reconciliation. A transient
        database error is raised with nothing written; the batch is read again later.
        """
        quarantine = list(rejected)
        good: list[tuple[CallRecord, str]] = []
        for record, text in batch:
            reason = too_long(record)
            if reason is None:
                good.append((record, text))
            else:
                quarantine.append((text, reason))
        try:
            with self._sessions.begin() as s:
                changed = _merge(s, [r for r, _ in good])
                _finish_batch(s, cdr_file, offset, new_offset, quarantine, at)
            return changed, len(quarantine)
        except Exception as exc:
            if is_transient(exc):
                raise
        # One record the database refused: each alone, the refused ones quarantined.
        changed = 0
        for record, text in good:
            try:
                with self._sessions.begin() as s:
                    one = _merge(s, [_copy(record)])
                changed += one                      # counted once committed
            except Exception as exc:
                if is_transient(exc):
                    raise
                quarantine.append((text, f"refused by the database: {exc.__class__.__name__}: "
                                         f"{str(exc).splitlines()[0] if str(exc) else ''}"))
        try:
            with self._sessions.begin() as s:
                _finish_batch(s, cdr_file, offset, new_offset, quarantine, at)
        except Exception as exc:
            if is_transient(exc):
                raise
            # Not even the quarantine takes the text: keep the reasons, move on regardless.
            with self._sessions.begin() as s:
                _finish_batch(s, cdr_file, offset, new_offset,
                              [(f"(row not storable: {len(text)} characters)", reason)
                               for text, reason in quarantine], at)
        return changed, len(quarantine)

    def quarantined(self) -> list[QuarantinedCdrRow]:
        with self._sessions() as s:
            return list(s.scalars(select(QuarantinedCdrRow).order_by(QuarantinedCdrRow.id)))


LOAD_CHUNK = 500      # ids per SELECT: well under SQLite's bound parameter limit
# Every column an operation of the writer changes on an existing record.
_CHANGED_BY_OPS = ("answered_at", "agent_id", "disposition", "reason", "ended_at",
                   "hangup_cause", "message", "route")


def _one_update_shape(s: Session) -> None:
    """Let every changed record of the batch set the same columns: the flush groups UPDATEs
    by the columns they set (in primary-key order), so ``ended`` on an answered call beside
    ``ended`` on an abandoned one would otherwise cost a statement per switch."""
    for obj in s.dirty:
        if isinstance(obj, CallRecord):
            for name in _CHANGED_BY_OPS:
                flag_modified(obj, name)


def _load(s: Session, ids: Iterable[str]) -> dict[str, CallRecord | None]:
    """The records of ``ids`` (None where a call has none yet), one SELECT per chunk."""
    wanted = list(dict.fromkeys(ids))
    records: dict[str, CallRecord | None] = dict.fromkeys(wanted)
    for i in range(0, len(wanted), LOAD_CHUNK):
        chunk = wanted[i:i + LOAD_CHUNK]
        for rec in s.scalars(select(CallRecord).where(CallRecord.id.in_(chunk))):
            records[rec.id] = rec
    return records


def _copy(record: CallRecord) -> CallRecord:
    """A fresh instance (one a failed session touched cannot be added again)."""
    return CallRecord(**{c.key: getattr(record, c.key) for c in CallRecord.__table__.columns})


def _finish_batch(s: Session, cdr_file: str, offset: int, new_offset: int,
                  quarantine: Sequence[tuple[str, str]], at: datetime) -> None:
    for text, reason in quarantine:
        # PostgreSQL text cannot hold NUL: shown escaped, as in the reason.
        s.add(QuarantinedCdrRow(cdr_file=cdr_file[:300], offset=offset,
                                row=text.replace("\x00", "\\x00"),
                                reason=reason.replace("\x00", "\\x00")[:300],
                                quarantined_at=at))
    state = s.get(ReconcileState, cdr_file)
    if state is None:
        s.add(ReconcileState(cdr_file=cdr_file, offset=new_offset))
    else:
        state.offset = new_offset


def _merge(s: Session, records: Sequence[CallRecord]) -> int:
    changed = 0
    for new in records:
        old = s.get(CallRecord, new.id)
        if old is None:
            new.reconciled = True
            s.add(new)
            changed += 1
            continue
        if old.ended_at is None and new.ended_at is not None:
            old.ended_at = new.ended_at
            if old.answered_at is None and new.answered_at is not None:
                old.answered_at, old.agent_id = new.answered_at, new.agent_id
            if old.disposition == Disposition.OFFERED.value:
                old.disposition = new.disposition
            old.reconciled = True
            changed += 1
        elif old.answered_at is None and new.answered_at is not None:
            # The core saw the hang-up but not the answer (a conversation app_queue
            # connected while the core or Redis was away): the CDR names the agent.
            old.answered_at, old.agent_id = new.answered_at, new.agent_id
            old.disposition = Disposition.ANSWERED.value
            old.reconciled = True
            changed += 1
        # The CDR knows when app_queue delivered the call, even if the core saw
        # the hang-up itself.
        if new.route == Route.FALLBACK.value and old.route != new.route:
            old.route = new.route
            changed += 1
    return changed
