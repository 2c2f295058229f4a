"""The unit portal (承办单位工作台) on the composed API (migrated SQLite, real redis-server,
the core's route list, gaotai preset, clock at 2026-06-08 09:00): who may open its pages
and routes, what a unit sees of its orders (only its own; masked numbers; no caller and no
recording of a confidential order), the filters, the reply check before submit (nothing
recorded), the unit's liaisons that the reminder calls dial, and hostile input."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hotline_core.access import Principal, Role
from hotline_core.workorders import desk
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.model import WorkOrderEvent
from hotline_core.workorders.presets import Category, ReplyPart, SatisfactionLevel, load_preset
from hotline_core.workorders.replies import ReplyDraft
from testkit.people import add_user, sign_in
from tests.security.composed import Composed, composed

UNIT, OTHER = "town-chengguan", "dept-housing"
CITIZEN, MASKED = "13912340001", "139****0001"      # mask_phone keeps 3 + 4
SECRET = "13712349999"                               # the confidential order's caller
RECORDING = "/var/spool/secret-recording-77.wav"
DISPATCHER = Principal(name="dispatcher", role=Role.DISPATCHER)
OPERATOR = Principal(name="1001", role=Role.OPERATOR)


def _desk(day: datetime) -> DeskSettings:
    return DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                        clock=lambda: day)


def _order(app: Composed, lead: str, *, day: datetime = datetime(2026, 6, 8, 9, 0),
           caller: str = CITIZEN, confidential: bool = False, matter: str = "噪声扰民",
           sign: bool = False) -> int:
    """An order taken and dispatched to ``lead`` as an operator and a dispatcher would, on
    ``day`` (the hotline's wall clock)."""
    cfg = _desk(day)
    with app.maker() as s, s.begin():
        order = desk.create_order(s, cfg, OPERATOR, Intake(
            channel="web", category=Category.COMPLAINT, description="夜间施工噪声扰民",
            caller_number=caller, caller_name="张三丰", matter=matter,
            confidential=confidential, locality="城关镇", new_information=True)).order
        desk.dispatch(s, cfg, DISPATCHER, order.id, lead=lead, reason="属地管理")
        if confidential:
            order.recording = RECORDING   # as a call would have linked it
        if sign:
            desk.sign_off(s, cfg, Principal(name="u", role=Role.UNIT, unit=lead), order.id)
        return order.id


def _events(app: Composed, order_id: int) -> int:
    with app.maker() as s:
        return s.scalar(select(func.count()).select_from(WorkOrderEvent)
                        .where(WorkOrderEvent.order_id == order_id)) or 0


async def _signed_in(app: Composed, name: str, role: str, unit: str | None = None) -> str:
    add_user(app.maker, name, role, unit=unit,
             agent_id="1001" if role == "operator" else None)
    return await sign_in(app.client, "", name)


async def _page(app: Composed, path: str) -> tuple[int, str]:
    resp = await app.client.get(path, allow_redirects=False)
    return resp.status, await resp.text()


def _ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'<tr data-order="(\d+)"', html)}


