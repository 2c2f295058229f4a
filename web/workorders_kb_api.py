"""HTTP API of the knowledge base (知识库): public search, departments' own entries.

Search: without a token, public entries only; a unit's token, public entries and the
unit's own; a staff token (operator, dispatcher, supervisor, callback), every entry.
Editing: dispatchers and supervisors publish directly; a unit keeps its own entries, but
one it wants public (and every later edit of it) stays private, ``review_pending``, until
a supervisor approves it with ``POST /api/kb/entries/{id}/review``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from hotline_core.workorders import knowledge
from hotline_core.access import Principal, Role
from hotline_core.workorders.csv_import import CsvImportError, CsvProblem, csv_records
from hotline_core.workorders.model import KnowledgeEntry, Unit
from web.errors import json_error
from web.workorders_api import in_transaction, services
from web.workorders_requests import ascii_id, flag, json_body, principal, query_int, text

STAFF = (Role.DISPATCHER, Role.SUPERVISOR)  # who edits any entry and publishes directly


def _entry_view(e: KnowledgeEntry) -> dict[str, Any]:
    return {"id": e.id, "unit": e.unit_code, "question": e.question, "answer": e.answer,
            "keywords": e.keywords, "public": e.public, "review_pending": e.review_pending,
            "updated_at": e.updated_at.isoformat()}


async def search(request: web.Request) -> web.Response:
    """Anyone may search public entries (hebei: 方便群众自主查询); staff see all."""
    svc = services(request)
    who = principal(request, svc.access) if "Authorization" in request.headers else None
    q = request.query.get("q", "").strip()
    if not q:
        raise json_error(422, "q: the search words are required", field="q")
    limit = query_int(request, "limit", 10, 1, 50)

    unit_only = who is not None and who.role is Role.UNIT

    def work(session: Session) -> dict[str, Any]:
        hits = knowledge.search(session, q, limit=limit, public_only=who is None or unit_only,
                                own_unit=who.unit if who is not None and unit_only else None)
        return {"query": q, "results": [
            {**_entry_view(h.entry), "matched_words": h.matched, "score": h.score}
            for h in hits]}

    return web.json_response(await in_transaction(request, work))


def _unit_for(who: Principal, body: dict[str, Any]) -> str | None:
    if who.role is Role.UNIT:
        return who.unit  # a department keeps its own entries only
    if who.role in STAFF:
        return text(body, "unit", max_len=64) or None
    raise json_error(403, f"{who.role.value} may not edit the knowledge base")


async def save(request: web.Request) -> web.Response:
    svc = services(request)
    who = principal(request, svc.access)
    body = await json_body(request)
    unit = _unit_for(who, body)
    question = text(body, "question", required=True)
    answer = text(body, "answer", required=True)
    keywords = text(body, "keywords", max_len=500)
    public = flag(body, "public", True)
    raw_id = request.match_info.get("entry_id")
    entry_id = ascii_id(raw_id) if raw_id is not None else None  # ASCII digits only
    if raw_id is not None and entry_id is None:
        raise json_error(404, f"knowledge-base entry {raw_id!r} does not exist")

    def work(session: Session) -> dict[str, Any]:
        if unit is not None and session.get(Unit, unit) is None:
            raise json_error(422, f"unit: {unit!r} does not exist", field="unit")
        if entry_id is not None:
            existing = session.get(KnowledgeEntry, entry_id)
            if existing is None:
                raise json_error(404, f"knowledge-base entry {entry_id} does not exist")
            if who.role is Role.UNIT and existing.unit_code != who.unit:
                raise json_error(403, "a unit may only edit its own entries")
        entry = knowledge.save_entry(session, unit=unit, question=question, answer=answer,
                                     keywords=keywords, public=public, now=svc.desk.now(),
                                     entry_id=entry_id, reviewed=who.role is not Role.UNIT)
        return _entry_view(entry)

    out = await in_transaction(request, work)
    return web.json_response(out, status=201 if entry_id is None else 200)


async def review(request: web.Request) -> web.Response:
    """A supervisor approves (public) or refuses (stays private) a unit's entry."""
    svc = services(request)
    who = principal(request, svc.access)
    if who.role is not Role.SUPERVISOR:
        raise json_error(403, f"{who.role.value} may not review knowledge-base entries; "
                         "allowed: supervisor")
    raw_id = request.match_info["entry_id"]
    entry_id = ascii_id(raw_id)
    if entry_id is None:
        raise json_error(404, f"knowledge-base entry {raw_id!r} does not exist")
    body = await json_body(request)
    if "approve" not in body:
        raise json_error(422, "approve: is required (true or false)", field="approve")
    approve = flag(body, "approve")

    def work(session: Session) -> dict[str, Any]:
        try:
            entry = knowledge.decide_review(session, entry_id, approve, svc.desk.now())
        except KeyError:
            raise json_error(404, f"knowledge-base entry {raw_id} does not exist") from None
        except knowledge.NotPending as exc:
            raise json_error(409, str(exc)) from None
        return _entry_view(entry)

    return web.json_response(await in_transaction(request, work))


def _staff_csv_upload(kind: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        svc = services(request)
        who = principal(request, svc.access)
        if who.role not in STAFF:
            raise json_error(403, f"{who.role.value} may not import {kind}")
        try:
            content = (await request.read()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json_error(400, f"CSV must be UTF-8: {exc}") from None

        def work(session: Session) -> int:
            if kind == "entries":
                return knowledge.import_entries(session, content, svc.desk.now())
            pairs, problems = [], []
            reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
            for row in csv_records(reader, "synonyms CSV", problems):
                word, canonical = (row.get("word") or "").strip(), (
                    row.get("canonical") or "").strip()
                if not word or not canonical:
                    problems.append(CsvProblem(reader.line_num, "word" if not word
                                               else "canonical", "must not be empty"))
                pairs.append((word, canonical))
            if problems:
                raise CsvImportError("synonyms CSV", problems)
            knowledge.set_synonyms(session, pairs)
            return len(pairs)

        return web.json_response({"imported": await in_transaction(request, work)})

    return handler


def register(app: web.Application) -> None:
    app.router.add_get("/api/kb/search", search)
    app.router.add_post("/api/kb/entries", save)
    app.router.add_put("/api/kb/entries/{entry_id}", save)
    app.router.add_post("/api/kb/entries/{entry_id}/review", review)
    app.router.add_post("/api/kb/import", _staff_csv_upload("entries"))
    app.router.add_post("/api/kb/synonyms", _staff_csv_upload("synonyms"))
