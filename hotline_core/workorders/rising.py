"""Rising issues (未诉先办预警): matters and places whose number of orders grows
significantly from last week to this week, so a department can act before more people call.

How "significant" is decided (written once here, and in docs/metrics.md):

- For each matter (事项) and each place (地点, the order's ``locality``), ``this`` = orders
  received this week, ``last`` = orders received the 7 days before. Orders not accepted
  (不予受理) and empty names are left out.
- If both weeks had the same underlying rate, each of the ``n = this + last`` orders fell
  in this week with probability 1/2, so ``this`` ~ Binomial(n, 1/2) given ``n`` (the
  conditional test for two Poisson counts over equal times). The one-sided p-value is
  P(X ≥ this) = Σ_{k=this..n} C(n, k) / 2^n, computed exactly with integers.
- A key is rising when ``this ≥ min_count`` (default 5: a handful of calls is no trend),
  ``this > last`` and p ≤ ``alpha`` (default 0.01, strict because a county has hundreds of
  matters and places tested each week: at 0.05 several would rise by chance alone).

Examples (worked out by hand in tests/workorders/test_rising.py): 7 vs 0 → p = 1/128 ≈
0.0078, rising; 6 vs 0 → 1/64 ≈ 0.016, not; 10 vs 1 → 12/2048 ≈ 0.0059, rising; 20 vs 10
→ ≈ 0.049, not (doubling on these counts is still within chance at 0.01).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from math import comb

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_core.workorders.lifecycle import Status
from hotline_core.workorders.model import WorkOrder

ALPHA = Fraction(1, 100)
MIN_COUNT = 5
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Rising:
    kind: str  # "matter" | "place"
    name: str
    this_week: int
    last_week: int
    p_value: float


def upper_tail(this: int, last: int) -> Fraction:
    """P(X ≥ this) for X ~ Binomial(this + last, 1/2), exactly."""
    n = this + last
    return Fraction(sum(comb(n, k) for k in range(this, n + 1)), 2 ** n)


def is_rising(this: int, last: int, alpha: Fraction = ALPHA,
              min_count: int = MIN_COUNT) -> bool:
    """The rule above for one key's two weekly counts."""
    return this >= min_count and this > last and upper_tail(this, last) <= alpha


def rising_from_counts(kind: str, this: Counter[str], last: Counter[str],
                       alpha: Fraction = ALPHA, min_count: int = MIN_COUNT) -> list[Rising]:
    """Rising keys of one kind, strongest (smallest p) first."""
    out = [Rising(kind, name, n, last.get(name, 0), float(upper_tail(n, last.get(name, 0))))
           for name, n in this.items() if is_rising(n, last.get(name, 0), alpha, min_count)]
    return sorted(out, key=lambda r: (r.p_value, -r.this_week, r.name))


def _counts(session: Session, start: datetime, end: datetime) -> tuple[Counter[str],
                                                                        Counter[str]]:
    stmt = (select(WorkOrder.matter, WorkOrder.locality)
            .where(WorkOrder.received_at >= start, WorkOrder.received_at < end,
                   WorkOrder.status != Status.NOT_ACCEPTED.value))
    matters: Counter[str] = Counter()
    places: Counter[str] = Counter()
    for matter, place in session.execute(stmt):
        if matter:
            matters[matter] += 1
        if place:
            places[place] += 1
    return matters, places


def rising_issues(session: Session, week_start: datetime, alpha: Fraction = ALPHA,
                  min_count: int = MIN_COUNT) -> list[Rising]:
    """Matters, then places, rising in the week from ``week_start`` against the week
    before."""
    this_m, this_p = _counts(session, week_start, week_start + WEEK)
    last_m, last_p = _counts(session, week_start - WEEK, week_start)
    return (rising_from_counts("matter", this_m, last_m, alpha, min_count)
            + rising_from_counts("place", this_p, last_p, alpha, min_count))
