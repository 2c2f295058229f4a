"""Every route of the composed API is declared with its models, and /api/openapi.json shows
the schemas those models generate: an answer schema for every status it declares, and a
request-body schema for every POST/PUT/PATCH that takes a body (``NO_BODY`` says it takes
none). A route added with ``app.router.add_*`` instead of ``web.api.Routes`` fails here."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from web.api import NO_BODY, OPERATIONS, ErrorOut, NoBody, Out, Routes
from web.app import create_app
from web.openapi.document import model_schema
from web.routes import ROUTE_MODULES

BODY_METHODS = ("POST", "PUT", "PATCH")


def _path(route: web.AbstractRoute) -> str | None:
    info = route.resource.get_info() if route.resource else {}
    return info.get("path") or info.get("formatter")


def problems(app: web.Application, doc: dict[str, Any]) -> list[str]:
    """What is missing, per route, between the app's routes, their declarations and the
    document; an empty list when every route is complete."""
    found: list[str] = []
    declared = app.get(OPERATIONS, {})
    components: dict[str, Any] = {}
    for route in app.router.routes():
        path = _path(route)
        if path is None or route.method == "HEAD":
            continue
        name = f"{route.method} {path}"
        op = declared.get(route)
        if op is None:
            found.append(f"{name}: not declared with web.api.Routes")
            continue
        entry = doc["paths"].get(path, {}).get(route.method.lower())
        if entry is None:
            found.append(f"{name}: not in the document")
            continue
        if not (isinstance(op.response, type) and issubclass(op.response, BaseModel)):
            found.append(f"{name}: answer is not a model")
            continue
        want = model_schema(op.response, "serialization", components)
        for status in op.status:
            got = (entry["responses"].get(str(status), {}).get("content", {})
                   .get(op.media_type, {}).get("schema"))
            if got != want:
                found.append(f"{name}: {status} answer schema is not {op.response.__name__}'s")
        if route.method in BODY_METHODS:
            if op.body is None:
                found.append(f"{name}: takes a body but declares no body model (or NO_BODY)")
            elif not isinstance(op.body, NoBody):
                got = (entry.get("requestBody", {}).get("content", {})
                       .get(op.body_media_type, {}).get("schema"))
                if got != model_schema(op.body, "validation", components):
                    found.append(f"{name}: request body schema is not {op.body.__name__}'s")
            elif "requestBody" in entry:
                found.append(f"{name}: NO_BODY but the document shows a request body")
    return found


async def _document(app: web.Application) -> dict[str, Any]:
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.get("/api/openapi.json")
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
        return doc
    finally:
        await client.close()


def _app(*extra: Any) -> web.Application:
    # The document needs no services: a session factory that is never called.
    return create_app(sessionmaker(), route_modules=[*ROUTE_MODULES, *extra])


async def test_every_route_has_its_models_in_the_document() -> None:
    app = _app()
    doc = await _document(app)
    assert problems(app, doc) == []
    # The whole API is there (every package's routes), not an empty document.
    operations = [(m, p) for p, ops in doc["paths"].items() for m in ops]
    assert len(operations) >= 55, len(operations)
    intake = doc["paths"]["/api/workorders"]["post"]["requestBody"]["content"]
    assert set(intake["application/json"]["schema"]["required"]) == {
        "channel", "category", "description"}
    answer = doc["paths"]["/api/calls"]["get"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"]["properties"]["calls"]["type"] == "array"
    # Nested models are shared components the schemas refer to.
    assert "CallOut" in doc["components"]["schemas"]


class _Thing(Out):
    done: bool


async def _handler(_request: web.Request) -> web.Response:
    return web.json_response({"done": True})


def _undeclared(app: web.Application) -> None:
    app.router.add_post("/api/undeclared", _handler)


def _bodyless(app: web.Application) -> None:
    routes = Routes(tag="test")
    routes.post("/api/no-body-declared", response=_Thing)(_handler)
    routes.post("/api/no-body-taken", response=_Thing, body=NO_BODY)(_handler)
    routes.register(app)


@pytest.mark.parametrize(("module", "expected"), [
    (_undeclared, ["POST /api/undeclared: not declared with web.api.Routes"]),
    (_bodyless, ["POST /api/no-body-declared: takes a body but declares no body model "
                 "(or NO_BODY)"]),
])
async def test_the_check_names_a_route_without_its_models(module: Any,
                                                          expected: list[str]) -> None:
    app = _app(module)
    assert problems(app, await _document(app)) == expected


async def test_an_error_answer_is_documented_from_its_model() -> None:
    doc = await _document(_app())
    error = doc["paths"]["/api/agents"]["get"]["responses"]["4XX"]["content"]
    assert error["application/json"]["schema"] == ErrorOut.model_json_schema(
        mode="serialization")
    geo = doc["paths"]["/open311/v2/requests.json"]["get"]["responses"]["4XX"]["content"]
    assert geo["application/json"]["schema"]["type"] == "array"
