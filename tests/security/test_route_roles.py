"""The routes added with the worklists, the unit portal, the reports, the voice-message inbox
and listen/whisper/barge, walked on the composed API (every route module, the access gate,
migrated SQLite, real redis-server): without a token, with each role the issues do not
name, with another unit's identity, and with hostile input.

Who may call what is written here by hand from issues 12 and 13 (not read from
``web/access_rules.py``): worklists per platform group, the reply check and contacts for
units, deductions entered and withdrawn by supervisors (units read their own), rising
issues for supervisors and dispatchers, the inbox for operators, listening in for
supervisors; report pages for supervisors, the unit portal for unit handlers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from hotline_core.access import Principal, Role
from hotline_core.acd import WaitingCall
from hotline_core.spy import SpyMode
from hotline_core.workorders import desk
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.deductions import UnitDeduction
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.model import UnitContact, WorkOrderEvent
from hotline_core.workorders.presets import Category, load_preset
from testkit.people import CSRF_HEADER, add_user, sign_in
from tests.security.composed import TOKENS, Composed, composed

OWN, OTHER = "town-chengguan", "dept-housing"      # the two unit tokens of the composition
NAMES = ("supervisor", "dispatcher", "callback", "1001", OWN, OTHER)
DAY = "2026-06-01"                                  # a Monday, a week before the desk's clock
# OTHER's contacts and OTHER's order: to OWN (a unit) as if they did not exist, 404.
HIDDEN = ("/contacts", "/reply-check")
DEDUCTION = {"unit": OTHER, "kind": "shirking", "occurred_on": DAY, "reason": "推诿"}


def _housing_order(app: Composed) -> int:
    """小区物业管理 goes to dept-housing (config/responsibility_list.sample.csv): an order
    of ``OTHER``, never dispatched to ``OWN``."""
    cfg = DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                       clock=lambda: datetime(2026, 6, 8, 9, 0))
    with app.maker.begin() as s:
        oid = desk.create_order(s, cfg, Principal("op", Role.OPERATOR), Intake(
            channel="web", category=Category.HELP, description="小区电梯停运",
            matter="小区物业管理")).order.id
        desk.dispatch(s, cfg, Principal("disp", Role.DISPATCHER), oid)
    return oid


def _rows(app: Composed) -> tuple[int, int, int]:
    """Order events, deductions, unit contacts: what a refused request must not write."""
    with app.maker() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                     for t in (WorkOrderEvent, UnitDeduction, UnitContact))


def _table(oid: int) -> list[tuple[str, str, set[str], Any]]:
    """(method, path, names the issues let through, body). Another unit's order or
    contacts answer 404 to a unit (as if missing): see :data:`HIDDEN`."""
    units = {OWN, OTHER}
    operators = {"1001"}
    contacts = {r: {"name": "王五", "phone": "0931123456"} for r in ("lead", "A", "B")}
    return [
        ("GET", "/api/worklists/dispatch", {"dispatcher", "supervisor"}, None),
        ("GET", "/api/worklists/quality", {"supervisor"}, None),
        ("GET", "/api/worklists/callback", {"callback", "supervisor"}, None),
        ("GET", "/api/worklists/monitoring", {"dispatcher", "supervisor"}, None),
        ("GET", "/api/worklists/supervision", {"supervisor"}, None),
        ("POST", f"/api/workorders/{oid}/return-review", {"dispatcher", "supervisor"},
         {"decision": "refuse", "reason": "不予退回"}),
        ("POST", f"/api/workorders/{oid}/quality-check", {"supervisor"},
         {"decision": "approve", "reason": ""}),
        ("POST", f"/api/workorders/{oid}/reply-check", {OTHER},
         {"parts": {"response": "已到现场"}}),
        ("GET", f"/api/units/{OTHER}/contacts", {OTHER, "dispatcher", "supervisor"}, None),
        ("PUT", f"/api/units/{OTHER}/contacts", {OTHER, "supervisor"}, contacts),
        ("GET", f"/api/metrics/deductions?start={DAY}&period=week",
         {"supervisor", *units}, None),
        ("POST", "/api/metrics/deductions", {"supervisor"}, {**DEDUCTION, "reason": " "}),
        ("POST", "/api/metrics/deductions/1/withdraw", {"supervisor"}, {"reason": " "}),
        ("GET", f"/api/metrics/rising?start={DAY}", {"supervisor", "dispatcher"}, None),
        ("GET", "/api/desk/voice-messages", operators, None),
        ("GET", "/api/desk/voice-messages/vm-none/recording", operators, None),
        ("POST", "/api/desk/voice-messages/vm-none/order", operators, {}),
        ("POST", "/api/calls/1764000000.1/spy", {"supervisor"}, {"mode": "listen"}),
        ("DELETE", "/api/calls/1764000000.1/spy", {"supervisor"}, None),
    ]


async def _anonymous(app: Composed, method: str, path: str, body: Any) -> int:
    async with aiohttp.ClientSession() as anon:
        async with anon.request(method, app.client.make_url(path), json=body) as resp:
            return resp.status


async def test_each_new_route_refuses_anyone_the_issues_do_not_name(
        tmp_path: Path, redis_url: str) -> None:
    """401 without a token or with a guessed one, 403 for every other role, and nothing
    written; the roles named get past the gate (not 401/403, and not 503: the route's
    services are composed)."""
    async with composed(tmp_path, redis_url) as app:
        oid = _housing_order(app)
        before = _rows(app)
        assert set(NAMES) <= set(TOKENS)
        for method, path, allowed, body in _table(oid):
            assert await _anonymous(app, method, path, body) == 401, (method, path)
            resp = await app.client.request(method, path, json=body,
                                            headers={"Authorization": "Bearer guessed"})
            assert resp.status == 401, (method, path)
            for name in NAMES:
                status, out = await app.json(method, path, name, body)
                if name in allowed:
                    assert status not in (401, 403, 503), (method, path, name, status, out)
                elif name == OWN and path.endswith(HIDDEN):
                    assert status == 404, (method, path, name, status, out)
                else:
                    assert status == 403, (method, path, name, status, out)
        # Nothing written but the contacts the two allowed PUTs kept (same three each time;
        # a unit's PUT on another's is refused whole in the test below).
        assert _rows(app)[:2] == before[:2]


async def test_a_unit_reads_and_changes_only_its_own(tmp_path: Path, redis_url: str) -> None:
    """Deductions against two units: each unit lists its own (worked out: one each), never
    withdraws; another unit's contacts and reply check answer 404 like a missing order."""
    async with composed(tmp_path, redis_url) as app:
        oid = _housing_order(app)
        ids = {}
        for unit in (OWN, OTHER):
            status, out = await app.json("POST", "/api/metrics/deductions", "supervisor",
                                         {**DEDUCTION, "unit": unit})
            assert status == 201 and out["unit"] == unit, out
            ids[unit] = out["id"]
        listing = f"/api/metrics/deductions?start={DAY}&period=week"
        for unit in (OWN, OTHER):
            status, out = await app.json("GET", listing, unit)
            assert status == 200
            assert [(d["id"], d["unit"]) for d in out["deductions"]] == [(ids[unit], unit)]
        status, out = await app.json("GET", listing, "supervisor")
        assert sorted(d["id"] for d in out["deductions"]) == sorted(ids.values())
        before = _rows(app)
        status, _ = await app.json("POST", f"/api/metrics/deductions/{ids[OWN]}/withdraw",
                                   OWN, {"reason": "不是我们的错"})
        assert status == 403
        # A unit naming another unit (or itself) in a deduction is refused at the gate.
        status, _ = await app.json("POST", "/api/metrics/deductions", OWN, DEDUCTION)
        assert status == 403
        for method, path, body in (
                ("GET", f"/api/units/{OTHER}/contacts", None),
                ("PUT", f"/api/units/{OTHER}/contacts",
                 {r: {"name": "冒名", "phone": "13800000000"} for r in ("lead", "A", "B")}),
                ("POST", f"/api/workorders/{oid}/reply-check", {
                    "parts": {"response": "已处理", "result": "已办结"}})):
            status, out = await app.json(method, path, OWN, body)
            assert status == 404, (method, path, status, out)
        assert _rows(app) == before


