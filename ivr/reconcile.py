"""Reconcile call records from Asterisk's CDR file (``cdr_custom``, hotline-cdr.csv).

Asterisk writes a CDR row for every call whether or not the core was alive. Calls the
core never saw (it was down: the dialplan used the fallback queue) are added; calls it lost
track of (it died mid-call) are completed. The file offset already read is kept in Redis so
each row is read once.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis

from hotline_core.call_records import CallLog, CallRecord, Disposition, Route
from hotline_core.phone_numbers import canonical_number
from ivr.call_events import agent_of

log = logging.getLogger(__name__)

COLUMNS = ("uniqueid", "linkedid", "src", "dst", "dcontext", "channel", "dstchannel",
           "start", "answer", "end", "disposition", "line", "recording", "route")


def _time(value: str) -> datetime | None:
    try:
        epoch = float(value)
    except ValueError:
        return None
    return datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None


def parse_cdr(text: str) -> list[CallRecord]:
    """CDR rows → one call record per inbound call (rows grouped by uniqueid)."""
    calls: dict[str, list[dict[str, str]]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) != len(COLUMNS):
            log.warning("skipping CDR row with %d fields (expected %d)", len(row), len(COLUMNS))
            continue
        rec = dict(zip(COLUMNS, row, strict=True))
        if rec["line"]:
            calls.setdefault(rec["uniqueid"], []).append(rec)
    return [_record(uid, rows) for uid, rows in calls.items() if _time(rows[0]["start"])]


def _record(uid: str, rows: list[dict[str, str]]) -> CallRecord:
    answered = [r for r in rows if r["disposition"] == "ANSWERED" and agent_of(r["dstchannel"])]
    first = rows[0]
    starts = [t for r in rows if (t := _time(r["start"]))]
    ends = [t for r in rows if (t := _time(r["end"]))]
    route = Route.FALLBACK if any(r["route"] == "fallback" for r in rows) else Route.CORE
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
    def __init__(self, cdr_file: Path, log_: CallLog, redis: aioredis.Redis,
                 namespace: str = "hotline") -> None:
        self._file = cdr_file
        self._log = log_
        self._redis = redis
        self._key = f"{namespace}:cdr-offset"
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        async with self._lock:
            offset = int(await self._redis.get(self._key) or 0)
            text, new_offset = await asyncio.to_thread(self._read_from, offset)
            if not text:
                return 0
            changed = await asyncio.to_thread(self._log.merge_reconciled, parse_cdr(text))
            await self._redis.set(self._key, new_offset)
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
            data = fh.read()
        # Only whole lines: Asterisk may be writing the last one right now.
        end = data.rfind(b"\n") + 1
        return data[:end].decode("utf-8", errors="replace"), offset + end

    async def run(self, every: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("CDR reconciliation failed; will retry")
            await asyncio.sleep(every)
