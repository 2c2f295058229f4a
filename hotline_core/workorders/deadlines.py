"""Deadlines (办理时限): when a work order (工单) and its steps fall due under a preset.

Pure functions of (preset, calendar, instants). Clock units (hours, minutes, natural
days) run 7×24; working units follow :mod:`hotline_core.workorders.calendar` and its time
convention: days are decided in the calendar's zone (the hotline's), whatever zone the
instants come in. Each function says which instant its limit is counted from.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import NamedTuple

from hotline_core.workorders.calendar import (
    WORKING_DAY,
    WorkingCalendar,
    add_working_time,
    from_calendar_time,
    to_calendar_time,
)
from hotline_core.workorders.presets import Category, Limit, Preset, ReturnFrom


def add_limit(calendar: WorkingCalendar, start: datetime, limit: Limit) -> datetime:
    """``start`` plus ``limit``, on the clock or on the working-day calendar."""
    match limit.unit:
        case "working_days":
            return add_working_time(calendar, start, WORKING_DAY * limit.amount)
        case "working_hours":
            return add_working_time(calendar, start, timedelta(hours=limit.amount))
        case "hours":
            return start + timedelta(hours=limit.amount)
        case "minutes":
            return start + timedelta(minutes=limit.amount)
        case "natural_days":
            return start + timedelta(days=limit.amount)


def due_at(
    preset: Preset,
    calendar: WorkingCalendar,
    category: Category,
    received_at: datetime,
    emergency: bool = False,
) -> datetime:
    """Handling deadline of a work order, counted from receipt (自收到之日起)."""
    return add_limit(calendar, received_at, preset.limit_for(category, emergency))


def sign_off_due(preset: Preset, calendar: WorkingCalendar, dispatched_at: datetime) -> datetime:
    """Latest sign-off (签收), counted from dispatch to the unit."""
    return add_limit(calendar, dispatched_at, preset.sign_off_limit)


def return_due(
    preset: Preset,
    calendar: WorkingCalendar,
    dispatched_at: datetime,
    signed_at: datetime | None,
) -> datetime:
    """Latest return (退单) of an order that is not the unit's, counted from sign-off or
    from dispatch as the preset says. A sign-off-based window needs ``signed_at``."""
    if preset.return_counted_from is ReturnFrom.DISPATCH:
        return add_limit(calendar, dispatched_at, preset.return_limit)
    if signed_at is None:
        raise ValueError(f"preset {preset.name!r} counts the return window from sign-off")
    return add_limit(calendar, signed_at, preset.return_limit)


class ExtensionCheck(NamedTuple):
    """Whether an extension (延期) request may go to approval, and why (not)."""

    allowed: bool
    reason: str


def extension_allowed(
    preset: Preset,
    calendar: WorkingCalendar,
    *,
    received_at: datetime,
    current_due: datetime,
    requested_at: datetime,
    new_due: datetime,
    extensions_so_far: int = 0,
) -> ExtensionCheck:
    """Check a request against the preset's rule. Approval itself (needs_approval,
    written_signed) is the lifecycle's business; this only checks times and counts."""
    rule = preset.extension
    if not rule.allowed:
        return ExtensionCheck(False, f"preset {preset.name!r} has no extension")
    if rule.max_count is not None and extensions_so_far >= rule.max_count:
        return ExtensionCheck(False, f"at most {rule.max_count} extension(s)")
    latest_request = _latest_request(calendar, current_due, rule.apply_before_due)
    if requested_at > latest_request:
        return ExtensionCheck(
            False, f"must be requested by {latest_request.isoformat()} "
            f"({_describe(rule.apply_before_due)} before the due time)"
        )
    if new_due <= current_due:
        return ExtensionCheck(False, "the new deadline must be later than the current one")
    if rule.max_total is not None:
        ceiling = add_limit(calendar, received_at, rule.max_total)
        if new_due > ceiling:
            return ExtensionCheck(
                False, f"beyond {_describe(rule.max_total)} from receipt ({ceiling.isoformat()})"
            )
    return ExtensionCheck(True, "within the extension rule")


def _latest_request(calendar: WorkingCalendar, due: datetime, lead: Limit) -> datetime:
    """Latest request instant R with R + lead <= due (with no lead: the due time itself)."""
    if lead.unit == "working_days":
        return _subtract_working_time(calendar, due, WORKING_DAY * lead.amount)
    if lead.unit == "working_hours":
        return _subtract_working_time(calendar, due, timedelta(hours=lead.amount))
    return due - (add_limit(calendar, due, lead) - due)


def _subtract_working_time(
    calendar: WorkingCalendar, end: datetime, amount: timedelta
) -> datetime:
    """Latest instant R such that the working time in [R, end) is ``amount``."""
    current, remaining = to_calendar_time(calendar, end), amount
    while remaining > timedelta(0):
        # The calendar day that the instant just before `current` belongs to.
        day = (current - timedelta(microseconds=1)).date()
        day_start = datetime.combine(day, time(0), tzinfo=current.tzinfo)
        if calendar.is_working_day(day):
            available = current - day_start
            if remaining <= available:
                return from_calendar_time(current - remaining, end)
            remaining -= available
        current = day_start
    return from_calendar_time(current, end)


def redo_due(
    preset: Preset,
    calendar: WorkingCalendar,
    category: Category,
    redo_dispatched_at: datetime,
    emergency: bool = False,
) -> datetime:
    """Deadline of a redo (重办), counted from when the order goes back to the unit."""
    deadline = preset.redo.deadline
    limit = preset.limit_for(category, emergency) if deadline == "same_as_original" else deadline
    return add_limit(calendar, redo_dispatched_at, limit)


def redo_allowed(preset: Preset, redos_so_far: int) -> bool:
    """One more redo is possible (gaotai: 重办以1次为限)."""
    return redos_so_far < preset.redo.max_redos


def callback_due(
    preset: Preset, calendar: WorkingCalendar, result_reported_at: datetime
) -> datetime:
    """Latest callback (回访), counted from the unit's reported result."""
    return add_limit(calendar, result_reported_at, preset.callback_limit)


def restriction_ends(preset: Preset, restricted_at: datetime) -> datetime:
    """End of a caller's restriction (限制呼入), in natural days."""
    return restricted_at + timedelta(days=preset.restriction_days)


def special_supervision_due(
    preset: Preset, calendar: WorkingCalendar, reminder_called_at: datetime
) -> datetime:
    """When special supervision (专项督办) starts if the unit still has not reported
    after its reminder (the ``reminder`` event's time; the reminder call follows it)."""
    return add_limit(calendar, reminder_called_at, preset.lights.special_supervision_after)


def _describe(limit: Limit) -> str:
    return f"{limit.amount} {limit.unit.replace('_', ' ')}"
