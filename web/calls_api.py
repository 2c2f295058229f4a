"""Call records over HTTP: ``GET /api/calls``, ``GET /api/calls/{id}`` and its recording.

Caller numbers are masked unless the caller's role must call citizens back.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallLog, Disposition, view
from hotline_core.recording_names import confined
from hotline_core.transcripts import search_transcripts, transcripts_of_call
from hotline_core.access import AccessPolicy, Principal, Role
from web import keys
from web.errors import json_error
from web.workorders_requests import principal

READERS = {Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK}


@dataclasses.dataclass(frozen=True)
class CallServices:
    log: CallLog
    access: AccessPolicy
    recordings_root: Path   # host path that recording names are relative to
    sessions: sessionmaker[Session] | None = None   # for transcripts


def _services(request: web.Request) -> CallServices:
    svc = request.app[keys.SERVICES].get("calls")
    if not isinstance(svc, CallServices):
        raise json_error(503, "call records are not configured in this process")
    return svc


def _reader(request: web.Request, svc: CallServices) -> Principal:
    who = principal(request, svc.access)
    if who.role not in READERS:
        raise json_error(403, f"role {who.role.value} may not read call records")
    return who


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _as_dict(svc: CallServices, who: Principal, record: Any) -> dict[str, Any]:
    data = dataclasses.asdict(view(record, reveal_caller=svc.access.sees_full_number(who)))
    return {k: _json(v) for k, v in data.items()}


async def list_calls(request: web.Request) -> web.Response:
    """Call records, newest first (filters: line, disposition, q = transcript text)."""
    svc = _services(request)
    who = _reader(request, svc)
    q = request.query
    disposition = q.get("disposition")
    if disposition and disposition not in {d.value for d in Disposition}:
        raise json_error(400, f"disposition: unknown value {disposition!r}")
    try:
        limit = int(q.get("limit", "100"))
        offset = int(q.get("offset", "0"))
    except ValueError:
        raise json_error(400, "limit and offset must be integers") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise json_error(400, "limit must be 1-1000 and offset >= 0")
    text = q.get("q", "").strip()
    if text:
        rows = await asyncio.to_thread(_search, svc, text, limit)
    else:
        rows = await asyncio.to_thread(svc.log.page, line=q.get("line"),
                                       disposition=disposition, limit=limit, offset=offset)
    return web.json_response({"calls": [_as_dict(svc, who, r) for r in rows]})


def _search(svc: CallServices, text: str, limit: int) -> list[Any]:
    """Calls whose transcript contains ``text`` (spaces between words ignored)."""
    if svc.sessions is None:
        raise json_error(503, "transcripts are not available in this process")
    with svc.sessions() as s:
        ids = list(dict.fromkeys(t.call_id for t in search_transcripts(s, text, limit)))
    return [r for r in (svc.log.get(i) for i in ids) if r is not None]


def _transcripts(svc: CallServices, call_id: str) -> list[dict[str, Any]]:
    if svc.sessions is None:
        return []
    with svc.sessions() as s:
        return [{"leg": t.leg, "status": t.status, "text": t.text, "words": t.words,
                 "audio_seconds": t.audio_seconds, "error": t.error}
                for t in transcripts_of_call(s, call_id)]


async def get_call(request: web.Request) -> web.Response:
    """One call record."""
    svc = _services(request)
    who = _reader(request, svc)
    record = await asyncio.to_thread(svc.log.get, request.match_info["call_id"])
    if record is None:
        raise json_error(404, "no such call")
    data = _as_dict(svc, who, record)
    data["transcripts"] = await asyncio.to_thread(_transcripts, svc, record.id)
    return web.json_response(data)


async def get_recording(request: web.Request) -> web.StreamResponse:
    """The call's recording (WAV)."""
    svc = _services(request)
    _reader(request, svc)
    record = await asyncio.to_thread(svc.log.get, request.match_info["call_id"])
    if record is None or not record.recording:
        raise json_error(404, "no recording for this call")
    try:
        path = confined(svc.recordings_root, record.recording)
    except ValueError:
        raise json_error(404, "recording file is missing") from None
    if not path.is_file():
        raise json_error(404, "recording file is missing")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


def register(app: web.Application) -> None:
    app.router.add_get("/api/calls", list_calls)
    app.router.add_get("/api/calls/{call_id}", get_call)
    app.router.add_get("/api/calls/{call_id}/recording", get_recording)
