"""The whole life of work orders through the HTTP API, on SQLite and PostgreSQL.

Deadlines are worked out here from the gaotai preset (complaint: 7 working days; sign-off
1 h; return 3 h after sign-off; extension up to 14 working days from receipt; redo with
the original limit) and the 2026 calendar: 06-19..06-21 is the 端午 holiday.
"""

from __future__ import annotations

from datetime import date, datetime

from hotline_core.workorders.calendar import ChineseWorkingCalendar
from tests.workorders.conftest import Api, Clock

NEW = "/api/workorders"


def complaint(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "channel": "phone", "call_record_id": "call-0001",
        "category": "complaint", "caller_number": "13812345678", "caller_name": "张三",
        "description": "南关村村口垃圾堆放一个多月无人清运, 气味很大",
        "locality": "南关村", "address": "城关镇南关村村口", "matter": "农村人居环境整治",
    }
    body.update(over)
    return body


async def test_calendar_facts_the_expectations_rely_on(calendar: ChineseWorkingCalendar) -> None:
    assert calendar.is_working_day(date(2026, 6, 18))
    assert not any(calendar.is_working_day(date(2026, 6, d)) for d in (19, 20, 21))
    assert calendar.is_working_day(date(2026, 6, 22))


async def test_full_lifecycle_return_dual_dispatch_extension_redo(api: Api, clock: Clock) -> None:
    # 1. Intake on Monday 2026-06-08 09:00 from a call.
    status, out = await api.post(NEW, "operator", complaint())
    assert status == 201 and out["created"] is True
    order = out["order"]
    oid = order["id"]
    assert order["status"] == "pending_dispatch"
    # 7 working days: 06-09,10,11,12,15,16,17 → Wednesday 06-17 09:00.
    assert order["due_at"] == "2026-06-17T09:00:00+08:00"
    assert order["caller_number"] == "138****5678"  # the operator sees it masked
    assert order["call_record_id"] == "call-0001"

    # 2. The dispatcher first sends it (wrongly) to the market regulator, by hand.
    clock.set(datetime(2026, 6, 8, 9, 10))
    status, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher",
                                 {"lead": "dept-market", "reason": "疑似食品经营垃圾"})
    assert status == 200 and out["status"] == "dispatched" and out["lead_unit"] == "dept-market"
    assert out["sign_due_at"] == "2026-06-08T10:10:00+08:00"  # 1 clock hour

    # 3. The market regulator signs at 09:40 and returns it at 11:00 (< 3 h) with its reason.
    clock.set(datetime(2026, 6, 8, 9, 40))
    status, out = await api.post(f"{NEW}/{oid}/sign-off", "dept-market")
    assert status == 200 and out["status"] == "handling"
    clock.set(datetime(2026, 6, 8, 11, 0))
    status, out = await api.post(f"{NEW}/{oid}/return", "dept-market", {"reason": ""})
    assert status == 422 and out["field"] == "reason"  # gaotai: a return states its reason
    status, out = await api.post(f"{NEW}/{oid}/return", "dept-market",
                                 {"reason": "属于村庄环境卫生, 非本局职责",
                                  "suggested_unit": "town-chengguan"})
    assert status == 200 and out["status"] == "pending_dispatch" and out["lead_unit"] is None
    # Having returned it, the regulator can no longer act on it.
    status, out = await api.post(f"{NEW}/{oid}/sign-off", "dept-market")
    assert status in (403, 409)

    # 4. Automatic dispatch: territorial + complex matter → town leads, housing assists.
    clock.set(datetime(2026, 6, 8, 11, 30))
    status, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    assert status == 200, out
    assert out["lead_unit"] == "town-chengguan"
    roles = {(a["unit"], a["role"], a["active"]) for a in out["assignments"]}
    assert ("town-chengguan", "lead", True) in roles
    assert ("dept-housing", "assist", True) in roles
    assert ("dept-market", "lead", False) in roles
    _, ev = await api.get(f"{NEW}/{oid}/events", "supervisor")
    dispatched = [e for e in ev["events"] if e["kind"] == "dispatched"][-1]
    assert any("属地管理优先" in r for r in dispatched["data"]["reasons"])
    assert any("双派" in r for r in dispatched["data"]["reasons"])

    # 5. Both units sign; only the lead moves the order to handling; an assist may not reply.
    clock.set(datetime(2026, 6, 8, 12, 0))
    status, out = await api.post(f"{NEW}/{oid}/sign-off", "dept-housing")
    assert status == 200 and out["status"] == "dispatched"
    status, out = await api.post(f"{NEW}/{oid}/sign-off", "town-chengguan")
    assert status == 200 and out["status"] == "handling"
    status, out = await api.post(f"{NEW}/{oid}/sign-off", "town-chengguan")
    assert status == 409
    status, out = await api.post(f"{NEW}/{oid}/reply", "dept-housing",
                                 {"parts": {"response": "x", "result": "y"}})
    assert status == 403

    # 6. Extension: at most 14 working days from receipt (含原7个工作日).
    # 06-09..06-18 = 8 days, 06-22..06-26 = 5, 06-29 = the 14th → 06-29 09:00.
    clock.set(datetime(2026, 6, 15, 10, 0))
    status, out = await api.post(f"{NEW}/{oid}/extension", "town-chengguan",
                                 {"new_due_at": "2026-06-30T09:00:00", "reason": "需协调清运车辆"})
    assert status == 422 and "extension refused" in out["error"]
    status, out = await api.post(f"{NEW}/{oid}/extension", "town-chengguan",
                                 {"new_due_at": "2026-06-29T09:00:00", "reason": "需协调清运车辆"})
    assert status == 200 and out["due_at"] == "2026-06-17T09:00:00+08:00"  # not before approval
    status, out = await api.post(f"{NEW}/{oid}/extension/decision", "dispatcher",
                                 {"approve": True})
    assert status == 200 and out["due_at"] == "2026-06-29T09:00:00+08:00"
    assert out["grade"] == "C"  # extended orders are C and stay in the monitoring pool
    status, out = await api.post(f"{NEW}/{oid}/citizen-notice", "operator",
                                 {"about": "extension", "message": "办理期限延至6月29日",
                                  "channel": "sms"})
    assert status == 200

    # 7. Reply; the callback finds the citizen unsatisfied.
    clock.set(datetime(2026, 6, 24, 15, 0))
    good_reply = {"parts": {"response": "已于6月23日组织清运村口垃圾。",
                            "result": "垃圾已清运完毕, 设置了固定收集点。"},
                  "resolved": True}
    status, out = await api.post(f"{NEW}/{oid}/reply", "town-chengguan", good_reply)
    assert status == 200 and out["status"] == "replied"
    assert out["callback_due_at"] == "2026-06-25T15:00:00+08:00"  # 24 h after the result
    clock.set(datetime(2026, 6, 25, 10, 0))
    status, out = await api.post(f"{NEW}/{oid}/evaluation", "callback",
                                 {"level": "unsatisfied", "comment": "收集点离家太近"})
    assert status == 200 and out["status"] == "review" and out["grade"] == "D"

    # 8. Review → redo with the original limit (7 working days from the redo).
    # From Thu 06-25 11:00: 06-26, 29, 30, 07-01, 02, 03, 06 → 2026-07-06 11:00.
    clock.set(datetime(2026, 6, 25, 11, 0))
    status, out = await api.post(f"{NEW}/{oid}/review", "dispatcher",
                                 {"decision": "redo", "reason": "收集点选址未征求村民意见"})
    assert status == 200 and out["status"] == "redo" and out["redo_count"] == 1
    assert out["due_at"] == "2026-07-06T11:00:00+08:00"

    # 9. Second reply and second evaluation: satisfied, and that is the one that counts.
    clock.set(datetime(2026, 7, 1, 9, 0))
    status, out = await api.post(f"{NEW}/{oid}/reply", "town-chengguan", good_reply)
    assert status == 200 and out["status"] == "replied"
    status, out = await api.post(f"{NEW}/{oid}/evaluation", "callback", {"level": "satisfied"})
    assert status == 200 and out["status"] == "closed"
    assert out["evaluation"] == "satisfied" and out["closed_at"] == "2026-07-01T09:00:00+08:00"

    # The event stream tells the whole story, in order, each with who and when.
    _, ev = await api.get(f"{NEW}/{oid}/events", "supervisor")
    kinds = [e["kind"] for e in ev["events"]]
    assert kinds == [
        "created", "dispatched", "signed_off", "returned", "dispatched", "signed_off",
        "signed_off", "extension_requested", "extension_approved", "citizen_told", "replied",
        "evaluated", "review_decided", "replied", "evaluated",
    ]
    assert [e["seq"] for e in ev["events"]] == list(range(1, len(kinds) + 1))
    assert ev["events"][3]["actor_role"] == "unit" and ev["events"][3]["unit"] == "dept-market"
    assert all("caller_number" not in e["data"] for e in ev["events"])


