"""Reminder calls (催办电话) through the real stack: an overdue order's unit is called, liaison
A first and, when A does not answer, liaison B, who confirms with key 1; every attempt and
the confirmation are events on the order (R-LIGHTS, R-AB).

Real parts: redis-server, Asterisk (chroot), the core process (its order-campaign pass
queues the reminder's call, the dialer originates it through the carrier trunk, the
``campaign`` FastAGI script runs ``ivr/flows/reminder_call.py``), SIPp as both liaisons'
phones behind the carrier (one SIPp answering by the called number), SQLite. The overdue
order is made with the desk's own functions and a clock a day back, and supervision
runs on it, as the core's supervision pass would.

Expected values: the unit directory (config/units.sample.csv: dept-transport's A is 韩联络
13800001401, B is 唐联络 13800001402) and the rule "A first, then B".
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from hotline_core.clock import utc_now
from hotline_core.workorders import desk
from hotline_core.workorders.desk import Intake
from hotline_core.workorders.presets import Category
from hotline_core.workorders.supervision import run_supervision
from stack.core import desk_settings
from testkit.stack import Agent, HotlineStack
from tests.e2e.campaign_helpers import (
    DISPATCHER,
    OPERATOR,
    TRANSPORT,
    api_until,
    carrier_phone,
    import_sample_units,
    sessions_of,
)

pytestmark = pytest.mark.e2e

A_PHONE, B_PHONE = "13800001401", "13800001402"
CAMPAIGNS = '''max_channels = 4
tick_seconds = 0.5
[kinds.reminder]
hours = ["00:00-24:00"]
max_attempts = 2
retry_spacing_seconds = 600
ring_seconds = 6
'''


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})], citizen_phone=True,
                         campaigns=CAMPAIGNS).start()
    try:
        import_sample_units(stack)
        # One SIPp behind the carrier answers for both liaisons, never for A.
        carrier_phone(stack, "liaison_a_then_b.xml", {"[no_answer]": A_PHONE}, name="liaisons")
        yield stack
    finally:
        stack.stop()


def _overdue_order(stack: HotlineStack) -> int:
    """An urgent help demand (gaotai: 3 hours) taken, dispatched and signed off a day ago,
    never replied: supervision (now) reminds its unit."""
    now = desk_settings(stack.settings)
    past = dataclasses.replace(now, clock=lambda: utc_now() - timedelta(days=1))
    with sessions_of(stack).begin() as s:
        oid = desk.create_order(s, past, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路灯损坏", matter="道路破损",
            caller_number="13700000000", emergency=True)).order.id
        desk.dispatch(s, past, DISPATCHER, oid, lead="dept-transport", reason="道路归交通")
        desk.sign_off(s, past, TRANSPORT, oid)
    with sessions_of(stack).begin() as s:
        assert oid in run_supervision(s, now).reminders
    return oid


async def _events_until(stack: HotlineStack, oid: int, done: Any,
                        timeout: float = 120.0) -> list[dict[str, Any]]:
    answer = await api_until(stack, f"/api/workorders/{oid}/events",
                             lambda a: done(a["events"]), timeout)
    return list(answer["events"])


async def test_a_does_not_answer_b_confirms_all_on_the_order(hotline: HotlineStack) -> None:
    oid = await asyncio.to_thread(_overdue_order, hotline)
    events = await _events_until(hotline, oid, lambda ev: sum(
        e["kind"] == "call_attempt" for e in ev) >= 2)
    kinds = [e["kind"] for e in events]
    tail = kinds[kinds.index("reminder"):]
    assert tail == ["reminder", "reminder_call_scheduled", "call_attempt",
                    "reminder_confirmed", "call_attempt"], tail
    a_try, confirmed, b_try = (e for e in events[-3:])
    assert (a_try["data"]["party"], a_try["data"]["phone"], a_try["data"]["outcome"]) == (
        "A", A_PHONE, "no_answer")
    assert (b_try["data"]["party"], b_try["data"]["phone"], b_try["data"]["outcome"]) == (
        "B", B_PHONE, "completed")
    assert (confirmed["data"]["role"], confirmed["actor"]) == ("B", "唐联络(B)")
    assert all(e["unit"] == "dept-transport" for e in (a_try, confirmed, b_try))
    # Both phones rang, A before B, each showing the order's line (12345) as caller ID.
    log = hotline.phone_log("liaisons")
    a_at = log.find(f"liaison call to {A_PHONE} from 12345")
    b_at = log.find(f"liaison call to {B_PHONE} from 12345")
    assert 0 <= a_at < b_at, log[-2000:]
