"""OpenAPI 3.1 document of the hotline's HTTP API, served at ``/api/openapi.json``.

Paths come from the application's own router at request time, so a route that exists
is always listed; the summaries and bodies below describe the work-order routes.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

Body = dict[str, Any]


def _obj(required: list[str], **props: str | Body) -> Body:
    return {"type": "object", "required": required, "properties": {
        k: ({"type": v} if isinstance(v, str) else v) for k, v in props.items()}}


DT = {"type": "string", "format": "date-time"}
INTAKE = _obj(
    ["channel", "category", "description"],
    channel={"type": "string", "enum": ["phone", "web", "api", "sms", "wechat", "app",
                                        "station"]},
    category={"type": "string", "enum": ["consult", "help", "complaint", "report",
                                         "suggestion", "other"]},
    description="string", caller_number="string", caller_name="string", line="string",
    address="string", locality="string", matter="string", confidential="boolean",
    emergency="boolean", priority="integer", leader_instruction="boolean",
    call_record_id="string", recording="string", new_information="boolean",
    publish_consent={"type": "boolean", "description": "the citizen agreed that the demand "
                     "is published on Open311 (without identity); default false"},
    kb_entry_id="integer",
    not_accepted=_obj(["reason"], reason={"type": "string", "enum": [
        "outside_jurisdiction", "legal_procedure", "petition", "secrets_or_privacy",
        "military", "civil_dispute", "illegal_or_malicious", "emergency"]}, note="string"),
)

# (method, path) -> (tag, summary, request body schema or None, content type)
DOCS: dict[tuple[str, str], tuple[str, str, Body | None]] = {
    ("POST", "/api/workorders"): ("work orders", "Create a work order (受理), record a "
                                  "not-accepted demand, answer from the knowledge base, or "
                                  "link a duplicate (200 + duplicate_of)", INTAKE),
    ("GET", "/api/workorders"): ("work orders", "List orders (masked numbers; a unit sees "
                                 "only its own). Query: status, unit, limit, offset", None),
    ("GET", "/api/workorders/{order_id}"): ("work orders", "One order's detail", None),
    ("GET", "/api/workorders/{order_id}/events"): ("work orders", "The append-only events",
                                                   None),
    ("POST", "/api/workorders/{order_id}/dispatch"): (
        "dispatch", "Dispatch (派单): by the responsibility list, or to named units with a "
        "reason; may go to leader approval first",
        _obj([], lead="string", assists={"type": "array", "items": {"type": "string"}},
             reason="string")),
    ("POST", "/api/workorders/{order_id}/approval-request"): (
        "dispatch", "Ask for a leader's instruction", _obj(["kind", "reason"], kind="string",
                                                           reason="string")),
    ("POST", "/api/workorders/{order_id}/approval"): (
        "dispatch", "Record the leader's instruction (领导批示)",
        _obj(["leader", "instruction"], leader="string", instruction="string")),
    ("POST", "/api/workorders/{order_id}/sign-off"): ("unit", "Sign off (签收)", None),
    ("POST", "/api/workorders/{order_id}/return"): (
        "unit", "Return (退单) with reason", _obj([], reason="string", suggested_unit="string")),
    ("POST", "/api/workorders/{order_id}/extension"): (
        "unit", "Ask for an extension (延期)",
        _obj(["new_due_at"], new_due_at=DT, reason="string", signed_by="string")),
    ("POST", "/api/workorders/{order_id}/extension/decision"): (
        "dispatch", "Approve or refuse a pending extension",
        _obj(["approve"], approve="boolean", note="string")),
    ("POST", "/api/workorders/{order_id}/citizen-notice"): (
        "callback", "Record what the citizen was told (e.g. the new deadline)",
        _obj(["about", "message"], about="string", message="string", channel="string")),
    ("POST", "/api/workorders/{order_id}/ledger"): (
        "supervision", "Put on / take off the ledger (挂账/销账)",
        _obj(["criteria"], open="boolean", criteria="string")),
    ("POST", "/api/workorders/{order_id}/grade"): (
        "supervision", "Grade A or B (C/D are derived)", _obj(["grade"], grade="string")),
    ("POST", "/api/workorders/{order_id}/reply"): (
        "unit", "Reply (回复): checked against the preset's reply rules; 422 lists problems",
        _obj(["parts"], parts={"type": "object", "additionalProperties": {"type": "string"},
                               "description": "response, unit, time, method, coordination, "
                               "advice, result, explanation, reason, progress, next_steps, "
                               "signer, handler"},
             resolved="boolean", citizen_replied_at=DT)),
    ("POST", "/api/workorders/{order_id}/evaluation"): (
        "callback", "Five-level evaluation from the callback (回访评价)",
        _obj(["level"], level={"type": "string", "enum": [
            "very_satisfied", "satisfied", "basically_satisfied", "unsatisfied",
            "very_unsatisfied"]}, comment="string")),
    ("POST", "/api/workorders/{order_id}/review"): (
        "supervision", "Review an unsatisfied order: redo (once) or close",
        _obj(["decision", "reason"], decision={"type": "string", "enum": ["redo", "close"]},
             reason="string", citizen_asked="boolean")),
    ("POST", "/api/workorders/{order_id}/review-form"): (
        "unit", "File the signed review form after a second unsatisfied evaluation",
        _obj(["signer", "text"], signer="string", text="string")),
    ("POST", "/api/workorders/{order_id}/review-conclusion"): (
        "supervision", "Platform / social review conclusion",
        _obj(["outcome", "reason"], outcome={"type": "string", "enum": [
            "closed", "unreasonable", "must_fix"]}, reason="string", panel="string")),
    ("POST", "/api/supervision/run"): ("supervision", "Remind overdue units' A/B liaisons; "
                                       "start special supervision", None),
    ("GET", "/api/supervision/lights"): ("supervision", "Lights of open orders", None),
    ("POST", "/api/dispatch/units"): ("dispatch data", "Import units CSV (text/csv)", None),
    ("POST", "/api/dispatch/responsibility-list"): (
        "dispatch data", "Replace the responsibility list from CSV (text/csv)", None),
    ("POST", "/api/dispatch/gazetteer"): ("dispatch data", "Replace the gazetteer from CSV",
                                          None),
    ("GET", "/api/dispatch/route"): ("dispatch data", "Preview routing: matter, locality, "
                                     "address", None),
    ("GET", "/api/kb/search"): ("knowledge base", "Fuzzy search (q, limit); public without "
                                "a token", None),
    ("POST", "/api/kb/entries"): ("knowledge base", "Add an entry", _obj(
        ["question", "answer"], question="string", answer="string", keywords="string",
        public="boolean", unit="string")),
    ("PUT", "/api/kb/entries/{entry_id}"): ("knowledge base", "Update an entry", _obj(
        ["question", "answer"], question="string", answer="string", keywords="string",
        public="boolean")),
    ("POST", "/api/kb/import"): ("knowledge base", "Import entries CSV", None),
    ("POST", "/api/kb/synonyms"): ("knowledge base", "Replace synonyms from CSV", None),
    ("GET", "/api/metrics/units"): ("metrics", "Rates and score per unit (period=week|month, "
                                    "start)", None),
    ("GET", "/api/metrics/units.csv"): ("metrics", "The same as CSV", None),
    ("GET", "/api/metrics/units.png"): ("metrics", "The same as a PNG chart", None),
    ("GET", "/api/metrics/hot-topics"): ("metrics", "Hot topics (start, days, top)", None),
    ("GET", "/open311/v2/services.json"): ("open311", "GeoReport v2 services", None),
    ("GET", "/open311/v2/requests.json"): ("open311", "GeoReport v2 requests", None),
    ("POST", "/open311/v2/requests.json"): ("open311", "GeoReport v2 create (form: api_key, "
                                            "service_code, description, ...)", None),
    ("GET", "/open311/v2/requests/{request_id}.json"): ("open311", "One request", None),
    ("GET", "/api/openapi.json"): ("meta", "This document", None),
}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def _from_handler(handler: Any) -> tuple[str, str, dict[str, Any] | None]:
    """Routes not in DOCS are described by their handler: tag from the module
    (``web.calls_api`` → ``calls``), summary from the first line of the docstring."""
    module = getattr(handler, "__module__", "") or ""
    tag = module.rsplit(".", 1)[-1].removesuffix("_api") or "other"
    doc = (getattr(handler, "__doc__", None) or "").strip().splitlines()
    return tag, doc[0].rstrip(".") if doc else "", None


def document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        tag, summary, body = DOCS.get((route.method, path)) or _from_handler(route.handler)
        op: dict[str, Any] = {
            "tags": [tag], "summary": summary,
            "responses": {
                "200": {"description": "OK"},
                "4XX": {"description": "Error with a reason",
                        "content": {"application/json": {"schema": ERROR}}},
            },
        }
        params = re.findall(r"{(\w+)}", path)
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True,
                                 "schema": {"type": "string"}} for p in params]
        if body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": body}}}
        elif route.method in ("POST", "PUT") and "csv" not in summary.lower():
            op.setdefault("requestBody", {"required": False, "content": {
                "application/json": {"schema": {"type": "object"}}}})
        if path.startswith("/api/") and path not in ("/api/health", "/api/openapi.json"):
            op["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "12345 hotline API", "version": "1",
                 "description": "Work orders (工单), dispatch, supervision, knowledge base, "
                 "metrics, Open311. Auth: Authorization: Bearer <token> (token → role, unit "
                 "from the access config)."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": dict(sorted(paths.items())),
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))


def register(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