async def test_second_unsatisfied_goes_to_review_and_unreasonable_leaves_the_score(
    api: Api, clock: Clock,
) -> None:
    _, out = await api.post(NEW, "operator", complaint(matter="噪声扰民", locality="乐三村",
                                                       description="夜间广场舞噪声"))
    oid = out["order"]["id"]
    _, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    assert out["lead_unit"] == "town-xuanhua" and out["status"] == "dispatched"
    await api.post(f"{NEW}/{oid}/sign-off", "town-xuanhua")
    reply_body = {"parts": {"response": "已协调广场舞团队调整时间。",
                            "result": "晚九点后停止活动。"}}
    for round_ in (1, 2):
        clock.advance(hours=2)
        status, out = await api.post(f"{NEW}/{oid}/reply", "town-xuanhua", reply_body)
        assert status == 200, out
        status, out = await api.post(f"{NEW}/{oid}/evaluation", "callback",
                                     {"level": "very_unsatisfied"})
        if round_ == 1:
            assert out["status"] == "review"
            await api.post(f"{NEW}/{oid}/review", "dispatcher",
                           {"decision": "redo", "reason": "再协调"})
    assert out["status"] == "review_form"
    # Only one redo under gaotai.
    status, out = await api.post(f"{NEW}/{oid}/review", "dispatcher",
                                 {"decision": "redo", "reason": "again"})
    assert status == 409
    status, out = await api.post(f"{NEW}/{oid}/review-form", "town-xuanhua",
                                 {"signer": "刘镇长", "text": "已依法依规处理, 诉求人要求取缔广场"})
    assert status == 200 and out["status"] == "review_form"
    status, out = await api.post(f"{NEW}/{oid}/review-conclusion", "supervisor",
                                 {"outcome": "unreasonable", "reason": "要求超出政策",
                                  "panel": "社会评议第4期"})
    assert status == 200 and out["status"] == "closed"
    assert out["excluded_from_score"] is True and out["grade"] == "A"


