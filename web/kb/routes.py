"""HTTP API of the knowledge base (知识库): public search, departments' own entries.

Search: without a token, public entries only; a unit's token, public entries and the
unit's own; a staff token (operator, dispatcher, supervisor, callback), every entry.
Editing: dispatchers and supervisors publish directly; a unit keeps its own entries, but
one it wants public (and every later edit of it) stays private, ``review_pending``, until
a supervisor approves it with ``POST /api/kb/entries/{id}/review``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core.access import Principal, Role
from hotline_core.workorders import knowledge
from hotline_core.workorders.model import KnowledgeEntry
from hotline_core.workorders.queries import check_entry_edit
from hotline_core.workorders.synonyms_csv import import_synonyms
from web.api import CsvText, Routes, read_body, read_query, reply
from web.db import in_transaction
from web.errors import json_error
from web.kb.schemas import (
    EntryBody,
    EntryOut,
    HitOut,
    ImportedOut,
    ReviewBody,
    SearchOut,
    SearchQuery,
)
from web.keys import DESK_MISSING, WORKORDERS, need
from web.requests import ascii_id, optional_principal, principal, read_csv

STAFF = (Role.DISPATCHER, Role.SUPERVISOR)  # who edits any entry and publishes directly
routes = Routes(tag="knowledge base")


def _entry(e: KnowledgeEntry) -> EntryOut:
    return EntryOut(id=e.id, unit=e.unit_code, question=e.question, answer=e.answer,
                    keywords=e.keywords, public=e.public, review_pending=e.review_pending,
                    updated_at=e.updated_at.isoformat())


@routes.get("/api/kb/search", query=SearchQuery, response=SearchOut)
async def search(request: web.Request) -> web.Response:
    """Fuzzy search (q, limit): public entries without a token (方便群众自主查询); staff
    see all."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = optional_principal(request, svc.access)   # a token or a signed-in person
    query = read_query(request, SearchQuery)
    q = query.q.strip()
    unit_only = who is not None and who.role is Role.UNIT

    def work(session: Session) -> SearchOut:
        hits = knowledge.search(session, q, limit=query.limit,
                                public_only=who is None or unit_only,
                                own_unit=who.unit if who is not None and unit_only else None)
        return SearchOut(query=q, results=[
            HitOut(**_entry(h.entry).model_dump(), matched_words=h.matched, score=h.score)
            for h in hits])

    return reply(await in_transaction(request, work))


def _unit_for(who: Principal, body: EntryBody) -> str | None:
    if who.role is Role.UNIT:
        return who.unit  # a department keeps its own entries only
    if who.role in STAFF:
        return body.unit or None
    raise json_error(403, f"{who.role.value} may not edit the knowledge base")


def _entry_id(request: web.Request) -> int:
    raw = request.match_info["entry_id"]
    entry_id = ascii_id(raw)   # ASCII digits only
    if entry_id is None:
        raise json_error(404, f"knowledge-base entry {raw!r} does not exist")
    return entry_id


async def _save(request: web.Request, *, existing_entry: bool) -> web.Response:
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    body = await read_body(request, EntryBody)
    unit = _unit_for(who, body)
    entry_id = _entry_id(request) if existing_entry else None

    def work(session: Session) -> EntryOut:
        check_entry_edit(session, who, unit, entry_id)
        entry = knowledge.save_entry(session, unit=unit, question=body.question,
                                     answer=body.answer, keywords=body.keywords,
                                     public=body.public, now=svc.desk.now(),
                                     entry_id=entry_id, reviewed=who.role is not Role.UNIT)
        return _entry(entry)

    out = await in_transaction(request, work)
    return reply(out, status=201 if entry_id is None else 200)


@routes.post("/api/kb/entries", body=EntryBody, response=EntryOut, status=201)
async def add_entry(request: web.Request) -> web.Response:
    """Add an entry."""
    return await _save(request, existing_entry=False)


@routes.put("/api/kb/entries/{entry_id}", body=EntryBody, response=EntryOut)
async def update_entry(request: web.Request) -> web.Response:
    """Update an entry."""
    return await _save(request, existing_entry=True)


@routes.post("/api/kb/entries/{entry_id}/review", body=ReviewBody, response=EntryOut)
async def review(request: web.Request) -> web.Response:
    """A supervisor approves (public) or refuses (stays private) a unit's entry."""
    svc = need(request, WORKORDERS, DESK_MISSING)
    who = principal(request, svc.access)
    if who.role is not Role.SUPERVISOR:
        raise json_error(403, f"{who.role.value} may not review knowledge-base entries; "
                         "allowed: supervisor")
    entry_id = _entry_id(request)
    body = await read_body(request, ReviewBody)

    def work(session: Session) -> EntryOut:
        try:
            entry = knowledge.decide_review(session, entry_id, body.approve, svc.desk.now())
        except KeyError:
            raise json_error(404, f"knowledge-base entry {entry_id} does not exist") from None
        return _entry(entry)

    return reply(await in_transaction(request, work))


def _staff_csv_upload(path: str, kind: str, summary: str,
                      importer: Callable[[Session, str, datetime], int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        svc = need(request, WORKORDERS, DESK_MISSING)
        who = principal(request, svc.access)
        if who.role not in STAFF:
            raise json_error(403, f"{who.role.value} may not import {kind}")
        content = await read_csv(request)
        now = svc.desk.now()
        count = await in_transaction(request, lambda s: importer(s, content, now))
        return reply(ImportedOut(imported=count))

    routes.add("POST", path, handler, body=CsvText, body_media_type="text/csv",
               response=ImportedOut, summary=summary)


_staff_csv_upload("/api/kb/import", "entries", "Import entries CSV (text/csv)",
                  knowledge.import_entries)
_staff_csv_upload("/api/kb/synonyms", "synonyms", "Replace synonyms from CSV (text/csv)",
                  lambda s, content, _now: import_synonyms(s, content))

register = routes.register
