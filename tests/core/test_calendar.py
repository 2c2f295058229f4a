"""Working-day calendar: national holidays with 调休, gaps, overrides, the time convention.

Official schedules used below (State Council notices):
* 2025 国庆节、中秋节 (国办发明电〔2024〕12号): Oct 1 (Wed) – Oct 8 (Wed) off;
  Sun Sep 28 and Sat Oct 11 are make-up working days.
* 2026 春节 (国办发明电〔2025〕7号): Feb 15 (Sun) – Feb 23 (Mon) off;
  Sat Feb 14 and Sat Feb 28 are make-up working days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hotline_core.config_errors import ConfigError
from hotline_core.workorders.calendar import (
    CalendarGapError,
    CalendarOverrides,
    ChineseWorkingCalendar,
    add_working_time,
    load_overrides,
    working_time_between,
)

CAL = ChineseWorkingCalendar()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 28), True),  # Sunday, make-up day for National Day
        (date(2025, 9, 30), True),  # Tuesday before the holiday
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 8), False),  # last holiday day (a Wednesday)
        (date(2025, 10, 9), True),  # Thursday after
        (date(2025, 10, 11), True),  # Saturday, make-up day
        (date(2025, 10, 12), False),  # ordinary Sunday
        (date(2026, 2, 14), True),  # Saturday, make-up day for Spring Festival
        (date(2026, 2, 16), False),  # Monday inside Spring Festival
        (date(2026, 2, 23), False),  # Monday, last Spring Festival day
        (date(2026, 2, 24), True),  # Tuesday after
        (date(2026, 2, 28), True),  # Saturday, make-up day
        (date(2026, 3, 1), False),  # ordinary Sunday
    ],
)
def test_official_days(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_same_clock_time_across_national_day() -> None:
    # Tue 2025-09-30 10:00 + 3 wd: Oct 1–8 off → Oct 9 (1), Oct 10 (2), Sat Oct 11 make-up (3).
    assert CAL.add_working_days(datetime(2025, 9, 30, 10, 0), 3) == datetime(2025, 10, 11, 10, 0)


def test_received_on_a_holiday_counts_from_next_working_day_start() -> None:
    # Sat 2025-10-04 (holiday) 09:00 + 1 wd: clock starts Thu Oct 9 00:00; one full working
    # day ends at 24:00 on Oct 9, written as 2025-10-10 00:00.
    assert CAL.add_working_days(datetime(2025, 10, 4, 9, 0), 1) == datetime(2025, 10, 10, 0, 0)


def test_received_on_a_make_up_sunday_counts_that_day() -> None:
    # Sun 2025-09-28 is a working day: 09:00 + 1 wd → Mon Sep 29 09:00.
    assert CAL.add_working_days(datetime(2025, 9, 28, 9, 0), 1) == datetime(2025, 9, 29, 9, 0)


def test_end_of_last_working_day_before_holiday() -> None:
    # Sun 2026-02-15 is the first Spring Festival day; received Sat Feb 14 (make-up) 00:00,
    # + 1 wd = 24:00 on Feb 14 = Feb 15 00:00 (the earliest instant, though a holiday).
    assert CAL.add_working_days(datetime(2026, 2, 14, 0, 0), 1) == datetime(2026, 2, 15, 0, 0)


def test_working_hours_skip_holidays() -> None:
    # Tue 2025-09-30 22:00 + 5 working hours: 2 h left on Sep 30, Oct 1–8 off, 3 h on Oct 9.
    assert CAL.add_working_hours(datetime(2025, 9, 30, 22, 0), 5) == datetime(2025, 10, 9, 3, 0)


def test_working_time_between() -> None:
    # Sep 30 22:00 → Oct 9 03:00: 2 h on Sep 30 + 3 h on Oct 9 = 5 h.
    assert CAL.working_time_between(
        datetime(2025, 9, 30, 22, 0), datetime(2025, 10, 9, 3, 0)
    ) == timedelta(hours=5)


def test_zero_days_is_the_start() -> None:
    assert CAL.add_working_days(datetime(2025, 10, 4, 9, 0), 0) == datetime(2025, 10, 4, 9, 0)


def test_negative_days_rejected() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2025, 9, 30, 10, 0), -1)


def test_year_without_data_raises_gap() -> None:
    # chinesecalendar 1.11.0 covers 2004–2026; 2027's notice is not in it.
    with pytest.raises(CalendarGapError):
        CAL.is_working_day(date(2027, 1, 4))
    with pytest.raises(CalendarGapError):
        CAL.is_working_day(date(2003, 6, 2))


def test_deadline_running_into_a_year_without_data_raises_gap() -> None:
    # Thu 2026-12-31 + 2 wd needs 2027-01-01 onwards: unknown, never guessed.
    with pytest.raises(CalendarGapError):
        CAL.add_working_days(datetime(2026, 12, 31, 10, 0), 2)


def test_typhoon_day_shifts_deadline() -> None:
    # Without overrides Tue 2025-09-30 10:00 + 5 wd → Oct 9, 10, 11, 13, 14 → Oct 14 10:00.
    assert CAL.add_working_days(datetime(2025, 9, 30, 10, 0), 5) == datetime(2025, 10, 14, 10, 0)
    # A typhoon closes Mon Oct 13: Oct 9, 10, 11, 14, 15 → Oct 15 10:00.
    typhoon = ChineseWorkingCalendar(CalendarOverrides(non_working={date(2025, 10, 13): "台风"}))
    assert typhoon.add_working_days(datetime(2025, 9, 30, 10, 0), 5) == datetime(
        2025, 10, 15, 10, 0
    )


def test_extra_working_day_override() -> None:
    # Sun Oct 12 declared working: Oct 9, 10, 11, 12, 13 → Oct 13 10:00.
    extra = ChineseWorkingCalendar(CalendarOverrides(working={date(2025, 10, 12): "加班日"}))
    assert extra.add_working_days(datetime(2025, 9, 30, 10, 0), 5) == datetime(2025, 10, 13, 10, 0)


def test_override_answers_for_its_own_date_even_in_a_gap_year() -> None:
    cal = ChineseWorkingCalendar(CalendarOverrides(non_working={date(2027, 1, 4): "台风"}))
    assert cal.is_working_day(date(2027, 1, 4)) is False
    with pytest.raises(CalendarGapError):
        cal.is_working_day(date(2027, 1, 5))


def test_load_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "overrides.toml"
    path.write_text(
        '[non_working_days]\n2025-10-13 = "台风“桦加沙”停工"\n'
        '[working_days]\n2025-10-12 = "加班"\n',
        encoding="utf-8",
    )
    overrides = load_overrides(path)
    assert overrides.non_working == {date(2025, 10, 13): "台风“桦加沙”停工"}
    assert overrides.working == {date(2025, 10, 12): "加班"}
    # Oct 12 worked, Oct 13 off: Oct 9, 10, 11, 12, 14 → Oct 14 10:00.
    cal = ChineseWorkingCalendar(overrides)
    assert cal.add_working_days(datetime(2025, 9, 30, 10, 0), 5) == datetime(2025, 10, 14, 10, 0)


def test_example_overrides_file_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "config" / "calendar_overrides.example.toml"
    overrides = load_overrides(path)
    assert date(2025, 9, 8) in overrides.non_working


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('[non_working_days]\n2025-10-13 = "台风"\n2025-13-01 = "x"\n', 3, "not a date"),
        ('[non_working_days]\n2025-10-13 = ""\n', 2, "reason"),
        ('[non_working_days]\n2025-10-13 = 5\n', 2, "reason"),
        ('[holidays]\n2025-10-13 = "x"\n', 1, "'holidays': unknown setting"),
        (
            '[non_working_days]\n2025-10-13 = "a"\n[working_days]\n2025-10-13 = "b"\n',
            4,
            "both",
        ),
    ],
)
def test_malformed_overrides_name_the_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_overrides(path)
    assert f"{path}:{line}:" in str(info.value)
    assert fragment in str(info.value)


def test_unparsable_overrides_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[non_working_days]\n2025-10-13 = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_overrides(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_aware_datetimes_keep_their_zone() -> None:
    # China Standard Time, UTC+8 (no DST). Same case as the naive Sep 30 + 3 wd test.
    cst = timezone(timedelta(hours=8))
    start = datetime(2025, 9, 30, 10, 0, tzinfo=cst)
    assert CAL.add_working_days(start, 3) == datetime(2025, 10, 11, 10, 0, tzinfo=cst)


# Properties over the years the package covers (2005–mid 2026, amounts ≤ 40 working days,
# so every walk stays inside the data).
STARTS = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2026, 6, 30))
AMOUNTS = st.integers(min_value=0, max_value=40 * 24 * 60).map(lambda m: timedelta(minutes=m))


@given(start=STARTS, amount=AMOUNTS)
def test_added_working_time_is_measured_back_exactly(start: datetime, amount: timedelta) -> None:
    due = add_working_time(CAL, start, amount)
    assert working_time_between(CAL, start, due) == amount
    if amount:
        # Earliest such instant: a microsecond earlier not enough working time has passed.
        assert working_time_between(CAL, start, due - timedelta(microseconds=1)) < amount


@given(start=STARTS, days=st.integers(min_value=1, max_value=40))
@example(start=datetime(2025, 9, 30), days=1)  # midnight start before a holiday
@example(start=datetime(2025, 10, 4, 9, 0), days=7)  # start inside a holiday
def test_working_day_deadline_keeps_the_clock_or_ends_a_working_day(
    start: datetime, days: int
) -> None:
    due = CAL.add_working_days(start, days)
    if CAL.is_working_day(start.date()) and start.time() != time(0):
        assert due.time() == start.time() and CAL.is_working_day(due.date())
    else:
        # Counted from a working day's start: ends at 24:00 of a working day.
        assert due.time() == time(0) and CAL.is_working_day(due.date() - timedelta(days=1))


def test_start_at_midnight_ends_at_24_00_of_a_working_day() -> None:
    # Tue 2025-09-30 00:00 + 1 wd: all of Sep 30 is one working day → Sep 30 24:00, written
    # 2025-10-01 00:00 (a holiday's first instant), not Oct 9 00:00.
    assert CAL.add_working_days(datetime(2025, 9, 30), 1) == datetime(2025, 10, 1)