async def test_not_accepted_is_recorded_with_reason_and_proper_channel(api: Api) -> None:
    status, out = await api.post(NEW, "operator", complaint(
        matter="", not_accepted={"reason": "legal_procedure", "note": "已起诉"}))
    assert status == 201 and out["order"]["status"] == "not_accepted"
    _, ev = await api.get(f"{NEW}/{out['order']['id']}/events", "supervisor")
    last = ev["events"][-1]
    assert last["kind"] == "not_accepted"
    assert "诉讼" in last["data"]["label"] and last["data"]["proper_channel"]


async def test_duplicates_link_to_the_open_order_unless_something_is_new(api: Api) -> None:
    _, first = await api.post(NEW, "operator", complaint())
    oid = first["order"]["id"]
    # Same caller, same matter, still open → linked, no new order.
    status, out = await api.post(NEW, "operator", complaint(call_record_id="call-0002",
                                                            locality="", address=""))
    assert status == 200 and out["created"] is False and out["duplicate_of"] == oid
    # Another caller about the same place and matter → also the same order.
    status, out = await api.post(NEW, "operator", complaint(call_record_id="call-0003",
                                                            caller_number="13900001111"))
    assert status == 200 and out["duplicate_of"] == oid
    # The caller brings something new → a new order.
    status, out = await api.post(NEW, "operator", complaint(call_record_id="call-0004",
                                                            new_information=True))
    assert status == 201 and out["order"]["id"] != oid
    _, listing = await api.get(NEW, "supervisor")
    assert len(listing["orders"]) == 2
    _, ev = await api.get(f"{NEW}/{oid}/events", "supervisor")
    assert [e["kind"] for e in ev["events"]].count("duplicate_linked") == 2


async def test_leader_approval_before_dispatch(api: Api, clock: Clock) -> None:
    _, out = await api.post(NEW, "operator", complaint(
        category="report", matter="燃气安全隐患", locality="明永社区",
        description="小区燃气管道锈蚀漏气"))
    oid = out["order"]["id"]
    status, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    assert status == 200 and out["status"] == "awaiting_approval" and out["lead_unit"] is None
    status, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    assert status == 409
    status, out = await api.post(f"{NEW}/{oid}/approval", "dispatcher",
                                 {"leader": "副县长", "instruction": "请城关镇牵头立即排查"})
    assert status == 200 and out["leader_instruction"] is True
    status, out = await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    assert status == 200 and out["status"] == "dispatched"
    assert out["lead_unit"] == "town-nanhua"


