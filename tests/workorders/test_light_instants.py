"""Stored light instants (work_orders.yellow_at, wo_light_rule) on SQLite and PostgreSQL:
the lights read from them equal the rule (``light_for``) at the threshold edges, to the
microsecond; the desk's events keep them current; a change of the preset's light rule
recomputes them (what the core does at start-up), and until then readers of another rule
get that rule's lights, not the stored ones.

Hand computation (gaotai: yellow when time left × 100 ≤ allowance × 25, hours test off;
red once past due; the light is measured on the clock from the handling start):

- "floor": allowance 1 h + 1 µs = 3,600,000,001 µs; × 25 / 100 = 900,000,000.25 µs, and
  time left is whole microseconds, so yellow from due − 900,000,000 µs = due − 15 min.
- "quarter": allowance 384 h → yellow from due − 96 h.
- "received": no handling start stored, counted from received (due − 400 h) → due − 100 h.
- "hours" (a rule with ``yellow_remaining_hours = 24`` too): allowance 40 h, 25 % = 10 h
  < 24 h → yellow from due − 24 h (10 h under gaotai); under that rule "floor" too is
  yellow from due − 24 h, the others as under gaotai (96 h, 100 h > 24 h).
At ``yellow − 1 µs`` green, at ``yellow`` yellow, at ``due`` still yellow ("N 个工作日内"),
at ``due + 1 µs`` red.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.workorders import desk
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.lifecycle import UNIT_WORKING
from hotline_core.workorders.lights import (
    Light,
    ensure_light_instants,
    instants_current,
    light_counts,
    light_for,
    open_order_lights,
    refresh_light_instants,
)
from hotline_core.workorders.model import OPEN_LIGHTS_WHERE, LightRuleRow, WorkOrder
from hotline_core.workorders.presets import Category, Preset, ReplyPart, SatisfactionLevel
from hotline_core.workorders.replies import ReplyDraft
from tests.workorders.conftest import Clock

H = timedelta(hours=1)
US = timedelta(microseconds=1)
DUE = datetime(2026, 6, 20, 1, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
OPERATOR = Principal("op", Role.OPERATOR)
DISPATCHER = Principal("disp", Role.DISPATCHER)
CALLBACK = Principal("cb", Role.CALLBACK)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")

# name → (started (None: not stored), received, yellow from under gaotai, under the rule
# with the 24-hour test on as well (the longer of the two leads))
EDGES: dict[str, tuple[datetime | None, datetime, datetime, datetime]] = {
    "floor": (DUE - H - US, DUE - H - US, DUE - timedelta(minutes=15), DUE - 24 * H),
    "quarter": (DUE - 384 * H, DUE - 384 * H, DUE - 96 * H, DUE - 96 * H),
    "received": (None, DUE - 400 * H, DUE - 100 * H, DUE - 100 * H),
    "hours": (DUE - 40 * H, DUE - 40 * H, DUE - 10 * H, DUE - 24 * H),
}


def _hours_rule(preset: Preset, percent: int = 25) -> Preset:
    return replace(preset, lights=replace(preset.lights, yellow_remaining_percent=percent,
                                          yellow_remaining_hours=24))


def _edge_orders(maker: sessionmaker[Session]) -> dict[str, int]:
    ids = {}
    with maker.begin() as s:
        for name, (started, received, _gaotai, _hours) in EDGES.items():
            order = WorkOrder(received_at=received, channel="phone", category="complaint",
                              description=name, status="handling", lead_unit=f"u-{name}",
                              due_at=DUE, handling_started_at=started)
            s.add(order)
            s.flush()
            ids[name] = order.id
    return ids


def test_stored_instants_give_the_rules_lights_at_the_edges(
        maker: sessionmaker[Session], preset: Preset) -> None:
    assert (preset.lights.yellow_remaining_percent, preset.lights.yellow_remaining_hours) \
        == (25, 0)
    ids = _edge_orders(maker)
    for column, rule in enumerate((preset, _hours_rule(preset))):
        with maker.begin() as s:
            assert refresh_light_instants(s, rule, DUE) == len(EDGES)
        with maker() as s:
            assert instants_current(s, rule)      # the readers below use the stored instants
            stored = {o.description: o.yellow_at for o in s.scalars(select(WorkOrder))}
            for name, (started, received, *yellows) in EDGES.items():
                yellow = yellows[column]
                assert stored[name] == yellow, name
                for now, light in ((yellow - US, Light.GREEN), (yellow, Light.YELLOW),
                                   (DUE, Light.YELLOW), (DUE + US, Light.RED)):
                    assert light_for(rule, now, started or received, DUE) is light, name
                    got = {oid: li for oid, _u, li in open_order_lights(s, rule, now)}
                    assert got[ids[name]] is light, (name, now)
                    assert light_counts(s, rule, now, unit=f"u-{name}") == \
                        {f"u-{name}": {light: 1}}, (name, now)


def test_a_changed_light_rule_is_recomputed_and_readers_never_mix_rules(
        maker: sessionmaker[Session], preset: Preset) -> None:
    _edge_orders(maker)
    other = _hours_rule(preset, percent=50)
    with maker.begin() as s:
        assert refresh_light_instants(s, preset, DUE) == len(EDGES)
    with maker.begin() as s:
        assert refresh_light_instants(s, preset, DUE) is None     # same rule: nothing to do
    with maker() as s:
        # "hours" under gaotai: 25 % of 40 h = 10 h → yellow from due − 10 h.
        assert s.scalar(select(WorkOrder.yellow_at).where(
            WorkOrder.description == "hours")) == DUE - 10 * H
        # A reader of another rule is not given gaotai's instants: its own lights, by the
        # rule (50 % of 40 h = 20 h < 24 h → yellow from due − 24 h: at due − 23 h yellow).
        assert not instants_current(s, other)
        assert light_counts(s, other, DUE - 23 * H, unit="u-hours") == \
            {"u-hours": {Light.YELLOW: 1}}
    # The preset changes (start-up with a new rule): every open order is recomputed.
    with maker.begin() as s:
        assert refresh_light_instants(s, other, DUE + H) == len(EDGES)
    with maker() as s:
        row = s.get(LightRuleRow, 1)
        assert row is not None and (row.yellow_remaining_percent,
                                    row.yellow_remaining_hours) == (50, 24)
        yellow = {o.description: o.yellow_at for o in s.scalars(select(WorkOrder))}
        # 50 % or 24 h, whichever is longer: floor 30 min+ vs 24 h → 24 h; quarter 192 h;
        # received 200 h; hours 20 h vs 24 h → 24 h.
        assert yellow == {"floor": DUE - 24 * H, "quarter": DUE - 192 * H,
                          "received": DUE - 200 * H, "hours": DUE - 24 * H}
        assert light_counts(s, other, DUE - 25 * H) == {
            "u-floor": {Light.GREEN: 1}, "u-quarter": {Light.YELLOW: 1},
            "u-received": {Light.YELLOW: 1}, "u-hours": {Light.GREEN: 1}}
        # gaotai's readers now fall back to the rule per row: at due − 25 h only "received"
        # (100 h) and "quarter" (96 h) are yellow; floor (15 min) and hours (10 h) green.
        assert light_counts(s, preset, DUE - 25 * H) == {
            "u-floor": {Light.GREEN: 1}, "u-quarter": {Light.YELLOW: 1},
            "u-received": {Light.YELLOW: 1}, "u-hours": {Light.GREEN: 1}}
        assert light_counts(s, preset, DUE - 11 * H, unit="u-hours") == \
            {"u-hours": {Light.GREEN: 1}}
        assert light_counts(s, other, DUE - 11 * H, unit="u-hours") == \
            {"u-hours": {Light.YELLOW: 1}}


def test_the_desks_events_keep_the_instants_current(
        seeded: sessionmaker[Session], settings: DeskSettings, clock: Clock) -> None:
    """A help order taken Monday 2026-06-08 09:00 (UTC+8) is due Tuesday 09:00 (gaotai
    ``help`` = 1 working day): yellow in the last 25 % of 24 h, from Tuesday 03:00. A
    complaint is due 7 working days later, Wednesday 06-17 09:00 (216 h: yellow from Monday
    06-15 03:00, 54 h before); extended to Monday 06-22 09:00 (336 h) it is yellow from
    Thursday 06-18 21:00 (84 h before). Replied, it has no light any more."""
    with seeded.begin() as s:
        assert refresh_light_instants(s, settings.preset, settings.now()) == 0
    with seeded.begin() as s:
        help_id = desk.create_order(s, settings, OPERATOR, Intake(
            channel="web", category=Category.HELP, description="路面塌陷",
            matter="道路破损")).order.id
        complaint = desk.create_order(s, settings, OPERATOR, Intake(
            channel="web", category=Category.COMPLAINT, description="路灯不亮",
            matter="道路破损")).order.id
        for oid in (help_id, complaint):
            desk.dispatch(s, settings, DISPATCHER, oid)
            desk.sign_off(s, settings, TRANSPORT, oid)

    def yellow(oid: int) -> datetime | None:
        with seeded() as s:
            return s.scalar(select(WorkOrder.yellow_at).where(WorkOrder.id == oid))

    assert yellow(help_id) == datetime(2026, 6, 9, 3, 0, tzinfo=SHANGHAI)
    assert yellow(complaint) == datetime(2026, 6, 15, 3, 0, tzinfo=SHANGHAI)
    with seeded.begin() as s:
        desk.request_extension(s, settings, TRANSPORT, complaint,
                               datetime(2026, 6, 22, 9, 0, tzinfo=SHANGHAI), "需协调多部门")
        desk.decide_extension(s, settings, DISPATCHER, complaint, True)
    assert yellow(complaint) == datetime(2026, 6, 18, 21, 0, tzinfo=SHANGHAI)
    clock.advance(hours=2)
    with seeded.begin() as s:
        assert desk.reply(s, settings, TRANSPORT, help_id, ReplyDraft({
            ReplyPart.RESPONSE: "已派人查看。", ReplyPart.RESULT: "已修补。"})).accepted
        desk.evaluate(s, settings, CALLBACK, help_id, SatisfactionLevel.SATISFIED)
    assert yellow(help_id) is None
    with seeded() as s:
        # Tuesday 04:00: the complaint is green (yellow from 06-18); the help order, closed,
        # is not counted at all.
        now = datetime(2026, 6, 9, 4, 0, tzinfo=SHANGHAI)
        assert instants_current(s, settings.preset)
        assert light_counts(s, settings.preset, now) == {"dept-transport": {Light.GREEN: 1}}


def test_start_up_recomputes_only_when_the_preset_rule_differs(
        maker: sessionmaker[Session], preset: Preset, caplog: pytest.LogCaptureFixture) -> None:
    """What stack/core.py runs at start-up (``ensure_light_instants``): a first start
    stores the rule and the instants, a restart with the same preset does nothing, one
    with another rule recomputes (and says so in the log)."""
    _edge_orders(maker)
    other = _hours_rule(preset)
    with caplog.at_level(logging.INFO, logger="hotline.lights"):
        assert ensure_light_instants(maker, preset, DUE) == len(EDGES)
        assert ensure_light_instants(maker, preset, DUE) is None
        assert ensure_light_instants(maker, other, DUE) == len(EDGES)
    assert [r.getMessage().endswith(f"of {len(EDGES)} open orders recomputed")
            for r in caplog.records] == [True, True]
    with maker() as s:
        # "floor" under the 24-hour rule: yellow from due − 24 h (hand computation above).
        assert s.scalar(select(WorkOrder.yellow_at).where(
            WorkOrder.description == "floor")) == DUE - 24 * H


def test_an_open_order_without_an_instant_gets_the_rules_light(
        maker: sessionmaker[Session], preset: Preset) -> None:
    """A row the desk's projection never wrote (inserted by other means after start-up)
    has no instant: it is coloured by the rule per row, not dropped. "quarter" inserted
    after the refresh: yellow from due − 96 h, so at due − 97 h green, at due − 96 h yellow."""
    with maker.begin() as s:
        assert refresh_light_instants(s, preset, DUE) == 0
    ids = _edge_orders(maker)
    with maker() as s:
        assert instants_current(s, preset)
        assert s.scalar(select(WorkOrder.yellow_at).where(WorkOrder.id == ids["quarter"])) \
            is None
        assert light_counts(s, preset, DUE - 97 * H, unit="u-quarter") == \
            {"u-quarter": {Light.GREEN: 1}}
        assert light_counts(s, preset, DUE - 96 * H, unit="u-quarter") == \
            {"u-quarter": {Light.YELLOW: 1}}


def test_the_open_orders_index_names_the_statuses_units_work_in() -> None:
    """The partial index's predicate is SQL text; it must list exactly lifecycle's
    UNIT_WORKING (dispatched, handling, redo — the statuses a unit works against a due)."""
    assert sorted(s.value for s in UNIT_WORKING) == ["dispatched", "handling", "redo"]
    assert OPEN_LIGHTS_WHERE == \
        "status IN ('dispatched', 'handling', 'redo') AND due_at IS NOT NULL"
