"""The shared web layer on a real aiohttp server: one middleware turns domain refusals
into their HTTP status (and GeoReport's shape on Open311 routes), models validate bodies
and queries strictly and name the field at fault, answers are built from their models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import Field
from sqlalchemy.orm import sessionmaker

from hotline_core.acd import DistributionError
from hotline_core.workorders.desk import NotFound
from web.access import PUBLIC
from web.api import Int32, Model, NonBlank, Out, QueryInt, Routes, read_body, read_query, reply
from web.app import create_app


class Inner(Model):
    code: Annotated[str, Field(pattern=r"^[a-z]+$")]


class Body(Model):
    name: NonBlank
    count: Int32 = 0
    urgent: bool = False
    note: str = "none"
    inner: Inner | None = None


class Query(Model):
    limit: Annotated[QueryInt, Field(ge=1, le=10)] = 5


class Echo(Out):
    name: str
    count: int
    urgent: bool
    note: str
    limit: int | None = None


routes = Routes(tag="test")


@routes.post("/api/echo", body=Body, response=Echo, access=PUBLIC)
async def echo(request: web.Request) -> web.Response:
    b = await read_body(request, Body)
    return reply(Echo(name=b.name, count=b.count, urgent=b.urgent, note=b.note))


@routes.get("/api/page", query=Query, response=Echo, access=PUBLIC)
async def page(request: web.Request) -> web.Response:
    q = read_query(request, Query)
    return reply(Echo(name="p", count=0, urgent=False, note="", limit=q.limit))


@routes.get("/api/refused/{kind}", response=Echo, access=PUBLIC)
async def refused(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind == "distribution":
        raise DistributionError("not_logged_in", "agent 1001")
    if kind == "order":
        raise NotFound("work order 7 does not exist", order_id=7)
    raise RuntimeError("a bug, not a refusal")


def _geo(status: int, reason: str, _extra: dict[str, Any]) -> web.HTTPException:
    return web.HTTPBadRequest(text=f'[{{"code": {status}, "description": "{reason}"}}]',
                              content_type="application/json")


@routes.get("/open311/test", response=Echo, error_shape=_geo, access=PUBLIC)
async def geo(_request: web.Request) -> web.Response:
    raise NotFound("gone")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(sessionmaker(), route_modules=[routes.register])
    c = TestClient(TestServer(app, host="127.0.0.1"))
    await c.start_server()
    yield c
    await c.close()


async def _post(client: TestClient[Any, Any], body: Any) -> tuple[int, Any]:
    resp = await client.post("/api/echo", json=body)
    return resp.status, await resp.json()


async def test_domain_refusals_become_their_status(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/refused/distribution")
    assert resp.status == 409
    assert await resp.json() == {"error": "not_logged_in: agent 1001"}
    resp = await client.get("/api/refused/order")
    assert resp.status == 404
    assert await resp.json() == {"error": "work order 7 does not exist", "order_id": 7}
    # An exception that is no refusal stays a server error (a bug to see, not a 4xx).
    resp = await client.get("/api/refused/bug")
    assert resp.status == 500


async def test_an_open311_route_answers_in_its_own_shape(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/open311/test")
    assert resp.status == 400
    assert await resp.json() == [{"code": 404, "description": "gone"}]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": "   "}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x", "count": "1"}, "count"),          # no "1" for 1
    ({"name": "x", "count": True}, "count"),         # no true for 1
    ({"name": "x", "count": 2**31}, "count"),        # beyond the 32-bit columns
    ({"name": "x", "urgent": 1}, "urgent"),          # no 1 for true
    ({"name": "x", "urgent": None}, "urgent"),       # null is no answer for a yes/no
    ({"name": "x", "inner": {"code": "ABC"}}, "inner.code"),
    ({"name": "x", "inner": []}, "inner"),
])
async def test_a_bad_field_is_named(client: TestClient[Any, Any], body: dict[str, Any],
                                    field: str) -> None:
    status, out = await _post(client, body)
    assert status == 422, out
    assert out["field"] == field and out["error"].startswith(f"{field}: "), out


async def test_a_good_body_is_read_as_typed(client: TestClient[Any, Any]) -> None:
    status, out = await _post(client, {"name": "张三", "count": 3, "urgent": True,
                                       "note": None, "unknown": "ignored"})
    # null for an optional text is "not given": its default.
    assert (status, out) == (200, {"name": "张三", "count": 3, "urgent": True,
                                   "note": "none"})


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'{"name": "a\\u0000b"}',
                                 b'{"name": "\\ud800"}'])
async def test_a_body_that_is_no_usable_json_object_is_a_400(client: TestClient[Any, Any],
                                                             raw: bytes) -> None:
    resp = await client.post("/api/echo", data=raw,
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()


@pytest.mark.parametrize(("query", "status"), [
    ("", 200), ("?limit=7", 200), ("?limit=١", 422), ("?limit=²", 422), ("?limit=0", 422),
    ("?limit=11", 422), ("?limit=x", 422),
])
async def test_query_numbers_are_ascii_and_bounded(client: TestClient[Any, Any], query: str,
                                                   status: int) -> None:
    resp = await client.get("/api/page" + query)
    out = await resp.json()
    assert resp.status == status, out
    if status == 422:
        assert out["field"] == "limit"
    else:
        assert out["limit"] == (int(query.split("=")[1]) if query else 5)