async def test_refused_reply_names_every_problem_and_changes_nothing_else(api: Api) -> None:
    _, out = await api.post(NEW, "operator", complaint(matter="道路破损", locality=""))
    oid = out["order"]["id"]
    await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    await api.post(f"{NEW}/{oid}/sign-off", "dept-transport")
    status, out = await api.post(f"{NEW}/{oid}/reply", "dept-transport",
                                 {"parts": {"response": ""}})
    assert status == 422
    assert any("result" in p for p in out["problems"])
    assert any("response" in p for p in out["problems"])
    _, detail = await api.get(f"{NEW}/{oid}", "supervisor")
    assert detail["status"] == "handling"
    _, ev = await api.get(f"{NEW}/{oid}/events", "supervisor")
    assert ev["events"][-1]["kind"] == "reply_refused"


async def test_supervision_reminds_ab_liaisons_then_starts_special_supervision(
    api: Api, clock: Clock,
) -> None:
    _, out = await api.post(NEW, "operator", complaint(matter="道路破损", category="consult",
                                                       locality=""))
    oid = out["order"]["id"]
    await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    await api.post(f"{NEW}/{oid}/sign-off", "dept-transport")
    # consult: 1 working day → due Tuesday 06-09 09:00, a 24 h allowance; yellow in its
    # last 25 % (the final 6 h, from 03:00), red from 09:00.
    for when, colour in ((datetime(2026, 6, 9, 2, 59), "green"),
                         (datetime(2026, 6, 9, 3, 0), "yellow")):
        clock.set(when)
        _, lights = await api.get("/api/supervision/lights", "supervisor")
        assert [x["light"] for x in lights["lights"] if x["order_id"] == oid] == [colour]
    clock.set(datetime(2026, 6, 9, 9, 30))
    status, run = await api.post("/api/supervision/run", "supervisor")
    assert status == 200 and run["reminders"] == [oid] and run["special"] == []
    _, ev = await api.get(f"{NEW}/{oid}/events", "supervisor")
    reminder = ev["events"][-1]
    assert reminder["kind"] == "reminder"
    assert sorted(c["phone"] for c in reminder["data"]["call"]) == ["13800001401", "13800001402"]
    # Running again the same day does not remind twice, nor escalate yet.
    _, run = await api.post("/api/supervision/run", "supervisor")
    assert run == {"reminders": [], "special": []}
    # One working day after the reminder, still no report → special supervision.
    clock.set(datetime(2026, 6, 10, 9, 30))
    _, run = await api.post("/api/supervision/run", "supervisor")
    assert run == {"reminders": [], "special": [oid]}


async def test_ledger_puts_an_order_in_the_monitoring_pool_until_closed_out(api: Api) -> None:
    _, out = await api.post(NEW, "operator", complaint(matter="道路破损", locality=""))
    oid = out["order"]["id"]
    await api.post(f"{NEW}/{oid}/dispatch", "dispatcher", {})
    status, out = await api.post(f"{NEW}/{oid}/ledger", "supervisor",
                                 {"open": True, "criteria": "需列入明年道路改造计划"})
    assert status == 200 and out["grade"] == "C"
    status, out = await api.post(f"{NEW}/{oid}/ledger", "supervisor",
                                 {"open": True, "criteria": "again"})
    assert status == 409
    status, out = await api.post(f"{NEW}/{oid}/ledger", "supervisor",
                                 {"open": False, "criteria": "改造完成, 销账"})
    assert status == 200 and out["grade"] == "A"
    status, out = await api.post(f"{NEW}/{oid}/grade", "supervisor", {"grade": "D"})
    assert status == 422 and out["field"] == "grade"


async def test_hot_topics_of_the_week_with_the_previous_week(api: Api, clock: Clock) -> None:
    # Previous week (06-01..06-07): one road complaint. This week (06-08..): three road
    # complaints from different callers, one noise complaint.
    clock.set(datetime(2026, 6, 2, 10, 0))
    await api.post(NEW, "operator", complaint(matter="道路破损", caller_number="13000000000",
                                              locality=""))
    clock.set(datetime(2026, 6, 9, 10, 0))
    for i in range(3):
        await api.post(NEW, "operator", complaint(
            matter="道路破损", caller_number=f"1310000000{i}", locality="",
            new_information=True))
    await api.post(NEW, "operator", complaint(matter="噪声扰民", locality="乐三村"))
    status, out = await api.get("/api/metrics/hot-topics?start=2026-06-08&days=7",
                                "supervisor")
    assert status == 200
    assert out["topics"] == [{"matter": "道路破损", "count": 3, "previous": 1},
                             {"matter": "噪声扰民", "count": 1, "previous": 0}]
