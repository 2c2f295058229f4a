"""Queries and answers of the metrics routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from web.api import Binary, CsvText, Model, NonBlank, Out, QueryInt


def _day(raw: str) -> str:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a date YYYY-MM-DD") from None
    # Reports look at the hotline's years; year 1 or 9999 would overflow a period's bounds.
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{raw[:40]!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return raw


FIRST_YEAR, LAST_YEAR = 2000, 2100
Day = Annotated[str, AfterValidator(_day)]


class PeriodQuery(Model):
    """``period=week|month`` and ``start=YYYY-MM-DD`` (a Monday / the 1st)."""

    start: Day
    period: Literal["week", "month"] = "month"


class HotQuery(Model):
    start: Day
    days: Annotated[QueryInt, Field(ge=1, le=366)] = 7
    top: Annotated[QueryInt, Field(ge=1, le=100)] = 10


class RateOut(Out):
    numerator: int
    denominator: int
    value: float | None


class ScoreOut(Out):
    base: float
    deducted: float
    total: float


class UnitRowOut(Out):
    unit: str
    name: str
    orders: int
    response: RateOut
    completion: RateOut
    satisfaction: RateOut
    deductions: dict[str, int]
    score: ScoreOut


class UnitsOut(Out):
    period: str
    start: str
    end: str
    units: list[UnitRowOut]


class TopicOut(Out):
    matter: str
    count: int
    previous: int   # the same-length period just before, for the trend


class HotOut(Out):
    start: str
    end: str
    topics: list[TopicOut]


class UnitsCsv(CsvText):
    """The per-unit rows as CSV."""


class UnitsPng(Binary):
    """The per-unit rows as a PNG chart."""


# ---- deductions a supervisor enters (人工减分) ---------------------------------------------
class DeductionBody(Model):
    """A supervisor's finding: ``kind`` one of shirking, first_responsibility_breach,
    double_feedback_missing; ``occurred_on`` the day it belongs to (its period)."""

    unit: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    occurred_on: Day
    reason: Annotated[NonBlank, Field(max_length=500)]
    order_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class WithdrawBody(Model):
    reason: Annotated[NonBlank, Field(max_length=500)]


class DeductionOut(Out):
    id: int
    unit: str
    unit_name: str
    kind: str
    kind_label: str
    points: float
    occurred_at: str
    order_id: int | None
    reason: str
    entered_by: str
    entered_at: str
    withdrawn_at: str | None
    withdrawn_by: str | None
    withdraw_reason: str | None


class DeductionList(Out):
    start: str
    end: str
    deductions: list[DeductionOut]


class RisingQuery(Model):
    """``start``: the Monday the week starts on (compared with the week before)."""

    start: Day


class RisingOut(Out):
    kind: str
    name: str
    this_week: int
    last_week: int
    p_value: float


class RisingList(Out):
    start: str
    end: str
    alpha: float
    min_count: int
    rising: list[RisingOut]
