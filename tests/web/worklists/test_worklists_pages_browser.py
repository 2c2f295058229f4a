"""The quality-check and monitoring-pool pages in Debian's headless Chromium on the composed
app (no telephony is involved): a quality checker lands on /work/quality, sees the reply
with its parts and the automatic check's verdict, cannot send it back without a reason,
sends it back with one (the order returns to the unit, which replies again), and approves
the new reply; a dispatcher finds a ledger order (挂账, grade C) in the monitoring pool
with its criteria; a callback worker sees the citizen's number masked in the list and
whole on request.

Orders are built through the desk with the composed desk's clock (Monday 2026-06-08
09:00); 道路破损 goes to dept-transport (config/responsibility_list.sample.csv)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hotline_core.access import Principal, Role
from hotline_core.workorders import desk
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.presets import Category, ReplyPart, load_preset
from hotline_core.workorders.replies import ReplyDraft
from testkit.browser import chromium, new_page, screenshot, sign_in_page
from testkit.people import DEFAULT_PASSWORD, add_user
from tests.security.composed import composed

OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")
CITIZEN = "13700000000"        # masked 137****0000 (first 3, last 4)
REPLY = ReplyDraft({ReplyPart.RESPONSE: "已派人现场查看。",
                    ReplyPart.RESULT: "已安排养护队修补路面。现场已恢复通行。"})


def _cfg() -> DeskSettings:
    return DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                        clock=lambda: datetime(2026, 6, 8, 9, 0))


async def test_quality_check_and_monitoring_pages(tmp_path: Path, redis_url: str) -> None:
    cfg = _cfg()
    async with composed(tmp_path, redis_url) as app, chromium() as browser:
        with app.maker.begin() as s:
            replied = desk.create_order(s, cfg, OPERATOR, Intake(
                channel="web", category=Category.HELP, description="路面塌陷",
                matter="道路破损", caller_number=CITIZEN)).order.id
            desk.dispatch(s, cfg, DISPATCHER, replied)
            desk.sign_off(s, cfg, TRANSPORT, replied)
            assert desk.reply(s, cfg, TRANSPORT, replied, REPLY).accepted
            ledger = desk.create_order(s, cfg, OPERATOR, Intake(
                channel="web", category=Category.HELP, description="桥梁加固",
                matter="道路破损")).order.id
            desk.dispatch(s, cfg, DISPATCHER, ledger)
            desk.ledger(s, cfg, DISPATCHER, ledger, open_it=True,
                        criteria="列入年度大修计划后销账")
        add_user(app.maker, "qc1", "quality")
        add_user(app.maker, "disp1", "dispatcher")
        base = str(app.client.make_url("")).rstrip("/")
        page = await new_page(browser)
        await sign_in_page(page, base, "qc1", DEFAULT_PASSWORD)
        await page.wait_for_url(f"{base}/work/quality")
        row = f'#replies tr[data-order="{replied}"]'
        await page.wait_for_selector(f"{row}:has-text('已安排养护队修补路面')")
        assert "自动检查通过" in await page.inner_text(row)
        assert "dept-transport" in await page.inner_text(row)
        await page.click(f"{row} button.send-back")
        await page.wait_for_selector("#action-error:has-text('reason')")
        await page.fill(f"{row} input[name=reason]", "未写明修补完成时间")
        await page.click(f"{row} button.send-back")
        await page.wait_for_selector(row, state="detached")
        status, seen = await app.json("GET", f"/api/workorders/{replied}", "supervisor")
        assert (status, seen["status"]) == (200, "handling")
        # The unit replies again; the new reply waits for the check and is approved.
        with app.maker.begin() as s:
            assert desk.reply(s, cfg, TRANSPORT, replied, REPLY).accepted
        await page.click("#reload")
        await page.wait_for_selector(f"{row}:has-text('已退回 1 次')")
        await screenshot(page, "worklist-quality")
        await page.click(f"{row} button.approve")
        await page.wait_for_selector(row, state="detached")
        # The callback worker: the number masked in the list, whole on request (the
        # order's detail, callback staff only), to call the citizen by hand.
        add_user(app.maker, "cb1", "callback")
        cb = await new_page(browser)
        await sign_in_page(cb, base, "cb1", DEFAULT_PASSWORD)
        await cb.wait_for_url(f"{base}/work/callback")
        call_row = f'#callbacks tr[data-order="{replied}"]'
        await cb.wait_for_selector(f"{call_row} .number:text-is('137****0000')")
        await cb.click(f"{call_row} button.show-number")
        await cb.wait_for_selector(f"{call_row} .number:text-is('{CITIZEN}')")
        # The dispatcher's monitoring pool: the ledger order, grade C, with its criteria.
        pool = await new_page(browser)
        await sign_in_page(pool, base, "disp1", DEFAULT_PASSWORD)
        await pool.wait_for_url(f"{base}/work/dispatch")
        await pool.click("a.nav[href='/work/monitoring']")
        await pool.wait_for_url(f"{base}/work/monitoring")
        ledger_row = f'#pool tr[data-order="{ledger}"]'
        await pool.wait_for_selector(f"{ledger_row}:has-text('列入年度大修计划后销账')")
        assert "挂账" in await pool.inner_text(ledger_row)
        assert replied not in [int(x) for x in await pool.eval_on_selector_all(
            "#pool tr[data-order]", "rows => rows.map(r => r.dataset.order)")]
