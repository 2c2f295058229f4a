"""The OpenAPI 3.1 document, built from the application's own routes and the operations
their packages declared (:class:`web.api.Operation`): every request body, query and
answer schema is generated from the pydantic model that also validates or builds it.

A route registered without a declaration is still listed (tag ``undeclared``, no
schema), so that ``tests/web/test_openapi_complete.py`` names it.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from web.api import OPERATIONS, NoBody, Operation

REF = "#/components/schemas/{model}"
PUBLIC = ("/api/health", "/api/openapi.json")


def model_schema(model: type[BaseModel], mode: Literal["validation", "serialization"],
                 components: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON Schema, its nested models moved to ``components``."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    components.update(schema.pop("$defs", {}))
    return schema


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"tags": [op.tag], "summary": op.summary, "responses": {}}
    answer = model_schema(op.response, "serialization", components)
    for status in op.status:
        out["responses"][str(status)] = {
            "description": _phrase(status), "content": {op.media_type: {"schema": answer}}}
    out["responses"]["4XX"] = {"description": "Refused, with a reason", "content": {
        "application/json": {"schema": model_schema(op.error, "serialization", components)}}}
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in re.findall(r"{(\w+)}", op.path)]
    if op.query is not None:
        query = model_schema(op.query, "validation", components)
        required = set(query.get("required", []))
        params += [{"name": name, "in": "query", "required": name in required,
                    "schema": prop} for name, prop in query.get("properties", {}).items()]
    if params:
        out["parameters"] = params
    if op.body is not None and not isinstance(op.body, NoBody):
        out["requestBody"] = {"required": True, "content": {
            op.body_media_type: {"schema": model_schema(op.body, "validation", components)}}}
    if op.path.startswith("/api/") and op.path not in PUBLIC:
        out["security"] = [{"bearer": []}]
    return out


def document(app: web.Application) -> dict[str, Any]:
    declared = app.get(OPERATIONS, {})
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        op = declared.get(route)
        paths.setdefault(path, {})[route.method.lower()] = (
            operation(op, components) if op is not None else
            {"tags": ["undeclared"], "summary": "", "responses": {
                "default": {"description": "not declared with web.api.Routes"}}})
    return {
        "openapi": "3.1.0",
        "info": {"title": "12345 hotline API", "version": "1",
                 "description": "Work orders (工单), dispatch, supervision, knowledge base, "
                 "metrics, Open311. Auth: Authorization: Bearer <token> (token → role, unit "
                 "from the access config)."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": dict(sorted(components.items()))},
        "paths": dict(sorted(paths.items())),
    }
