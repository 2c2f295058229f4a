"""Metric formulas on a small hand-computed example (gaotai weights 30/35/35)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hotline_core.workorders.metrics import (
    OrderOutcome,
    Rate,
    SatisfactionExclusion,
    UnitRates,
    automatic_deductions,
    completion_rate,
    response_rate,
    satisfaction_rate,
    unit_rates,
    unit_score,
)
from hotline_core.workorders.presets import DeductionKind, SatisfactionLevel, load_preset

GAOTAI = load_preset("gaotai")
L = SatisfactionLevel

# One unit's month, eight orders:
ORDERS = [
    # 1 on time, closed, 非常满意
    OrderOutcome(signed_on_time=True, completed=True, evaluation=L.VERY_SATISFIED),
    # 2 on time, closed, 基本满意 (counts as satisfied: only 不满意/非常不满意 do not)
    OrderOutcome(signed_on_time=True, completed=True, evaluation=L.BASICALLY_SATISFIED),
    # 3 signed late, closed late, 不满意
    OrderOutcome(
        signed_on_time=False, completed=True, evaluation=L.UNSATISFIED, handled_late=True
    ),
    # 4 on time, closed, 不满意 but the social review found the demand unreasonable
    OrderOutcome(
        signed_on_time=True, completed=True, evaluation=L.UNSATISFIED,
        exclusion=SatisfactionExclusion.SOCIAL_REVIEW_UNREASONABLE,
    ),
    # 5 on time, past its deadline and not closed, no evaluation
    OrderOutcome(signed_on_time=True, completed=False),
    # 6 returned properly as not this unit's: in no rate at all
    OrderOutcome(signed_on_time=True, completed=None, returned_properly=True),
    # 7 just dispatched: sign-off window and deadline still open, not judged
    OrderOutcome(signed_on_time=None, completed=None),
    # 8 on time, redone once, second evaluation 满意 is the one that counts
    OrderOutcome(signed_on_time=True, completed=True, evaluation=L.SATISFIED, redone=True),
]


def test_rates() -> None:
    # Response: judged 1,2,3,4,5,8 (6 drops out as returned, 7 not judged); on time all
    # but 3 → 5/6.
    assert response_rate(ORDERS) == Rate(5, 6)
    # Completion: judged 1,2,3,4,5,8; closed all but 5 → 5/6.
    assert completion_rate(ORDERS) == Rate(5, 6)
    # Satisfaction: evaluated and not excluded 1,2,3,8 (4 excluded by social review);
    # satisfied 1 (非常满意), 2 (基本满意), 8 (满意) → 3/4.
    assert satisfaction_rate(ORDERS, GAOTAI) == Rate(3, 4)
    assert unit_rates(ORDERS, GAOTAI) == UnitRates(Rate(5, 6), Rate(5, 6), Rate(3, 4))


def test_score_with_deductions() -> None:
    # Platform-visible deductions: late sign-off (3), late handling (3), redo (8).
    automatic = automatic_deductions(ORDERS)
    assert automatic == {
        DeductionKind.LATE_SIGN_OFF: 1, DeductionKind.LATE_HANDLING: 1, DeductionKind.REDO: 1
    }
    # Supervisors add two shirking findings.
    deductions = {**automatic, DeductionKind.SHIRKING: 2}
    score = unit_score(unit_rates(ORDERS, GAOTAI), deductions, GAOTAI)
    # base = 30·5/6 + 35·5/6 + 35·3/4 = 25 + 29.1667 + 26.25 = 965/12 ≈ 80.4167
    assert score.base == pytest.approx(965 / 12)
    # gaotai's placeholder: 1 point each → 1 + 1 + 1 + 2 = 5 points.
    assert score.deducted == pytest.approx(5.0)
    assert score.total == pytest.approx(965 / 12 - 5)  # ≈ 75.4167


def test_kinds_a_preset_does_not_price_cost_nothing() -> None:
    # gaotai lists no "improper return" (a huizhou kind); huizhou prices it at 1.
    rates = UnitRates(Rate(1, 1), Rate(1, 1), Rate(1, 1))
    improper = {DeductionKind.IMPROPER_RETURN: 3}
    assert unit_score(rates, improper, GAOTAI).total == pytest.approx(100.0)
    assert unit_score(rates, improper, load_preset("huizhou")).total == pytest.approx(97.0)


def test_empty_unit_and_floor() -> None:
    # Nothing to judge: every rate counts as met → 100; deductions still apply, floor 0.
    empty = unit_rates([], GAOTAI)
    assert empty.response.value is None
    assert unit_score(empty, {}, GAOTAI).total == pytest.approx(100.0)
    assert unit_score(empty, {DeductionKind.SHIRKING: 150}, GAOTAI).total == 0.0
    with pytest.raises(ValueError):
        unit_score(empty, {DeductionKind.SHIRKING: -1}, GAOTAI)


def test_mediation_exclusion_and_preset_split() -> None:
    # gaotai: "行政调解类、执法办案类事项 ... 不片面追求满意率" — such an order leaves the rate.
    orders = [
        OrderOutcome(True, True, L.SATISFIED),
        OrderOutcome(True, True, L.VERY_UNSATISFIED, exclusion=(
            SatisfactionExclusion.MEDIATION_OR_ENFORCEMENT
        )),
        OrderOutcome(True, True, L.BASICALLY_SATISFIED),
    ]
    assert satisfaction_rate(orders, GAOTAI) == Rate(2, 2)
    # A deployment that does not count 基本满意 as satisfied: 1/2.
    strict = replace(GAOTAI, satisfied_levels=frozenset({L.VERY_SATISFIED, L.SATISFIED}))
    assert satisfaction_rate(orders, strict) == Rate(1, 2)
