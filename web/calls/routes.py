"""Call records over HTTP: ``GET /api/calls``, ``GET /api/calls/{id}`` and its recording.

Caller numbers are masked unless the caller's role must call citizens back.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline_core.access import Principal, Role
from hotline_core.call_queries import calls_saying, transcripts_for
from hotline_core.call_records import CallRecord, view
from hotline_core.recording_names import confined
from web.api import Routes, read_query, reply
from web.calls.schemas import CallList, CallOut, CallQuery, Recording, TranscriptOut
from web.calls.services import CALLS, CallServices
from web.errors import json_error
from web.keys import need
from web.requests import principal

# Quality checkers (质检) read calls and listen to recordings; numbers stay masked for them.
READERS = {Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK, Role.QUALITY}
routes = Routes(tag="calls")


def _reader(request: web.Request) -> tuple[CallServices, Principal]:
    svc = need(request, CALLS, "call records are not configured in this process")
    who = principal(request, svc.access)
    if who.role not in READERS:
        raise json_error(403, f"role {who.role.value} may not read call records")
    return svc, who


def _out(svc: CallServices, who: Principal, record: CallRecord) -> CallOut:
    data = dataclasses.asdict(view(record, reveal_caller=svc.access.sees_full_number(who)))
    return CallOut.model_validate({k: _json(v) for k, v in data.items()})


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@routes.get("/api/calls", query=CallQuery, response=CallList)
async def list_calls(request: web.Request) -> web.Response:
    """Call records, newest first (filters: line, disposition, q = transcript text)."""
    svc, who = _reader(request)
    q = read_query(request, CallQuery)
    text = q.q.strip()
    if text:
        if svc.sessions is None:
            raise json_error(503, "transcripts are not available in this process")
        rows = await asyncio.to_thread(calls_saying, svc.sessions, svc.log, text, q.limit)
    else:
        rows = await asyncio.to_thread(
            svc.log.page, line=q.line,
            disposition=q.disposition.value if q.disposition else None,
            limit=q.limit, offset=q.offset)
    return reply(CallList(calls=[_out(svc, who, r) for r in rows]))


@routes.get("/api/calls/{call_id}", response=CallOut)
async def get_call(request: web.Request) -> web.Response:
    """One call record, with its transcripts."""
    svc, who = _reader(request)
    record = await asyncio.to_thread(svc.log.get, request.match_info["call_id"])
    if record is None:
        raise json_error(404, "no such call")
    out = _out(svc, who, record)
    out.transcripts = ([] if svc.sessions is None else [
        TranscriptOut.model_validate(dataclasses.asdict(t))
        for t in await asyncio.to_thread(transcripts_for, svc.sessions, record.id)])
    return reply(out)


@routes.get("/api/calls/{call_id}/recording", response=Recording, media_type="audio/wav")
async def get_recording(request: web.Request) -> web.StreamResponse:
    """The call's recording (WAV)."""
    svc, _who = _reader(request)
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


register = routes.register
