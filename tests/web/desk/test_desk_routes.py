"""The agent desktop's routes on the composed API (real redis-server, migrated SQLite, the
core's route list): the screen pop by route and over the live socket, the agent's own
state buttons, and the work order made from the call.

The caller's history is hand-built below (rows written directly); every expected list is
written out by hand from those rows, never read back from the code under test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hotline_core.acd.caller_flags import CallerFlags
from hotline_core.acd.calls import WaitingCall
from hotline_core.call_records import CallRecord
from hotline_core.workorders.knowledge import save_entry
from hotline_core.workorders.model import WorkOrder
from tests.security.composed import Composed, bearer, composed

WAIT = 10.0                 # bound on a socket read: the test fails, it never hangs
CALLER = "13800138000"      # masked: 138****8000
OTHER = "13900139000"
SH = datetime(2026, 6, 8, 1, 0, tzinfo=UTC)   # the composed desk clock: 09:00 Shanghai


def _utc(day: int, hour: int = 2) -> datetime:
    return datetime(2026, 6, day, hour, 0, tzinfo=UTC)


def _order(caller: str, *, status: str, matter: str, received: datetime,
           due: datetime | None) -> WorkOrder:
    return WorkOrder(received_at=received, channel="phone", line="12345",
                     caller_number=caller, category="complaint", description="路面坑洼",
                     matter=matter, status=status, due_at=due, event_count=0)


def seed_history(app: Composed) -> dict[str, Any]:
    """The caller's past: two earlier calls (one stored in the +86 form), one of another
    caller; orders: one handling and overdue, one handling not yet due, one closed, and
    another caller's overdue order."""
    with app.maker() as s, s.begin():
        s.add_all([
            CallRecord(id="old-1", linkedid="old-1", line="12345", caller=CALLER,
                       offered_at=_utc(1), agent_id="1002", disposition="answered"),
            CallRecord(id="old-2", linkedid="old-2", line="12351", department="tax",
                       caller="+8613800138000", offered_at=_utc(5), agent_id=None,
                       disposition="abandoned"),
            CallRecord(id="other-1", linkedid="other-1", line="12345", caller=OTHER,
                       offered_at=_utc(6), disposition="answered"),
        ])
        overdue = _order(CALLER, status="handling", matter="道路破损", received=_utc(1),
                         due=_utc(5))
        not_due = _order(CALLER, status="dispatched", matter="小区物业管理",
                         received=_utc(3), due=_utc(20))
        closed = _order(CALLER, status="closed", matter="道路破损", received=_utc(2),
                        due=_utc(4))
        foreign = _order(OTHER, status="handling", matter="道路破损", received=_utc(1),
                         due=_utc(2))
        s.add_all([overdue, not_due, closed, foreign])
        s.flush()
        ids = {"overdue": overdue.id, "not_due": not_due.id, "closed": closed.id,
               "foreign": foreign.id}
    return ids


async def ring(app: Composed, call_id: str, agent: str, caller: str = CALLER,
               line: str = "12345", department: str = "") -> None:
    """The call is offered (its record written, as the inbound flow does) and rings on
    ``agent`` (the only agent logged in)."""
    app.call_log.offered(call_id, line=line, caller=caller, at=SH, department=department,
                         recording=f"20260608/{call_id}.wav")
    await app.distributor.agent_login(agent, {"general": 1}, group="call-taking")
    match = await app.distributor.enqueue(WaitingCall(call_id=call_id, line=line,
                                                      skills=("general",), caller=caller,
                                                      department=department))
    assert match is not None and match.agent_id == agent


@asynccontextmanager
async def desk_app(tmp_path: Path, redis_url: str) -> AsyncIterator[Composed]:
    async with composed(tmp_path, redis_url) as app:
        yield app


# ------------------------------------------------------------------ the pop by route


