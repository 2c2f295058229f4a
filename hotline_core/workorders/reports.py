"""Metrics reports (考核通报): each unit's three rates and score for a week or month, as
data, CSV and a PNG chart, and the week's hot topics (热点分析).

The formulas are :mod:`hotline_core.workorders.metrics`; this module only turns stored orders into
its :class:`~hotline_core.workorders.metrics.OrderOutcome` inputs. One narrow SELECT streams the
period's orders (projection columns only), one more finds the period's returns, one the
standing deductions supervisors entered (:mod:`hotline_core.workorders.deductions`).

Attribution: an order counts for its current lead unit. A unit that returned an order
in time never had it (``returned_properly``); a late return (不当退单) costs the returning
unit an ``improper_return`` deduction and the order still counts for the unit now leading.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_core.workorders.deductions import counted
from hotline_core.workorders.lifecycle import EventKind, Status
from hotline_core.workorders.metrics import (
    OrderOutcome,
    SatisfactionExclusion,
    UnitRates,
    UnitScore,
    automatic_deductions,
    unit_rates,
    unit_score,
)
from hotline_core.workorders.model import Unit, WorkOrder, WorkOrderEvent
from hotline_core.workorders.presets import DeductionKind, Preset, SatisfactionLevel


@dataclass(frozen=True)
class UnitReport:
    unit: str
    name: str
    orders: int
    rates: UnitRates
    deductions: dict[DeductionKind, int]
    score: UnitScore


def outcome_of(row: tuple[object, ...], as_of: datetime) -> OrderOutcome:
    """One order's contribution, judged at ``as_of`` (the end of the period, or now)."""
    (_id, _unit, status, sign_due, signed_at, due_at, closed_at, replied_at, evaluation,
     excluded, redo_count, late_replies) = row
    assert isinstance(status, str)
    signed_on_time: bool | None = None
    if isinstance(signed_at, datetime) and signed_at <= as_of:
        signed_on_time = sign_due is None or signed_at <= sign_due  # type: ignore[operator]
    elif isinstance(sign_due, datetime) and as_of > sign_due:
        signed_on_time = False
    completed: bool | None = None
    if status == Status.CLOSED.value and isinstance(closed_at, datetime) and closed_at <= as_of:
        completed = True
    elif isinstance(due_at, datetime) and as_of > due_at:
        completed = False
    replied_late = bool(late_replies) or (
        isinstance(due_at, datetime) and replied_at is None and as_of > due_at)
    return OrderOutcome(
        signed_on_time=signed_on_time,
        completed=completed,
        evaluation=SatisfactionLevel(evaluation) if isinstance(evaluation, str) else None,
        exclusion=SatisfactionExclusion.SOCIAL_REVIEW_UNREASONABLE if excluded else None,
        handled_late=replied_late,
        redone=bool(redo_count),
    )


def _period_rows(session: Session, start: datetime, end: datetime) -> Iterable[tuple[object, ...]]:
    stmt = (select(WorkOrder.id, WorkOrder.lead_unit, WorkOrder.status, WorkOrder.sign_due_at,
                   WorkOrder.signed_at, WorkOrder.due_at, WorkOrder.closed_at,
                   WorkOrder.replied_at, WorkOrder.evaluation, WorkOrder.excluded_from_score,
                   WorkOrder.redo_count, WorkOrder.late_replies)
            .where(WorkOrder.received_at >= start, WorkOrder.received_at < end,
                   WorkOrder.lead_unit.is_not(None))
            .execution_options(yield_per=10_000))
    for row in session.execute(stmt):
        yield tuple(row)


def _returns(session: Session, start: datetime, end: datetime) -> list[tuple[str, bool]]:
    """(unit, late) for every return of an order received in the period."""
    stmt = (select(WorkOrderEvent.unit, WorkOrderEvent.data)
            .join(WorkOrder, WorkOrder.id == WorkOrderEvent.order_id)
            .where(WorkOrderEvent.kind == EventKind.RETURNED.value,
                   WorkOrder.received_at >= start, WorkOrder.received_at < end))
    return [(str(unit), bool(data.get("late"))) for unit, data in session.execute(stmt)]