async def test_hostile_input_is_named_and_writes_nothing(tmp_path: Path,
                                                         redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        status, made = await app.json("POST", "/api/metrics/deductions", "supervisor",
                                      DEDUCTION)
        assert status == 201
        before = _rows(app)
        for body, field in (
                ({**DEDUCTION, "reason": "   "}, "reason"),
                ({**DEDUCTION, "reason": "理" * 501}, "reason"),
                ({**DEDUCTION, "unit": "x" * 65}, "unit"),
                ({**DEDUCTION, "unit": "dept-nowhere"}, "unit"),
                ({**DEDUCTION, "kind": "<script>alert(1)</script>"}, "kind"),
                ({**DEDUCTION, "occurred_on": "2026-02-30"}, "occurred_on"),
                ({**DEDUCTION, "occurred_on": "２０２６-06-01"}, "occurred_on"),
                ({**DEDUCTION, "order_id": 2**31}, "order_id"),
                ({**DEDUCTION, "order_id": "1"}, "order_id")):
            status, out = await app.json("POST", "/api/metrics/deductions", "supervisor", body)
            assert 400 <= status < 500 and out.get("field") == field, (body, status, out)
        for raw in ("²", "١", "0", "-1", "99999999999999999999", "1%2F..%2F2"):
            status, _ = await app.json("POST", f"/api/metrics/deductions/{raw}/withdraw",
                                       "supervisor", {"reason": "撤销"})
            assert status == 404, raw
        status, out = await app.json("POST", f"/api/metrics/deductions/{made['id']}/withdraw",
                                     "supervisor", {"reason": ""})
        assert status == 422 and out["field"] == "reason"
        for query, field in (("start=2026-06-02", "start"), ("start=' OR 1=1 --", "start"),
                             ("", "start")):
            status, out = await app.json("GET", f"/api/metrics/rising?{query}", "supervisor")
            assert status == 422 and out["field"] == field, (query, out)
        assert _rows(app) == before


async def test_the_gate_answers_a_stranger_before_the_url_check(tmp_path: Path,
                                                                   redis_url: str) -> None:
    """A NUL in a guarded route's query: 401 without a token or with an unknown one (a
    stranger learns nothing about the route), 400 naming the parameter for a supervisor
    (who may call it), nothing written either way."""
    async with composed(tmp_path, redis_url) as app:
        before = _rows(app)
        for path in ("/api/calls?x=%00", "/api/supervision/lights?unit=%00",
                     "/api/metrics/rising?start=%00"):
            resp = await app.client.get(path)
            assert resp.status == 401, (path, await resp.text())
            resp = await app.client.get(path, headers={"Authorization": "Bearer tok-nobody"})
            assert resp.status == 401, (path, await resp.text())
            status, out = await app.json("GET", path, "supervisor")
            assert status == 400 and "NUL" in out["error"], (path, status, out)
        assert _rows(app) == before


class RecordingSpy:
    """The telephony side of listening in, recording what it is asked (no Asterisk here)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, str, str]] = []
        self.stopped: list[str] = []

    async def start(self, call_id: str, agent_id: str, phone: str, mode: SpyMode) -> str:
        self.started.append((call_id, agent_id, phone, mode.value))
        return "spy-test"

    async def stop(self, phone: str) -> int:
        self.stopped.append(phone)
        return 1


async def test_a_supervisor_listens_only_with_the_phone_tied_to_them(
        tmp_path: Path, redis_url: str) -> None:
    """Supervisor sup1 is tied to phone 1002; agent 1001 talks on call 1764000000.7. A
    ``phone`` in the body is refused (422) and nothing rings; the phone that rings and the
    legs stopped are 1002's; hostile call ids are 404; a bearer supervisor has no phone
    (409)."""
    spy = RecordingSpy()
    async with composed(tmp_path, redis_url, spy=spy) as app:
        call_id = "1764000000.7"
        await app.distributor.agent_login("1001", {"general": 1}, group="call-taking")
        match = await app.distributor.enqueue(WaitingCall(call_id=call_id, line="12345",
                                                          skills=("general",),
                                                          caller="13800138000"))
        assert match is not None and match.agent_id == "1001"
        await app.distributor.agent_answered(call_id, "1001")
        add_user(app.maker, "sup1", "supervisor", agent_id="1002")
        base = str(app.client.make_url("")).rstrip("/")
        path = f"{base}/api/calls/{call_id}/spy"
        status, out = await app.json("POST", f"/api/calls/{call_id}/spy", "supervisor",
                                     {"mode": "listen"})
        assert status == 409 and "no phone is tied to you" in out["error"]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as sup:
            h = {CSRF_HEADER: await sign_in(sup, base, "sup1")}
            for body in ({"mode": "listen", "phone": "1001"},
                         {"mode": "listen", "agent_id": "1002"}):
                async with sup.post(path, json=body, headers=h) as resp:
                    assert resp.status == 422, body
            for hostile in ("1.2%3BHangup", "%D9%A1.2", "..%2F..%2Fetc", "9" * 40,
                            "1764000000.8"):        # the last: well formed, not live
                async with sup.post(f"{base}/api/calls/{hostile}/spy",
                                    json={"mode": "listen"}, headers=h) as resp:
                    assert resp.status == 404, hostile
            assert spy.started == []
            async with sup.post(path, json={"mode": "whisper"}, headers=h) as resp:
                out = await resp.json()
                assert resp.status == 201, out
            assert spy.started == [(call_id, "1001", "1002", "whisper")]
            assert (out["phone"], out["agent_id"]) == ("1002", "1001")
            async with sup.delete(path, headers=h) as resp:
                assert resp.status == 200
            assert spy.stopped == ["1002"]


async def test_report_and_portal_pages_only_for_their_roles(tmp_path: Path,
                                                            redis_url: str) -> None:
    """Signed-in people (cookies, as pages are used): /reports and /reports/calls for
    supervisors, /unit and /unit/orders/{id} for unit handlers — another unit's order is
    'not found'; everyone else gets the 403 page."""
    async with composed(tmp_path, redis_url) as app:
        oid = _housing_order(app)
        people = {"sup": ("supervisor", None), "disp": ("dispatcher", None),
                  "op": ("operator", None), "cb": ("callback", None),
                  "own": ("unit", OWN), "housing": ("unit", OTHER)}
        for name, (role, unit) in people.items():
            add_user(app.maker, name, role, unit=unit,
                     agent_id="1001" if role == "operator" else None)
        pages = {"/reports": {"sup"}, f"/reports/calls?day={DAY}": {"sup"},
                 "/unit": {"own", "housing"}, f"/unit/orders/{oid}": {"housing"}}
        base = str(app.client.make_url("")).rstrip("/")
        for name in people:
            async with aiohttp.ClientSession(
                    cookie_jar=aiohttp.CookieJar(unsafe=True)) as person:
                csrf = await sign_in(person, base, name)
                for page, allowed in pages.items():
                    async with person.get(base + page, allow_redirects=False) as resp:
                        html = await resp.text()
                        if name in allowed:
                            assert resp.status == 200, (name, page, resp.status, html[:300])
                        elif name == "own" and page.startswith("/unit/orders/"):
                            assert resp.status == 404 and "未找到" in html, (name, page)
                        else:
                            assert resp.status == 403, (name, page, resp.status)
                # A page's session cookie does not stand in for the CSRF token.
                async with person.post(base + "/api/metrics/deductions",
                                       json=DEDUCTION) as resp:
                    assert resp.status == 403, name
                assert csrf
        assert _rows(app)[1] == 0
