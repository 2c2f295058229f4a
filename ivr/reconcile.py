"""Reconcile call records from Asterisk's CDR file (``cdr_custom``, hotline-cdr.csv).

Asterisk writes a CDR row for every call whether or not the core was alive. Calls the
core never saw (it was down: the dialplan used the fallback queue) are added; calls it lost
track of (it died mid-call) are completed. The file offset already read is kept in the
database, committed in the same transaction as the records it produced, so each row is merged
once and reconciliation goes on while Redis is down. A row that cannot be stored (a field
longer than its column, anything else the database refuses) is quarantined in the
``cdr_quarantine`` table with the reason, and the offset moves past it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hotline_core.backoff import Backoff, is_transient
from hotline_core.call_records import CallLog, CallRecord, Disposition, Route
from hotline_core.phone_numbers import canonical_number
from ivr.call_events import agent_of
from ivr.dialplan import ATTEMPT_LEG_PREFIX, CALLBACK_LEG_PREFIX, CDR_COLUMNS, CdrRoute

log = logging.getLogger(__name__)

COLUMNS = tuple(c.name for c in CDR_COLUMNS)   # cdr_custom.conf is rendered from the same
ATTEMPT_LEGS = (ATTEMPT_LEG_PREFIX, CALLBACK_LEG_PREFIX)


def _time(value: str) -> datetime | None:
    try:
        epoch = float(value)
    except ValueError:
        return None
    return datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None


@dataclass
class ParsedCdr:
    """CDR text read: one record per inbound call with the lines it came from, and the
    lines that could not be read, with the reason."""

    records: list[tuple[CallRecord, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def parse_cdr(text: str) -> ParsedCdr:
    """CDR rows → one call record per inbound call (rows grouped by uniqueid)."""
    out = ParsedCdr()
    calls: dict[str, list[tuple[dict[str, str], str]]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rows = list(csv.reader(io.StringIO(line)))
        except csv.Error as exc:
            out.rejected.append((line, f"not CSV: {exc}"))
            continue
        row = rows[0] if len(rows) == 1 else []
        if len(row) != len(COLUMNS):
            out.rejected.append((line, f"{len(row)} fields (expected {len(COLUMNS)})"))
            continue
        rec = dict(zip(COLUMNS, row, strict=True))
        # A dialer attempt's leg is no inbound call: ivr/campaign.py reads those rows.
        if rec["line"] and not rec["uniqueid"].startswith(ATTEMPT_LEGS):
            calls.setdefault(rec["uniqueid"], []).append((rec, line))
    for uid, rows_ in calls.items():
        text_ = "\n".join(line for _, line in rows_)
        if not _time(rows_[0][0]["start"]):
            out.rejected.append((text_, "no start time"))
            continue
        out.records.append((_record(uid, [r for r, _ in rows_]), text_))
    return out


def _record(uid: str, rows: list[dict[str, str]]) -> CallRecord:
    answered = [r for r in rows if r["disposition"] == "ANSWERED" and agent_of(r["dstchannel"])]
    first = rows[0]
    starts = [t for r in rows if (t := _time(r["start"]))]
    ends = [t for r in rows if (t := _time(r["end"]))]
    route = Route.FALLBACK if any(r["route"] == CdrRoute.FALLBACK for r in rows) else Route.CORE
    rec = CallRecord(
        id=uid, linkedid=first["linkedid"], line=first["line"],
        caller=canonical_number(first["src"]),
        department="", offered_at=min(starts), ended_at=max(ends) if ends else None,
        recording=first["recording"] or None, route=route.value, reconciled=True,
        disposition=Disposition.ABANDONED.value, agent_id=None, answered_at=None,
    )
    if answered:
        rec.answered_at = _time(answered[0]["answer"])
        rec.agent_id = agent_of(answered[0]["dstchannel"])
        rec.disposition = Disposition.ANSWERED.value
    return rec


class CdrReconciler:
    def __init__(self, cdr_file: Path, log_: CallLog, max_read: int = 1 << 20) -> None:
        self._file = cdr_file
        self._log = log_
        self._max_read = max_read
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        """Read and merge everything written since the last run; returns records changed."""
        changed = 0
        async with self._lock:
            while True:
                offset = await asyncio.to_thread(self._log.cdr_offset, str(self._file))
                text, new_offset = await asyncio.to_thread(self._read_from, offset)
                if new_offset == offset:
                    break
                parsed = parse_cdr(text)
                batch_changed, quarantined = await asyncio.to_thread(
                    self._log.reconcile_batch, str(self._file), offset, new_offset,
                    parsed.records, parsed.rejected, datetime.now(UTC))
                changed += batch_changed
                if quarantined:   # the reasons are in the table; rows hold phone numbers
                    log.warning("%d CDR row(s) of %s quarantined (table cdr_quarantine)",
                                quarantined, self._file.name)
        if changed:
            log.info("reconciled %d call record(s) from the CDR file", changed)
        return changed

    def _read_from(self, offset: int) -> tuple[str, int]:
        try:
            size = self._file.stat().st_size
        except FileNotFoundError:
            return "", offset
        if size < offset:   # the file was rotated
            offset = 0
        with open(self._file, "rb") as fh:
            fh.seek(offset)
            data = fh.read(self._max_read)
        # Only whole lines: Asterisk may be writing the last one right now.
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) == self._max_read:
            end = len(data)   # one line longer than a whole read: quarantined, not a stall
        return data[:end].decode("utf-8", errors="replace"), offset + end

    async def run(self, every: float) -> None:
        """Every ``every`` seconds; while the database is unreachable, retries back off
        and the outage is logged once."""
        backoff = Backoff(log, "CDR reconciliation", first=every, cap=max(every, 60.0))
        while True:
            try:
                await self.run_once()
                backoff.succeeded()
                delay = every
            except Exception as exc:
                delay = backoff.failed(exc, expected=is_transient(exc))
            await asyncio.sleep(delay)
