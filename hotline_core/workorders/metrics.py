"""Metric formulas (考核指标): response, completion and satisfaction rates (三率) and a
unit's score out of 100 (百分制考核). Pure functions on frozen inputs, no storage.

Definitions, with their exclusions, are written out in ``docs/metrics.md``. The caller
chooses the orders of a period (week, month) and describes each one as an
:class:`OrderOutcome`; nothing here reads the clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from hotline_core.workorders.presets import DeductionKind, Preset, SatisfactionLevel


class SatisfactionExclusion(StrEnum):
    """Why an evaluated order is left out of its unit's satisfaction rate."""

    # ganzhou: 评议为不合理诉求的, 给群众做好解释, 不纳入考核
    SOCIAL_REVIEW_UNREASONABLE = "social_review_unreasonable"
    # gaotai: 行政调解类、执法办案类事项应当依法依规处置, 不片面追求满意率
    MEDIATION_OR_ENFORCEMENT = "mediation_or_enforcement"


@dataclass(frozen=True)
class OrderOutcome:
    """What one work order (工单) contributes to its unit's metrics.

    ``signed_on_time``/``completed`` are ``None`` while the sign-off window / handling
    deadline is still open and nothing has happened yet: such an order is not judged.
    ``evaluation`` is the evaluation that counts (after a redo, the second one).
    """

    signed_on_time: bool | None
    completed: bool | None
    evaluation: SatisfactionLevel | None = None
    returned_properly: bool = False  # returned in time and accepted: not this unit's order
    exclusion: SatisfactionExclusion | None = None
    handled_late: bool = False
    redone: bool = False


@dataclass(frozen=True)
class Rate:
    """A rate as its two counts, so reports can show "37 / 40"."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """The fraction, or ``None`` when there was nothing to judge."""
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class UnitRates:
    response: Rate
    completion: Rate
    satisfaction: Rate


@dataclass(frozen=True)
class UnitScore:
    """Score out of 100: weighted rates minus deductions, never below zero."""

    base: float
    deducted: float
    total: float


def _units_orders(outcomes: Iterable[OrderOutcome]) -> list[OrderOutcome]:
    # A properly returned order was never the unit's: it counts in no rate.
    return [o for o in outcomes if not o.returned_properly]


def response_rate(outcomes: Iterable[OrderOutcome]) -> Rate:
    """响应率 = orders signed off within the sign-off limit / orders judged on sign-off."""
    judged = [o for o in _units_orders(outcomes) if o.signed_on_time is not None]
    return Rate(sum(1 for o in judged if o.signed_on_time), len(judged))


def completion_rate(outcomes: Iterable[OrderOutcome]) -> Rate:
    """办结率 = orders closed (办结) / orders closed or past their deadline."""
    judged = [o for o in _units_orders(outcomes) if o.completed is not None]
    return Rate(sum(1 for o in judged if o.completed), len(judged))


def satisfaction_rate(outcomes: Iterable[OrderOutcome], preset: Preset) -> Rate:
    """满意率 = evaluations at a satisfied level / evaluations, exclusions left out."""
    judged = [
        o.evaluation
        for o in _units_orders(outcomes)
        if o.evaluation is not None and o.exclusion is None
    ]
    return Rate(sum(1 for level in judged if preset.is_satisfied(level)), len(judged))


def unit_rates(outcomes: Iterable[OrderOutcome], preset: Preset) -> UnitRates:
    orders = list(outcomes)
    return UnitRates(
        response=response_rate(orders),
        completion=completion_rate(orders),
        satisfaction=satisfaction_rate(orders, preset),
    )


def automatic_deductions(outcomes: Iterable[OrderOutcome]) -> Counter[DeductionKind]:
    """Deductions the platform sees by itself; supervisors add findings such as shirking."""
    counts: Counter[DeductionKind] = Counter()
    for o in _units_orders(outcomes):
        counts[DeductionKind.LATE_SIGN_OFF] += o.signed_on_time is False
        counts[DeductionKind.LATE_HANDLING] += o.handled_late
        counts[DeductionKind.REDO] += o.redone
    return +counts  # drop zero counts


def unit_score(
    rates: UnitRates, deductions: Mapping[DeductionKind, int], preset: Preset
) -> UnitScore:
    """Σ weight × rate (a rate with nothing to judge counts as met) minus, for each kind,
    occurrences × the preset's points; kinds the preset does not price cost nothing."""
    rule = preset.metrics
    base = (
        rule.response_weight * _or_full(rates.response)
        + rule.completion_weight * _or_full(rates.completion)
        + rule.satisfaction_weight * _or_full(rates.satisfaction)
    )
    for kind, count in deductions.items():
        if count < 0:
            raise ValueError(f"deduction count for {kind} must not be negative, got {count}")
    deducted = sum(rule.deductions.get(kind, 0.0) * count for kind, count in deductions.items())
    return UnitScore(base=base, deducted=deducted, total=max(0.0, base - deducted))


def _or_full(rate: Rate) -> float:
    value = rate.value
    return 1.0 if value is None else value
