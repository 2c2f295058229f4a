"""The worklist routes (web/worklists) on the composed API (every route module, the access
gate, sign-in, migrated SQLite, real redis-server): who may call them (401 without a
token, 403 for another role, a unit cannot review its own return), hostile input (bad
ids, blank and over-long reasons, unknown decisions: 4xx naming the field, nothing
written), 409 for a decision on an order that waits for none, and the happy paths.

Expected values are from the rules and the sample dispatch data, worked out here:
小区物业管理 is a territorial matter of dept-housing (住建局); without a place from the
gazetteer it goes to dept-housing itself (config/responsibility_list.sample.csv). The
composed desk's clock stands at Monday 2026-06-08 09:00 (Asia/Shanghai); gaotai's
callback window is 24 hours after the reply ([callback] limit), so a reply at 09:00 has
24 × 3600 = 86400 s left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from hotline_core.access import Principal, Role
from hotline_core.workorders import desk
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.model import WorkOrderEvent
from hotline_core.workorders.presets import Category, ReplyPart, load_preset
from hotline_core.workorders.replies import ReplyDraft
from testkit.people import DEFAULT_PASSWORD, add_user
from tests.security.composed import Composed, composed

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
HOUSING = Principal("housing", Role.UNIT, "dept-housing")
LISTS = ("dispatch", "quality", "callback", "monitoring", "supervision")
REPLY = ReplyDraft({ReplyPart.RESPONSE: "已到小区现场了解情况。",
                    ReplyPart.RESULT: "已约谈物业公司整改。电梯已恢复运行。"})


def _settings() -> DeskSettings:
    from datetime import datetime

    from hotline_core.workorders.calendar import ChineseWorkingCalendar
    return DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                        clock=lambda: datetime(2026, 6, 8, 9, 0))


def _order(app: Composed, *, signed: bool = True, returned: bool = True,
           replied: bool = False) -> int:
    cfg = _settings()
    with app.maker.begin() as s:
        oid = desk.create_order(s, cfg, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="小区电梯停运",
            matter="小区物业管理")).order.id
        desk.dispatch(s, cfg, DISPATCHER, oid)
        if signed:
            desk.sign_off(s, cfg, HOUSING, oid)
        if returned:
            desk.return_order(s, cfg, HOUSING, oid, "电梯维保属市场监管局")
        if replied:
            assert desk.reply(s, cfg, HOUSING, oid, REPLY).accepted
    return oid


def _events(app: Composed, oid: int) -> int:
    with app.maker() as s:
        return int(s.scalar(select(func.count()).select_from(WorkOrderEvent)
                            .where(WorkOrderEvent.order_id == oid)) or 0)


async def _anonymous(app: Composed, method: str, path: str, body: Any = None) -> int:
    async with aiohttp.ClientSession() as anon:
        url = app.client.make_url(path)
        async with anon.request(method, url, json=body) as resp:
            return resp.status


async def test_who_may_call_the_worklists(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        oid = _order(app)
        for name in LISTS:
            assert await _anonymous(app, "GET", f"/api/worklists/{name}") == 401
            status, _ = await app.json("GET", f"/api/worklists/{name}", "supervisor")
            assert status == 200, name
        for path in (f"/api/workorders/{oid}/return-review",
                     f"/api/workorders/{oid}/quality-check"):
            assert await _anonymous(app, "POST", path, {"decision": "refuse"}) == 401
        refused = {
            ("GET", "/api/worklists/dispatch"): ("town-chengguan", "1001", "callback"),
            ("GET", "/api/worklists/quality"): ("dispatcher", "dept-housing", "callback"),
            ("GET", "/api/worklists/callback"): ("dispatcher", "1001", "town-chengguan"),
            ("GET", "/api/worklists/monitoring"): ("callback", "dept-housing"),
            ("GET", "/api/worklists/supervision"): ("dispatcher", "callback"),
            ("POST", f"/api/workorders/{oid}/quality-check"): ("dispatcher", "dept-housing"),
        }
        for (method, path), names in refused.items():
            for who in names:
                status, body = await app.json(method, path, who, {"decision": "approve"})
                assert status == 403, (path, who, body)
        # The unit that returned the order cannot decide on its own return.
        status, _ = await app.json("POST", f"/api/workorders/{oid}/return-review",
                                   "dept-housing", {"decision": "refuse", "reason": "自己驳回"})
        assert status == 403
        assert _events(app, oid) == 4   # created, dispatched, signed_off, returned


async def test_return_review_accept_refuse_and_hostile_input(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        first, second = _order(app), _order(app, signed=False)
        status, lists = await app.json("GET", "/api/worklists/dispatch", "dispatcher")
        assert status == 200
        returns = {r["order"]["id"]: r for r in lists["returns"]}
        assert set(returns) == {first, second}
        assert returns[first]["returned_by"] == "dept-housing"
        assert returns[first]["reason"] == "电梯维保属市场监管局"
        assert first not in [n["order"]["id"] for n in lists["new"]]
        review = f"/api/workorders/{first}/return-review"
        before = _events(app, first)
        for body, field in (({"decision": "refuse", "reason": "   "}, "reason"),
                            ({"decision": "refuse", "reason": "长" * 501}, "reason"),
                            ({"decision": "refuse"}, "reason"),
                            ({"decision": "maybe", "reason": "x"}, "decision"),
                            ({"decision": "accept", "lead": "x" * 65, "reason": "r"}, "lead"),
                            # auto routing names the returning unit again
                            ({"decision": "accept"}, "lead"),
                            ({"decision": "accept", "lead": "dept-housing", "reason": "r"},
                             "lead"),
                            ({"decision": "accept", "lead": "no-such-unit", "reason": "r"},
                             "lead"),
                            ({"decision": "accept", "lead": "town-chengguan"}, "reason")):
            status, answer = await app.json("POST", review, "dispatcher", body)
            assert status == 422, (body, answer)
            assert answer["field"] == field, (body, answer)
        for bad in ("abc", "0", "99999", "1%20OR%201=1", "-1"):
            status, _ = await app.json("POST", f"/api/workorders/{bad}/return-review",
                                       "dispatcher", {"decision": "refuse", "reason": "r"})
            assert status == 404, bad
        assert _events(app, first) == before
        # Accept: re-dispatched (改派) to the town, which now sees it; the housing bureau
        # keeps read access to the history only.
        status, done = await app.json("POST", review, "dispatcher", {
            "decision": "accept", "lead": "town-chengguan", "reason": "属地管理"})
        assert status == 200, done
        assert (done["status"], done["lead_unit"], done["return_waiting"]) == (
            "dispatched", "town-chengguan", False)
        status, seen = await app.json("GET", "/api/workorders?status=dispatched",
                                      "town-chengguan")
        assert first in [o["id"] for o in seen["orders"]]
        # Nothing waits for review any more: 409 for either decision.
        for body in ({"decision": "refuse", "reason": "晚了"},
                     {"decision": "accept", "lead": "dept-market", "reason": "r"}):
            status, answer = await app.json("POST", review, "dispatcher", body)
            assert status == 409, answer
        # Refuse the second (never signed): back to dept-housing, to sign within 1 hour.
        status, done = await app.json("POST", f"/api/workorders/{second}/return-review",
                                      "supervisor", {"decision": "refuse",
                                                     "reason": "物业管理属住建局职责"})
        assert status == 200, done
        assert (done["status"], done["lead_unit"]) == ("dispatched", "dept-housing")
        status, mine = await app.json("GET", f"/api/workorders/{second}", "dept-housing")
        assert (status, mine["status"], mine["sign_due_at"]) == (
            200, "dispatched", "2026-06-08T10:00:00+08:00")
        # Another unit learns nothing of it (R-PRIVACY: a unit sees only its own orders).
        status, _ = await app.json("GET", f"/api/workorders/{second}", "town-chengguan")
        assert status == 404
        status, events = await app.json("GET", f"/api/workorders/{second}/events",
                                        "dept-housing")
        assert events["events"][-1]["kind"] == "return_refused"
        assert events["events"][-1]["data"]["reason"] == "物业管理属住建局职责"
        status, lists = await app.json("GET", "/api/worklists/dispatch", "dispatcher")
        assert lists["returns"] == []


async def test_quality_check_and_callback_list(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        oid = _order(app, returned=False, replied=True)
        add_user(app.maker, "qc1", "quality")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as qc:
            base = str(app.client.make_url("")).rstrip("/")
            async with qc.post(f"{base}/api/session", json={
                    "user": "qc1", "password": DEFAULT_PASSWORD}) as resp:
                assert resp.status == 200
                csrf = (await resp.json())["csrf_token"]
            async with qc.get(f"{base}/api/worklists/quality") as resp:
                listed = await resp.json()
            assert [r["order"]["id"] for r in listed["replies"]] == [oid]
            row = listed["replies"][0]
            assert row["findings"] == [] and row["replied_by"] == "dept-housing"
            assert {p["part"] for p in row["parts"]} == {"response", "result"}
            check = f"{base}/api/workorders/{oid}/quality-check"
            async with qc.post(check, json={"decision": "approve"}) as resp:
                assert resp.status == 403   # no CSRF header
            headers = {"X-CSRF-Token": csrf}
            for body, field in (({"decision": "send_back", "reason": ""}, "reason"),
                                ({"decision": "send_back", "reason": "长" * 501}, "reason"),
                                ({"decision": "approve!"}, "decision")):
                async with qc.post(check, json=body, headers=headers) as resp:
                    answer = await resp.json()
                    assert (resp.status, answer["field"]) == (422, field), body
            async with qc.post(f"{base}/api/workorders/abc/quality-check",
                               json={"decision": "approve"}, headers=headers) as resp:
                assert resp.status == 404
            assert _events(app, oid) == 4   # created, dispatched, signed_off, replied
            async with qc.post(check, json={"decision": "approve"}, headers=headers) as resp:
                done = await resp.json()
                assert (resp.status, done["quality_approved"], done["status"]) == (
                    200, True, "replied")
            async with qc.post(check, json={"decision": "send_back", "reason": "r"},
                               headers=headers) as resp:
                assert resp.status == 409
        # The callback group sees it with its window: 24 h from the 09:00 reply.
        status, calls = await app.json("GET", "/api/worklists/callback", "callback")
        assert status == 200
        (row,) = calls["orders"]
        assert (row["order"]["id"], row["seconds_left"], row["quality_approved"]) == (
            oid, 86400, True)
        assert row["callback_due_at"] == "2026-06-09T09:00:00+08:00"
        assert row["automated"] == ""   # no dialer in this composition: nothing queued yet


# Who may open which page (R-SEATS groups; supervisors oversee every list).
MAY_OPEN = {
    "dispatcher": {"dispatch", "monitoring"}, "quality": {"quality"},
    "callback": {"callback"}, "unit": set(),
    "supervisor": {"dispatch", "quality", "callback", "monitoring", "supervision"},
}
TITLES = {"dispatch": "派单工作台", "quality": "质检工作台", "callback": "回访工作台",
          "monitoring": "工单监测池", "supervision": "督办工作台"}


async def test_worklist_pages_need_a_signed_in_person_of_their_role(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        base = str(app.client.make_url("")).rstrip("/")
        for role in MAY_OPEN:
            add_user(app.maker, f"p-{role}", role,
                     unit="dept-housing" if role == "unit" else None)
        async with aiohttp.ClientSession() as anon:
            for page in TITLES:
                async with anon.get(f"{base}/work/{page}", allow_redirects=False) as resp:
                    assert resp.status == 302
                    assert resp.headers["Location"] == f"/signin?next=/work/{page}"
        # A bearer token is for machines: the page asks it to sign in too.
        resp = await app.client.get("/work/supervision", headers={
            "Authorization": "Bearer tok-supervisor"}, allow_redirects=False)
        assert resp.status == 302
        for role, pages in MAY_OPEN.items():
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                async with http.post(f"{base}/api/session", json={
                        "user": f"p-{role}", "password": DEFAULT_PASSWORD}) as resp:
                    assert resp.status == 200
                for page, title in TITLES.items():
                    async with http.get(f"{base}/work/{page}",
                                        allow_redirects=False) as resp:
                        html = await resp.text()
                    assert resp.status == (200 if page in pages else 403), (role, page)
                    if page in pages:
                        assert title in html and 'lang="zh-CN"' in html
                        assert f'data-list="{page}"' in html