def unit_reports(session: Session, preset: Preset, start: datetime, end: datetime,
                 as_of: datetime) -> list[UnitReport]:
    outcomes: dict[str, list[OrderOutcome]] = defaultdict(list)
    for row in _period_rows(session, start, end):
        outcomes[str(row[1])].append(outcome_of(row, as_of))
    improper: Counter[str] = Counter()
    for unit, late in _returns(session, start, end):
        outcomes.setdefault(unit, [])
        if late:
            improper[unit] += 1
    manual = counted(session, start, end)
    for unit in manual:
        outcomes.setdefault(unit, [])
    names = dict(session.execute(select(Unit.code, Unit.name)).all())
    reports = []
    for unit in sorted(outcomes):
        orders = outcomes[unit]
        rates = unit_rates(orders, preset)
        deductions = dict(automatic_deductions(orders))
        if improper[unit]:
            deductions[DeductionKind.IMPROPER_RETURN] = improper[unit]
        # Findings a supervisor entered (推诿, 首接负责, 双反馈), withdrawn ones left out.
        for kind, count in manual.get(unit, {}).items():
            deductions[kind] = deductions.get(kind, 0) + count
        reports.append(UnitReport(unit, names.get(unit, unit), len(orders), rates, deductions,
                                  unit_score(rates, deductions, preset)))
    return reports


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


CSV_COLUMNS = ["unit", "name", "orders", "response_signed_on_time", "response_judged",
               "response_rate_pct", "completion_closed", "completion_judged",
               "completion_rate_pct", "satisfied", "evaluated", "satisfaction_rate_pct",
               "base", "deducted", "score"]


def reports_csv(reports: Iterable[UnitReport]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in reports:
        w.writerow([
            r.unit, r.name, r.orders,
            r.rates.response.numerator, r.rates.response.denominator,
            _pct(r.rates.response.value),
            r.rates.completion.numerator, r.rates.completion.denominator,
            _pct(r.rates.completion.value),
            r.rates.satisfaction.numerator, r.rates.satisfaction.denominator,
            _pct(r.rates.satisfaction.value),
            f"{r.score.base:.2f}", f"{r.score.deducted:.2f}", f"{r.score.total:.2f}",
        ])
    return out.getvalue()


# Families with Chinese glyphs, preferred first (fonts-noto-cjk is installed by provision).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback")


def cjk_family() -> str | None:
    """A font family with Chinese glyphs that matplotlib can use, or None.

    matplotlib caches its font list the first time it runs; a CJK font installed after
    that (provision installs fonts-noto-cjk) is not in the cache, so the system's CJK font
    files are added when no known family is listed."""
    from matplotlib import font_manager

    def listed() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((n for n in CJK_FAMILIES if n in names), None)

    found = listed()
    if found is None:
        for path in font_manager.findSystemFonts():
            lowered = path.lower()
            if "cjk" in lowered or "wqy" in lowered or "droidsansfallback" in lowered:
                font_manager.fontManager.addfont(path)
        found = listed()
    return found


def reports_png(reports: list[UnitReport], title: str) -> bytes:
    """Grouped bars of the three rates per unit and the score line (matplotlib, Agg), with
    the units' Chinese names and Chinese labels (a CJK font, :func:`cjk_family`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = cjk_family()
    # Without a CJK font the names would be empty boxes: fall back to the unit codes.
    labels = [r.name if family else r.unit for r in reports]
    font = {"family": [family, "sans-serif"]} if family else {}
    xs = range(len(labels))
    with plt.rc_context({"font.family": font.get("family", ["sans-serif"])}):
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5), dpi=100)
        for offset, label, values in (
            (-0.27, "响应率 %" if family else "response %",
             [r.rates.response.value for r in reports]),
            (0.0, "办结率 %" if family else "completion %",
             [r.rates.completion.value for r in reports]),
            (0.27, "满意率 %" if family else "satisfaction %",
             [r.rates.satisfaction.value for r in reports]),
        ):
            ax.bar([x + offset for x in xs],
                   [100 * (v if v is not None else 0) for v in values], width=0.27, label=label)
        ax.plot(list(xs), [r.score.total for r in reports], "k.-",
                label="得分 /100" if family else "score /100")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class HotTopic:
    matter: str
    count: int
    previous: int  # same-length period just before, for the trend


def hot_topics(session: Session, start: datetime, end: datetime,
               top: int = 10) -> list[HotTopic]:
    """Most frequent matters of the period, with the previous period's count (周分析)."""
    length = end - start

    def counts(a: datetime, b: datetime) -> Counter[str]:
        stmt = (select(WorkOrder.matter)
                .where(WorkOrder.received_at >= a, WorkOrder.received_at < b,
                       WorkOrder.matter != "", WorkOrder.status != Status.NOT_ACCEPTED.value))
        return Counter(m for (m,) in session.execute(stmt))

    now_counts, before = counts(start, end), counts(start - length, start)
    ranked = sorted(now_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [HotTopic(m, n, before.get(m, 0)) for m, n in ranked]