async def test_who_may_open_the_portal(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        mine = _order(app, UNIT)
        # Not signed in: the sign-in page, and back after; the API answers 401.
        for path in ("/unit", f"/unit/orders/{mine}"):
            resp = await app.client.get(path, allow_redirects=False)
            assert resp.status == 302 and resp.headers["Location"].startswith("/signin?next=")
        for method, path in (("POST", f"/api/workorders/{mine}/reply-check"),
                             ("GET", f"/api/units/{UNIT}/contacts"),
                             ("PUT", f"/api/units/{UNIT}/contacts")):
            resp = await app.client.request(method, path, json={})
            assert resp.status == 401, (method, path)
        # An operator (signed in): 403 on the pages, the check and the directory.
        await _signed_in(app, "op1", "operator")
        status, html = await _page(app, "/unit")
        assert status == 403 and "operator" in html
        status, _ = await _page(app, f"/unit/orders/{mine}")
        assert status == 403
        status, _ = await app.json("POST", f"/api/workorders/{mine}/reply-check", "1001",
                                   {"parts": {"response": "x"}})
        assert status == 403
        status, _ = await app.json("GET", f"/api/units/{UNIT}/contacts", "1001")
        assert status == 403


async def test_a_unit_sees_its_own_orders_masked_and_filtered(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        green = _order(app, UNIT)
        # Received 2026-05-11 (Monday): 7 working days (gaotai complaint) end in May, so on
        # 2026-06-08 it is past due: red.
        red = _order(app, UNIT, day=datetime(2026, 5, 11, 9, 0), sign=True)
        # Received Thursday 2026-05-28: the 7th working day after it is Monday 2026-06-08
        # (May 29, Jun 1-5, Jun 8), so on 06-08 09:00 at most that day is left of about 11
        # calendar days: under gaotai's 25 %, yellow.
        yellow = _order(app, UNIT, day=datetime(2026, 5, 28, 9, 0), sign=True)
        secret = _order(app, UNIT, caller=SECRET, confidential=True)
        others = _order(app, OTHER)
        await _signed_in(app, "u-cg", "unit", UNIT)
        status, html = await _page(app, "/unit")
        assert status == 200
        assert _ids(html) == {green, red, yellow, secret}  # never dept-housing's order
        assert MASKED in html and CITIZEN not in html
        assert SECRET not in html and SECRET[-4:] not in html and "保密" in html
        assert "城关镇人民政府" in html                      # the unit's name
        # Filters: light, status, grade.
        assert _ids((await _page(app, "/unit?light=red"))[1]) == {red}
        assert _ids((await _page(app, "/unit?light=green&status="))[1]) == {green, secret}
        assert _ids((await _page(app, "/unit?light=yellow"))[1]) == {yellow}
        assert _ids((await _page(app, "/unit?status=handling"))[1]) == {red, yellow}
        # Every order is A until graded otherwise (C/D derived); a supervisor grades one B.
        status, _ = await app.json("POST", f"/api/workorders/{green}/grade", "supervisor",
                                   {"grade": "B"})
        assert status == 200
        assert _ids((await _page(app, "/unit?grade=B"))[1]) == {green}
        assert _ids((await _page(app, "/unit?grade=A"))[1]) == {red, yellow, secret}
        assert _ids((await _page(app, "/unit?grade=D"))[1]) == set()
        # The confidential order's detail: no caller, no recording, no name.
        status, html = await _page(app, f"/unit/orders/{secret}")
        assert status == 200 and "保密工单" in html
        for leak in (SECRET, SECRET[-4:], "张", RECORDING, "secret-recording"):
            assert leak not in html, leak
        # Another unit's order, a missing one and a malformed id: the same "not found".
        for path in (f"/unit/orders/{others}", "/unit/orders/999999",
                     "/unit/orders/abc", "/unit/orders/" + "9" * 40):
            status, html = await _page(app, path)
            assert status == 404 and "未找到" in html, path
            assert "噪声扰民" not in html
        # Bad filters: 422 pages naming the field.
        for query, field in (("status=bogus", "status"), ("grade=E", "grade"),
                             ("light=<script>", "light")):
            status, html = await _page(app, f"/unit?{query}")
            assert status == 422 and field in html, query
            assert "<script>" not in html


async def test_reply_check_names_missing_parts_and_records_nothing(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        mine = _order(app, UNIT, sign=True)
        others = _order(app, OTHER, sign=True)
        before = _events(app, mine)
        path = f"/api/workorders/{mine}/reply-check"
        # gaotai asks for the response and the result (presets/gaotai.toml [reply]).
        status, body = await app.json("POST", path, UNIT, {"parts": {"response": "已处理。"}})
        assert status == 200 and body["accepted"] is False
        assert body["missing"] == ["result"]
        assert body["problems"] == ["missing result (办理结果)"]
        status, body = await app.json("POST", path, UNIT, {
            "parts": {"response": "", "result": ""}})
        assert status == 200 and body["missing"] == ["response", "result"]
        status, body = await app.json("POST", path, UNIT, {"parts": {
            "response": "已联系施工方。", "result": "夜间已停工。"}})
        assert status == 200 and body == {"accepted": True, "problems": [], "missing": []}
        assert _events(app, mine) == before                 # a check records nothing
        # Another unit's order: 404 as if missing; hostile bodies: 4xx naming the field.
        status, body = await app.json("POST", f"/api/workorders/{others}/reply-check", UNIT,
                                      {"parts": {"response": "x"}})
        assert status == 404 and "does not exist" in body["error"]
        status, body = await app.json("POST", path, UNIT, {"parts": {"bogus": "x"}})
        assert status == 422 and body["field"].startswith("parts")
        status, body = await app.json("POST", path, UNIT, {"parts": {}})
        assert status == 422 and body["field"] == "parts"
        status, _ = await app.json("POST", "/api/workorders/abc/reply-check", UNIT,
                                   {"parts": {"response": "x"}})
        assert status == 404
        # The unit's commands on another unit's order also answer "does not exist".
        status, body = await app.json("POST", f"/api/workorders/{others}/return", UNIT,
                                      {"reason": "不属于本单位"})
        assert status == 404 and "does not exist" in body["error"]


async def test_a_return_reason_is_shown_escaped_and_bounded(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        mine = _order(app, UNIT)
        csrf = await _signed_in(app, "u-cg", "unit", UNIT)
        headers = {"X-CSRF-Token": csrf}
        too_long = await app.client.post(f"/api/workorders/{mine}/return", headers=headers,
                                         json={"reason": "x" * 10_001})
        assert too_long.status == 422 and (await too_long.json())["field"] == "reason"
        hostile = "<script>alert(1)</script>不属于本单位"
        resp = await app.client.post(f"/api/workorders/{mine}/return", headers=headers,
                                     json={"reason": hostile})
        assert resp.status == 200
        status, html = await _page(app, f"/unit/orders/{mine}")
        assert status == 200
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;不属于本单位" in html
        # Returned: still listed (as no longer active), no action left for the unit.
        assert 'id="no-action"' in html
        assert mine in _ids((await _page(app, "/unit"))[1])


async def test_the_unit_keeps_its_liaisons_and_reminders_call_them(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        red = _order(app, UNIT, day=datetime(2026, 5, 11, 9, 0), sign=True)
        csrf = await _signed_in(app, "u-cg", "unit", UNIT)
        headers = {"X-CSRF-Token": csrf}
        url = f"/api/units/{UNIT}/contacts"
        resp = await app.client.get(url)
        body: dict[str, Any] = await resp.json()
        # config/units.sample.csv: 王镇长 lead, 李联络 A, 赵联络 B.
        assert resp.status == 200 and [(c["role"], c["name"]) for c in body["contacts"]] \
            == [("lead", "王镇长"), ("A", "李联络"), ("B", "赵联络")]
        new = {"lead": {"name": "王镇长", "phone": "09366600001"},
               "A": {"name": "钱新A", "phone": "13900000111"},
               "B": {"name": "孙新B", "phone": "13900000222"}}
        # Without the CSRF header: refused. A bad phone: 422 naming it, nothing written.
        resp = await app.client.put(url, json=new)
        assert resp.status == 403
        bad = {**new, "B": {"name": "孙新B", "phone": "139-0000"}}
        resp = await app.client.put(url, json=bad, headers=headers)
        assert resp.status == 422 and (await resp.json())["field"] == "B.phone"
        resp = await app.client.put(url, json={**new, "A": {"name": " ", "phone": "139"}},
                                    headers=headers)
        assert resp.status == 422
        assert [c["name"] for c in (await (await app.client.get(url)).json())["contacts"]] \
            == ["王镇长", "李联络", "赵联络"]
        # Another unit's directory: as if it did not exist, read or write.
        assert (await app.client.get(f"/api/units/{OTHER}/contacts")).status == 404
        resp = await app.client.put(f"/api/units/{OTHER}/contacts", json=new, headers=headers)
        assert resp.status == 404
        resp = await app.client.put(url, json=new, headers=headers)
        assert resp.status == 200
        # The portal shows them; supervision's reminder names the new A and B for the call.
        assert "钱新A" in (await _page(app, "/unit"))[1]
        status, run = await app.json("POST", "/api/supervision/run", "supervisor")
        assert status == 200 and red in run["reminders"]
        with app.maker() as s:
            reminder = s.scalars(select(WorkOrderEvent).where(
                WorkOrderEvent.order_id == red, WorkOrderEvent.kind == "reminder")).one()
        assert [(c["role"], c["phone"]) for c in reminder.data["call"]] == [
            ("A", "13900000111"), ("B", "13900000222")]
        # The supervisor reads any unit's directory.
        status, body = await app.json("GET", f"/api/units/{OTHER}/contacts", "supervisor")
        assert status == 200 and body["unit"] == OTHER


async def test_flags_and_the_actions_each_status_allows(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        waiting = _order(app, UNIT)                 # dispatched, not signed: sign or return
        working = _order(app, UNIT, sign=True)      # signed: reply, extend or return
        redo = _order(app, UNIT, sign=True)
        twice = _order(app, UNIT, sign=True)
        cfg = _desk(datetime(2026, 6, 8, 9, 0))
        unit = Principal(name="u", role=Role.UNIT, unit=UNIT)
        callback = Principal(name="cb", role=Role.CALLBACK)
        draft = ReplyDraft(parts={ReplyPart.RESPONSE: "已联系施工方。",
                                  ReplyPart.RESULT: "已停工。"})
        with app.maker() as s, s.begin():
            # Replied, rated 不满意 by the callback, sent back for a redo by the platform;
            # ``twice`` is unsatisfied after its redo too: the review form (审核反馈表) is due.
            for oid in (redo, twice):
                assert desk.reply(s, cfg, unit, oid, draft).accepted
                desk.evaluate(s, cfg, callback, oid, SatisfactionLevel.UNSATISFIED)
                desk.decide_review(s, cfg, DISPATCHER, oid, redo=True, reason="群众要求重办")
            assert desk.reply(s, cfg, unit, twice, draft).accepted
            desk.evaluate(s, cfg, callback, twice, SatisfactionLevel.UNSATISFIED)
        csrf = await _signed_in(app, "u-cg", "unit", UNIT)
        html = (await _page(app, "/unit"))[1]
        row = re.search(rf'<tr data-order="{redo}".*?</tr>', html, re.S)
        assert row is not None
        assert "flag-unsatisfied" in row[0] and "不满意" in row[0] and "flag-redo" in row[0]
        plain = re.search(rf'<tr data-order="{working}".*?</tr>', html, re.S)
        assert plain is not None and "flag-" not in plain[0]
        # Which forms each order's page offers.
        expected = {waiting: {"btn-sign-off", "return-form"},
                    working: {"return-form", "extension-form", "reply-form"},
                    redo: {"extension-form", "reply-form"}, twice: {"review-form"}}
        for oid, forms in expected.items():
            page = (await _page(app, f"/unit/orders/{oid}"))[1]
            shown = {f for f in ("btn-sign-off", "return-form", "extension-form",
                                 "reply-form", "review-form") if f'id="{f}"' in page}
            assert shown == forms, oid
        # The extension form's request, as the page sends it (session + CSRF): gaotai
        # asks for the reasons; the request is recorded.
        url = f"/api/workorders/{working}/extension"
        resp = await app.client.post(url, headers={"X-CSRF-Token": csrf},
                                     json={"new_due_at": "2026-06-30T17:00:00", "reason": ""})
        assert resp.status == 422 and (await resp.json())["field"] == "reason"
        # gaotai allows at most 14 working days from receipt (06-08 → 06-29): 06-22 is in.
        resp = await app.client.post(url, headers={"X-CSRF-Token": csrf}, json={
            "new_due_at": "2026-06-22T17:00:00", "reason": "需协调多个部门", "signed_by": "王镇长"})
        body = await resp.json()
        assert resp.status == 200, body
        page = (await _page(app, f"/unit/orders/{working}"))[1]
        assert 'data-kind="extension_requested"' in page and "需协调多个部门" in page
        resp = await app.client.post(f"/api/workorders/{twice}/review-form",
                                     headers={"X-CSRF-Token": csrf},
                                     json={"signer": "王镇长", "text": "已两次上门核实。"})
        assert resp.status == 200, await resp.text()
        page = (await _page(app, f"/unit/orders/{twice}"))[1]
        assert 'data-kind="review_form_filed"' in page and 'id="review-form"' not in page
