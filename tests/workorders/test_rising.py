"""Rising issues (未诉先办预警): the significance rule on counts whose answer is worked
out by hand, and the weekly counts read from stored orders.

Rule (hotline_core/workorders/rising.py): rising when this ≥ 5, this > last and
P(X ≥ this) ≤ 1/100 for X ~ Binomial(this + last, 1/2).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.workorders.model import WorkOrder
from hotline_core.workorders.rising import is_rising, rising_issues, upper_tail


@pytest.mark.parametrize(("this", "last", "tail", "rising"), [
    # 7 vs 0: n = 7, only k = 7 → 1/128 = 0.0078 ≤ 0.01 → rising.
    (7, 0, Fraction(1, 128), True),
    # 6 vs 0: 1/64 = 0.0156 > 0.01 → not.
    (6, 0, Fraction(1, 64), False),
    # 10 vs 1: n = 11, C(11,10) + C(11,11) = 11 + 1 = 12 → 12/2048 = 0.0059 → rising.
    (10, 1, Fraction(12, 2048), True),
    # 8 vs 1: n = 9, 9 + 1 = 10 → 10/512 = 0.0195 → not.
    (8, 1, Fraction(10, 512), False),
    # 20 vs 10: n = 30, Σ C(30,k) k=20..30 = 30045015 + 14307150 + 5852925 + 2035800
    # + 593775 + 142506 + 27405 + 4060 + 435 + 30 + 1 = 53009102 → /2^30 = 0.0494 → not.
    (20, 10, Fraction(53009102, 2 ** 30), False),
    # 4 vs 0: 1/16, and below the minimum count of 5 anyway → not.
    (4, 0, Fraction(1, 16), False),
    # 5 vs 9: fewer than last week → never rising (tail ≥ 1/2).
    (5, 9, None, False),
])
def test_significance_on_hand_computed_counts(this: int, last: int, tail: Fraction | None,
                                              rising: bool) -> None:
    if tail is not None:
        assert upper_tail(this, last) == tail
    assert is_rising(this, last) is rising


def test_a_looser_alpha_and_minimum_change_the_answer() -> None:
    # 8 vs 1 has p = 10/512 = 0.0195: rising at 0.05, not at 0.01.
    assert is_rising(8, 1, alpha=Fraction(5, 100)) and not is_rising(8, 1)
    # 4 vs 0 has p = 1/16 = 0.0625: not at 0.05 even with the minimum lowered to 3;
    # 3 vs 0 with minimum 3: 1/8 → not.
    assert not is_rising(4, 0, alpha=Fraction(5, 100), min_count=3)


MONDAY = datetime(2026, 6, 7, 16, 0, tzinfo=UTC)  # Mon 2026-06-08 00:00 in Beijing


def _add(s: Session, at: datetime, matter: str, place: str, n: int,
         status: str = "handling") -> None:
    for i in range(n):
        s.add(WorkOrder(received_at=at + timedelta(minutes=i), channel="phone",
                        category="complaint", description="x", matter=matter,
                        locality=place, status=status))


def test_rising_matters_and_places_from_stored_orders(maker: sessionmaker[Session]) -> None:
    last_week, this_week = MONDAY - timedelta(days=3), MONDAY + timedelta(days=2)
    with maker() as s, s.begin():
        # 停水: 1 last week, 10 this week (all in 城关镇) → 10 vs 1 rising (p = 12/2048).
        _add(s, last_week, "停水", "城关镇", 1)
        _add(s, this_week, "停水", "城关镇", 10)
        # 噪音扰民: 10 last week, 20 this week (巷道乡) → 20 vs 10, p = 0.049, not rising.
        _add(s, last_week, "噪音扰民", "巷道乡", 10)
        _add(s, this_week, "噪音扰民", "巷道乡", 20)
        # 占道经营: 8 this week, none last week, but 2 of them not accepted (不予受理):
        # 6 vs 0 → p = 1/64, not rising; place 南华镇 also 6 vs 0 → not.
        _add(s, this_week, "占道经营", "南华镇", 6)
        _add(s, this_week, "占道经营", "南华镇", 2, status="not_accepted")
        # 路灯不亮: 7 this week on the first instant after the week ends → next week.
        _add(s, MONDAY + timedelta(days=7), "路灯不亮", "宣化镇", 7)
    with maker() as s:
        found = {(r.kind, r.name): (r.this_week, r.last_week)
                 for r in rising_issues(s, MONDAY)}
    # Places: 城关镇 10 vs 1 → rising; 巷道乡 20 vs 10 → not.
    assert found == {("matter", "停水"): (10, 1), ("place", "城关镇"): (10, 1)}
    with maker() as s:
        loose = {(r.kind, r.name) for r in rising_issues(s, MONDAY, alpha=Fraction(5, 100))}
    # At 0.05: 20 vs 10 (p = 0.0494) rises too; 6 vs 0 (0.0156) rises too.
    assert loose == {("matter", "停水"), ("place", "城关镇"), ("matter", "噪音扰民"),
                     ("place", "巷道乡"), ("matter", "占道经营"), ("place", "南华镇")}
    assert Counter(k for k, _ in loose) == {"matter": 3, "place": 3}