async def test_the_pop_shows_line_masked_number_history_and_flags(tmp_path: Path,
                                                                  redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        ids = seed_history(app)
        await CallerFlags(app.redis, app.namespace).flag(CALLER, "elderly")
        await app.restrictions.restrict(CALLER, "辱骂坐席", by="supervisor", days=30)
        await ring(app, "now-1", "1001")
        status, pop = await app.json("GET", "/api/calls/now-1/pop", "1001")
        assert status == 200, pop
        assert (pop["call_id"], pop["line"], pop["caller"], pop["agent_id"]) == (
            "now-1", "12345", "138****8000", "1001")
        assert CALLER not in json.dumps(pop)
        assert [c["id"] for c in pop["calls"]] == ["old-2", "old-1"]   # newest first
        assert [(c["line"], c["disposition"]) for c in pop["calls"]] == [
            ("12351", "abandoned"), ("12345", "answered")]
        # Times carry their offset (SQLite returns the records' UTC times without it).
        assert pop["calls"][1]["offered_at"] == "2026-06-01T02:00:00+00:00"
        assert pop["orders"][2]["received_at"] == "2026-06-01T02:00:00+00:00"
        assert [o["id"] for o in pop["orders"]] == [ids["not_due"], ids["closed"],
                                                    ids["overdue"]]
        assert [o["id"] for o in pop["overdue_orders"]] == [ids["overdue"]]
        assert [o["overdue"] for o in pop["orders"]] == [False, False, True]
        assert pop["needs_help"] is True
        assert pop["restricted"]["reason"] == "辱骂坐席"
        # Looking the number up for the pop is not the number calling: no hit logged.
        assert await app.restrictions.hits() == []


async def test_a_caller_without_history_pops_with_empty_lists(tmp_path: Path,
                                                             redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        seed_history(app)
        await ring(app, "now-2", "1001", caller="02012345678", line="12351",
                   department="tax")
        status, pop = await app.json("GET", "/api/calls/now-2/pop", "1001")
        assert status == 200
        assert (pop["line"], pop["department"], pop["caller"]) == ("12351", "tax",
                                                                  "020****5678")
        assert (pop["calls"], pop["orders"], pop["overdue_orders"], pop["needs_help"],
                pop["restricted"]) == ([], [], [], False, None)


async def test_only_the_agent_it_rings_on_or_a_supervisor_gets_the_pop(
        tmp_path: Path, redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        seed_history(app)
        await ring(app, "now-3", "1001")
        resp = await app.client.get("/api/calls/now-3/pop")
        assert resp.status == 401
        resp = await app.client.get("/api/calls/now-3/pop",
                                    headers={"Authorization": "Bearer forged"})
        assert resp.status == 401
        status, out = await app.json("GET", "/api/calls/now-3/pop", "1002")   # spoofed
        assert status == 403 and "1002" in out["error"]
        for who in ("dispatcher", "callback", "town-chengguan"):
            status, _ = await app.json("GET", "/api/calls/now-3/pop", who)
            assert status == 403, who
        status, pop = await app.json("GET", "/api/calls/now-3/pop", "supervisor")
        assert status == 200 and pop["caller"] == "138****8000"
        # Another agent may not see an earlier call of 1001's either (the record's agent).
        status, _ = await app.json("GET", "/api/calls/old-1/pop", "1001")  # was 1002's
        assert status == 403


async def test_hostile_call_ids_are_not_found(tmp_path: Path, redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        for raw in ("x%27%3B%20DROP%20TABLE%20call_records", "a" * 65, "%E2%80%AE1",
                    "..%2F..%2Fetc"):
            status, out = await app.json("GET", f"/api/calls/{raw}/pop", "supervisor")
            assert status == 404, (raw, out)
        status, out = await app.json("GET", "/api/calls/unknown-call/pop", "supervisor")
        assert (status, out["error"]) == (404, "no such call")


# ------------------------------------------------------------------ the pop on the socket


async def _next_of(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        msg = json.loads((await ws.receive(timeout=WAIT)).data)
        if msg["type"] == kind:
            return dict(msg[kind])


async def test_the_pop_arrives_on_the_ringing_agents_socket_only(tmp_path: Path,
                                                                 redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        ids = seed_history(app)
        ws1 = await app.client.ws_connect("/api/live", headers=bearer("1001"))
        ws2 = await app.client.ws_connect("/api/live", headers=bearer("1002"))
        try:
            for ws in (ws1, ws2):
                assert json.loads((await ws.receive(timeout=WAIT)).data)["type"] == "figures"
            await ring(app, "sock-1", "1001")
            pop = await _next_of(ws1, "pop")
            assert (pop["call_id"], pop["caller"]) == ("sock-1", "138****8000")
            assert [o["id"] for o in pop["overdue_orders"]] == [ids["overdue"]]
            assert [c["id"] for c in pop["calls"]] == ["old-2", "old-1"]
            # 1002's socket: the first pop it ever gets is its own call's, not 1001's.
            await app.distributor.abandon("sock-1")       # the caller hangs up
            await app.distributor.agent_logout("1001")
            await ring(app, "sock-2", "1002", caller=OTHER)
            pop2 = await _next_of(ws2, "pop")
            assert (pop2["call_id"], pop2["caller"]) == ("sock-2", "139****9000")
            assert [c["id"] for c in pop2["calls"]] == ["other-1"]
        finally:
            await ws1.close()
            await ws2.close()


async def test_a_socket_opened_while_the_phone_rings_pops_at_once(tmp_path: Path,
                                                                  redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        seed_history(app)
        await ring(app, "sock-3", "1001")
        ws = await app.client.ws_connect("/api/live?token=tok-agent-1001")
        try:
            pop = await _next_of(ws, "pop")
            assert pop["call_id"] == "sock-3"
        finally:
            await ws.close()


# ------------------------------------------------------------------ state buttons


async def test_the_agent_changes_only_its_own_state_with_a_configured_reason(
        tmp_path: Path, redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        status, desk = await app.json("GET", "/api/desk", "1001")
        assert status == 200
        assert (desk["agent"], desk["state"]) == ("1001", "LOGGED_OUT")
        assert [r["code"] for r in desk["pause_reasons"]] == [
            "meal", "rest", "training", "meeting", "toilet"]
        assert desk["pause_reasons"][0]["label"] == "用餐"
        assert (await app.json("POST", "/api/desk/ready", "1001"))[1]["done"] == "login"
        status, out = await app.json("POST", "/api/desk/pause", "1001", {"reason": "lunch"})
        assert status == 422 and out["field"] == "reason" and "meal" in out["error"]
        status, out = await app.json("POST", "/api/desk/pause", "1001",
                                     {"reason": "x" * 40})
        assert status == 422 and out["field"] == "reason"
        assert (await app.json("POST", "/api/desk/pause", "1001",
                               {"reason": "meal"}))[0] == 200
        agent = await app.distributor.view.agent("1001")
        assert agent is not None and (agent.state.value, agent.pause_reason) == (
            "PAUSED", "meal")
        assert (await app.json("POST", "/api/desk/ready", "1001"))[1]["done"] == "unpause"
        for who in ("supervisor", "dispatcher"):
            assert (await app.json("GET", "/api/desk", who))[0] == 403
            assert (await app.json("POST", "/api/desk/logout", who))[0] == 403
        assert (await app.client.post("/api/desk/logout")).status == 401
        assert (await app.distributor.view.agent("1001")).state.value == "READY"  # type: ignore[union-attr]
        assert (await app.json("POST", "/api/desk/logout", "1001"))[0] == 200
        assert (await app.distributor.view.agent("1001")).state.value == "LOGGED_OUT"  # type: ignore[union-attr]
        assert await app.distributor.view.agent("1002") is None   # never touched


# ------------------------------------------------------------------ the order from the call


def _orders(app: Composed) -> int:
    with app.maker() as s:
        return int(s.scalar(select(func.count()).select_from(WorkOrder)) or 0)


async def test_the_order_takes_line_caller_and_recording_from_the_call(
        tmp_path: Path, redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        seed_history(app)
        await ring(app, "ord-1", "1001", line="12351", department="tax")
        await app.distributor.agent_answered("ord-1", "1001")
        app.call_log.answered("ord-1", "1001", SH)
        before = _orders(app)
        body = {"category": "complaint", "description": "小区电梯停运三天",
                "matter": "小区物业管理", "confidential": True,
                # typed by a hostile client: ignored, the call record decides
                "line": "99999", "caller_number": "110", "recording": "../../etc/passwd"}
        # Another agent cannot make the order of 1001's call (nothing written).
        status, _ = await app.json("POST", "/api/desk/calls/ord-1/order", "1002", body)
        assert status == 403 and _orders(app) == before
        status, out = await app.json("POST", "/api/desk/calls/ord-1/order", "1001", body)
        # The caller has an open order about 小区物业管理 (not_due): asked first.
        assert status == 200 and out["saved"] is False and _orders(app) == before
        assert [c["matter"] for c in out["candidates"]] == ["小区物业管理"]
        status, out = await app.json("POST", "/api/desk/calls/ord-1/order", "1001",
                                     {**body, "confirm": "new"})
        assert status == 201 and out["saved"] and out["created"], out
        with app.maker() as s:
            order = s.get(WorkOrder, out["order_id"])
            assert order is not None
            assert (order.line, order.department, order.caller_number, order.recording,
                    order.call_record_id, order.confidential, order.channel,
                    order.created_by) == ("12351", "tax", CALLER, "20260608/ord-1.wav",
                                          "ord-1", True, "phone", "1001")
        assert _orders(app) == before + 1
        # Confirmed as a repeat: linked to the open order, nothing new.
        status, out = await app.json("POST", "/api/desk/calls/ord-1/order", "1001",
                                     {**body, "confirm": "duplicate"})
        assert status == 200 and out["duplicate_of"] is not None and not out["created"]
        assert _orders(app) == before + 1


async def test_a_kb_answer_closes_the_consult_on_the_spot(tmp_path: Path,
                                                         redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        await ring(app, "kb-1", "1001")
        with app.maker() as s, s.begin():
            entry = save_entry(s, unit=None, question="社保卡补办需要什么材料",
                               answer="携带身份证到社保服务大厅办理", keywords="社保卡 补办",
                               public=False, now=SH)
            entry_id = entry.id
        status, hits = await app.json("GET", "/api/desk/kb?q=社保卡补办", "1001")
        assert status == 200 and [h["id"] for h in hits["results"]] == [entry_id]
        status, out = await app.json("POST", "/api/desk/calls/kb-1/order", "1001", {
            "category": "consult", "description": "问社保卡补办材料", "kb_entry_id": entry_id})
        assert status == 201 and out["status"] == "closed", out
        status, out = await app.json("POST", "/api/desk/calls/kb-1/order", "1001", {
            "category": "consult", "description": "x", "kb_entry_id": 999999})
        assert status == 422 and out["field"] == "kb_entry_id"


async def test_hostile_order_bodies_are_refused_naming_the_field(tmp_path: Path,
                                                                 redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        await ring(app, "bad-1", "1001")
        before = _orders(app)
        for body, field in [({"category": "bribe", "description": "x"}, "category"),
                            ({"category": "complaint", "description": " "}, "description"),
                            ({"category": "complaint", "description": "x",
                              "matter": "m" * 201}, "matter"),
                            ({"category": "complaint", "description": "x",
                              "confirm": "maybe"}, "confirm")]:
            status, out = await app.json("POST", "/api/desk/calls/bad-1/order", "1001", body)
            assert status == 422 and out["field"] == field, (body, out)
        status, _ = await app.json("POST", "/api/desk/calls/bad-1/order", "supervisor",
                                   {"category": "complaint", "description": "x"})
        assert status == 403
        assert _orders(app) == before


async def test_the_matter_picker_lists_the_responsibility_list(tmp_path: Path,
                                                               redis_url: str) -> None:
    async with desk_app(tmp_path, redis_url) as app:
        status, out = await app.json("GET", "/api/desk/matters", "1001")
        assert status == 200
        names = [m["name"] for m in out["matters"]]
        assert {"道路破损", "小区物业管理", "农村人居环境整治"} <= set(names)
        road = next(m for m in out["matters"] if m["name"] == "道路破损")
        assert (road["department"], road["section"]) == ("dept-transport", "公路管理所")
        assert (await app.json("GET", "/api/desk/matters", "town-chengguan"))[0] == 403
