"""Bad input over HTTP gets a 4xx naming what is wrong, never a 500, and writes nothing.

Every test runs against the real aiohttp server on loopback, once on SQLite and once on
PostgreSQL (the ``api`` fixture of ``tests/workorders``). Each docstring says what the same
request got on the starting main (commit 4b97079).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.workorders.model import Unit, WorkOrder, WorkOrderEvent
from tests.workorders import conftest as wo
from tests.workorders.conftest import Api
from tests.workorders.test_lifecycle_api import NEW, complaint

# The work-order fixtures (SQLite and PostgreSQL, seeded dispatch data, real server).
db_url, maker, preset, calendar, clock = wo.db_url, wo.maker, wo.preset, wo.calendar, wo.clock
settings, policy, seeded, api = wo.settings, wo.policy, wo.seeded, wo.api

OPEN311 = "/open311/v2/requests.json"


def _counts(maker: sessionmaker[Session]) -> tuple[int, int]:
    with maker() as s:
        return (s.scalar(select(func.count()).select_from(WorkOrder)) or 0,
                s.scalar(select(func.count()).select_from(WorkOrderEvent)) or 0)


async def _created(api: Api, **over: object) -> int:
    status, out = await api.post(NEW, "operator", complaint(**over))
    assert status == 201, out
    return int(out["order"]["id"])


async def _dispatched(api: Api, **over: object) -> int:
    oid = await _created(api, **over)
    status, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    assert status == 200, out
    return oid


# ------------------------------------------------------------------ ids with unicode digits


async def test_unicode_digits_in_an_order_id_are_not_an_id(api: Api) -> None:
    """``"²".isdigit()`` and ``"١".isdigit()`` are True in Python.

    On main: ``/api/workorders/²`` → 500 (``int("²")`` raises ValueError after the
    isdigit() check passed), and ``/api/workorders/١`` (Arabic-Indic one) → 200 with
    order 1: a second spelling of every id. Same for ``/open311/v2/requests/².json`` (500).
    """
    oid = await _created(api)
    assert oid == 1  # the first order of a fresh database
    for raw in ("²", "١", "１", "1²"):
        status, out = await api.get(f"{NEW}/{raw}", "supervisor")
        assert status == 404, (raw, status, out)
        assert raw in out["error"]
        status, out = await api.post(f"{NEW}/{raw}/dispatch", "dispatcher", {})
        assert status == 404, (raw, status, out)
        resp = await api.client.get(f"/open311/v2/requests/{raw}.json")
        assert resp.status == 404, (raw, resp.status)
        assert (await resp.json())[0]["code"] == 404
    resp = await api.client.get(OPEN311, params={"service_request_id": "²"})
    assert resp.status == 400 and "service_request_id" in (await resp.json())[0]["description"]
    for raw in ("²", "١"):
        status, out = await api.get(f"/api/workorders?limit={raw}", "supervisor")
        assert status == 422 and out["field"] == "limit", (raw, status, out)


async def test_an_id_beyond_the_database_integer_is_not_found(api: Api) -> None:
    """Order ids are 32-bit integers in both databases.

    On main: ``/api/workorders/99999999999999999999`` → 500 (SQLite: "Python int too large
    to convert to SQLite INTEGER"; PostgreSQL: integer out of range); a body
    ``{"priority": 2**40}`` → 500 on PostgreSQL at insert; ``kb_entry_id`` likewise.
    """
    before = _counts(wo_maker(api))
    huge = "9" * 20
    status, out = await api.get(f"{NEW}/{huge}", "supervisor")
    assert status == 404 and huge in out["error"]
    status, out = await api.post(f"{NEW}/{huge}/sign-off", "town-chengguan")
    assert status == 404
    resp = await api.client.get(f"/open311/v2/requests/{huge}.json")
    assert resp.status == 404
    resp = await api.client.get(OPEN311, params={"service_request_id": huge})
    assert resp.status == 400
    status, out = await api.post(NEW, "operator", complaint(priority=2**40))
    assert status == 422 and out["field"] == "priority"
    status, out = await api.post(NEW, "operator", complaint(
        category="consult", kb_entry_id=2**40))
    assert status == 422 and out["field"] == "kb_entry_id"
    assert _counts(wo_maker(api)) == before


def wo_maker(api: Api) -> sessionmaker[Session]:
    from web import keys

    app = api.client.app
    assert app is not None
    maker: sessionmaker[Session] = app[keys.SESSIONMAKER]
    return maker


# ------------------------------------------------------------------ JSON bodies


async def test_deeply_nested_json_is_refused(api: Api) -> None:
    """A body of 100 000 nested arrays.

    On main: 500 — ``json.loads`` raises RecursionError, which ``json_body`` did not catch.
    An integer of 5 000 digits: 500 too (ValueError "Exceeds the limit (4300 digits)").
    """
    before = _counts(wo_maker(api))
    deep = b'{"description": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, out = await api.post(NEW, "operator", raw=deep)
    assert status == 400 and "nested" in out["error"], (status, out)
    status, out = await api.post(NEW, "operator", raw=b"[" * 100_000)
    assert status == 400 and "nested" in out["error"]
    status, out = await api.post(NEW, "operator",
                                 raw=b'{"priority": ' + b"1" * 5000 + b"}")
    assert status == 400 and "JSON" in out["error"], (status, out)
    assert _counts(wo_maker(api)) == before


async def test_nul_and_lone_surrogates_in_json_strings_are_refused(api: Api) -> None:
    """PostgreSQL text cannot hold NUL; no UTF-8 encoding exists for a lone surrogate.

    On main: ``"description": "a\\u0000b"`` → 500 on PostgreSQL ("PostgreSQL text fields
    cannot contain NUL (0x00) bytes"), 201 on SQLite; ``"\\ud800"`` → 500 on both (the
    string cannot be encoded for the database).
    """
    before = _counts(wo_maker(api))
    for bad in ("a\u0000b", "a\ud800b"):
        raw = json.dumps(complaint(description=bad)).encode()  # ensure_ascii: \\u escapes
        status, out = await api.post(NEW, "operator", raw=raw)
        assert status == 400 and "description" in out["error"], (bad, status, out)
    raw = json.dumps(complaint(description="x", **{"k\u0000": 1})).encode()
    status, out = await api.post(NEW, "operator", raw=raw)
    assert status == 400
    assert _counts(wo_maker(api)) == before


async def test_nul_in_the_query_string_is_refused(api: Api) -> None:
    """On main: ``GET /api/workorders?unit=%00`` → 500 on PostgreSQL (NUL in a bound
    parameter), 200 on SQLite."""
    status, out = await api.get("/api/workorders?unit=%00", "supervisor")
    assert status == 400 and "NUL" in out["error"], (status, out)
    status, out = await api.get("/api/dispatch/route?matter=a%00", "dispatcher")
    assert status == 400


async def test_a_stranger_gets_401_not_the_query_check(api: Api) -> None:
    """The access gate answers first: without a token a guarded route with a NUL in its
    query or path is 401, as it would be with a clean URL — the 400 naming the bad
    parameter is for callers allowed to call the route (above). (An unknown token: the
    composed app, tests/security/test_route_roles.py.)"""
    for path in ("/api/workorders?unit=%00", "/api/dispatch/route?matter=a%00",
                 "/api/workorders/1%00"):
        resp = await api.client.get(path)
        assert resp.status == 401, (path, resp.status, await resp.text())


# ------------------------------------------------------------------ CSV


def _units_csv(*rows: str) -> bytes:
    head = "code,name,kind,lead_name,lead_phone,a_name,a_phone,b_name,b_phone\n"
    return (head + "".join(r + "\n" for r in rows)).encode()


async def test_a_csv_field_over_the_csv_modules_limit_names_the_row(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    """A cell of 200 000 characters (the csv module's field limit is 131 072).

    On main: 500 — ``csv.Error: field larger than field limit (131072)`` escaped the
    importer.
    """
    with seeded() as s:
        before = sorted(s.scalars(select(Unit.code)))
    body = _units_csv("town-a,甲镇,town,,,,,,", "town-b," + "乙" * 200_000 + ",town,,,,,,")
    status, out = await api.post("/api/dispatch/units", "dispatcher", raw=body)
    assert status == 422, (status, out)
    assert "nothing imported" in out["error"]
    assert [p["line"] for p in out["problems"]] == [3]
    assert "field limit" in out["problems"][0]["message"]
    with seeded() as s:
        assert sorted(s.scalars(select(Unit.code))) == before


async def test_csv_cells_longer_than_their_column_or_with_odd_digits_are_refused(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    """Unit codes are at most 64 characters in the database; phone numbers ASCII digits.

    On main: a 65-character code → 500 on PostgreSQL (value too long for type character
    varying(64)), 200 on SQLite; ``a_phone`` in full-width digits (１３８…) was accepted
    (``str.isdigit``) and stored; a NUL in a cell → 500 on PostgreSQL.
    """
    with seeded() as s:
        before = sorted(s.scalars(select(Unit.code)))
    body = _units_csv("x" * 65 + ",甲镇,town,,,,,,",
                      "town-b,乙镇,town,,,李联络,１３８００００１１１１,,",
                      "town-c,丙\x00镇,town,,,,,,")
    status, out = await api.post("/api/dispatch/units", "dispatcher", raw=body)
    assert status == 422, (status, out)
    found = {(p["line"], p["column"]) for p in out["problems"]}
    assert found == {(2, "code"), (3, "a_phone"), (4, "name")}, out["problems"]
    with seeded() as s:
        assert sorted(s.scalars(select(Unit.code))) == before


# ------------------------------------------------------------------ Open311


async def test_over_long_open311_fields_get_a_georeport_400(api: Api) -> None:
    """Every Open311 form field is bounded; the error is GeoReport's ``[{code, description}]``.

    On main: ``address_string`` of 301 characters → 500 on PostgreSQL (varchar(300)) and
    201 on SQLite; a 20 000-character description → 201 (stored); ``phone`` of 40
    characters → 500 on PostgreSQL.
    """
    before = _counts(wo_maker(api))
    base = {"api_key": "tok-operator", "service_code": "suggestion",
            "description": "建议在南关村增设公交站", "address_string": "南关村"}
    for name, value in (("address_string", "村" * 301), ("description", "长" * 20_000),
                        ("phone", "1" * 40), ("first_name", "名" * 101),
                        ("email", "a" * 300 + "@x.cn"), ("description", "a\x00b")):
        resp = await api.client.post(OPEN311, data={**base, name: value})
        body = await resp.json()
        assert resp.status == 400, (name, resp.status, body)
        assert body[0]["code"] == 400 and name in body[0]["description"], body
    assert _counts(wo_maker(api)) == before
    resp = await api.client.post(OPEN311, data=base)
    assert resp.status == 201  # the same form within bounds is accepted


# ------------------------------------------------------------------ two commands at once


def _signed_off_events(maker: sessionmaker[Session], oid: int) -> list[str | None]:
    with maker() as s:
        return list(s.scalars(select(WorkOrderEvent.unit).where(
            WorkOrderEvent.order_id == oid, WorkOrderEvent.kind == "signed_off")))


def _lock_waiters(maker: sessionmaker[Session]) -> int:
    with maker() as s:
        return int(s.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")) or 0)


async def _while_first_writes(
    api: Api, maker: sessionmaker[Session], first: tuple[str, str, str, Any],
    second: tuple[str, str, str, Any],
) -> tuple[tuple[int, Any], tuple[int, Any]]:
    """Run ``first``; when it is about to write its first change, run ``second`` on the
    same order (through the same server) and let ``first`` go on only once ``second`` has
    either finished (SQLite: nothing blocks it) or is waiting for ``first``'s row lock
    (PostgreSQL ``SELECT … FOR UPDATE``). No sleeps: the interleaving is forced."""
    loop = asyncio.get_running_loop()
    postgres = maker.kw["bind"].dialect.name == "postgresql"
    fired = threading.Event()
    second_future: list[Any] = []

    def before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        if fired.is_set() or threading.current_thread() is threading.main_thread():
            return
        fired.set()
        method, path, who, body = second
        fut = asyncio.run_coroutine_threadsafe(api.call(method, path, who, body), loop)
        second_future.append(fut)
        if postgres:
            while _lock_waiters(maker) == 0 and not fut.done():
                threading.Event().wait(0.01)  # until the second request waits for our lock
        else:
            fut.result(timeout=30)

    event.listen(maker, "before_flush", before_flush)
    try:
        method, path, who, body = first
        first_out = await api.call(method, path, who, body)
    finally:
        event.remove(maker, "before_flush", before_flush)
    assert fired.is_set() and second_future, "the second command never ran"
    second_out = await asyncio.wrap_future(second_future[0])
    return first_out, second_out


async def test_two_sign_offs_at_once_one_wins_the_other_gets_409(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    """Two liaisons of the lead unit press 签收 at the same moment.

    On main: SQLite → the one that read first then wrote second got 500 (IntegrityError:
    UNIQUE constraint failed: wo_events.order_id, wo_events.seq). PostgreSQL already
    serialised the two through ``SELECT … FOR UPDATE``: the waiting one got 409 "already
    signed off" (this half of the test passed on main).
    """
    oid = await _dispatched(api)
    path = f"{NEW}/{oid}/sign-off"
    (s1, o1), (s2, o2) = await _while_first_writes(
        api, seeded, ("POST", path, "town-chengguan", None), ("POST", path, "town-chengguan",
                                                               None))
    assert sorted([s1, s2]) == [200, 409], (s1, o1, s2, o2)
    loser = o1 if s1 == 409 else o2
    assert "retry" in loser["error"] or "already signed off" in loser["error"], loser
    assert _signed_off_events(seeded, oid) == ["town-chengguan"]
    status, detail = await api.get(f"{NEW}/{oid}", "supervisor")
    assert status == 200 and detail["status"] == "handling"


async def test_two_calls_linked_to_one_order_at_once_one_gets_409(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    """Two agents record the same citizen's repeat call at once: both are duplicates of
    order 1, each appends a "duplicate_linked" event to it without a row lock.

    On main: the second writer got 500 on both databases (unique (order_id, seq) violated:
    both computed seq = event_count + 1 from the same read).
    """
    oid = await _created(api)
    before_events = _counts(seeded)[1]
    repeat = complaint(call_record_id="call-0002")
    (s1, o1), (s2, o2) = await _while_first_writes(
        api, seeded, ("POST", NEW, "operator", repeat), ("POST", NEW, "dispatcher", repeat))
    assert sorted([s1, s2]) == [200, 409], (s1, o1, s2, o2)
    loser = o1 if s1 == 409 else o2
    assert "changed meanwhile" in loser["error"] and "retry" in loser["error"], loser
    assert _counts(seeded) == (1, before_events + 1)
    with seeded() as s:
        kinds = list(s.scalars(select(WorkOrderEvent.kind).where(
            WorkOrderEvent.order_id == oid).order_by(WorkOrderEvent.seq)))
    assert kinds == ["created", "duplicate_linked"]
    # The client retries: now it is linked cleanly.
    status, out = await api.post(NEW, "operator", repeat)
    assert status == 200 and out["duplicate_of"] == oid


async def test_knowledge_base_csv_over_the_field_limit_names_the_row(api: Api) -> None:
    """The knowledge-base entries and synonyms CSVs read rows through the same guard.

    On main: 500 for both (``csv.Error: field larger than field limit (131072)``).
    """
    entries = ("unit,question,answer,keywords,public\n"
               ",社保卡丢了怎么办,到社保大厅补办,社保卡,是\n"
               ",医保怎么报销," + "报" * 200_000 + ",医保,是\n").encode()
    status, out = await api.post("/api/kb/import", "supervisor", raw=entries)
    assert status == 422 and [p["line"] for p in out["problems"]] == [3], (status, out)
    status, out = await api.get("/api/kb/search?q=社保卡", "supervisor")
    assert status == 200 and out["results"] == []  # nothing imported
    synonyms = ("word,canonical\n" + "词" * 200_000 + ",词\n").encode()
    status, out = await api.post("/api/kb/synonyms", "supervisor", raw=synonyms)
    assert status == 422 and [p["line"] for p in out["problems"]] == [2], (status, out)
