"""Queries and answers of the metrics routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from web.api import Binary, CsvText, Model, Out, QueryInt


def _day(raw: str) -> str:
    try:
        date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a date YYYY-MM-DD") from None
    return raw


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
