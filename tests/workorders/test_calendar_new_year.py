"""Issue 9 item 10: the calendar survives New Year.

``chinesecalendar`` 1.11.0 has no 2027 data. On the starting main (4b97079) the overrides
file could only list single local days: there was no way to carry the State Council's
arrangement for a whole year, so from mid-December every order whose deadline reached
into 2027 was refused (503) until a new package was released and installed, and the file
was read once at start-up (a change needed a restart). These tests go through the work-
order API composed from a settings file that names the overrides file.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.config_errors import ConfigError
from hotline_core.workorders.calendar import ChineseWorkingCalendar, load_overrides
from hotline_core.workorders.model import WorkOrder, WorkOrderEvent
from tests.workorders.composed_desk import served, write_settings
from tests.workorders.hotline_time_scenario import help_request

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "calendar_overrides.example.toml"

# Test data in the publication's format (not a real notice): 2027-01-01 (Fri) off and
# Saturday 2027-01-02 a make-up working day.
YEAR_2027 = """
[years.2027]
source = "test notice T-2027 (test data, not a real arrangement)"
[years.2027.holidays]
"2027-01-01" = "元旦"
[years.2027.working_days]
"2027-01-02" = "元旦调休上班"
"""
# Monday 2026-12-28 09:00 China time.
MONDAY_0900 = datetime(2026, 12, 28, 1, 0, tzinfo=UTC)


def _counts(maker: sessionmaker[Session]) -> tuple[int, int]:
    with maker() as s:
        return (s.scalar(select(func.count()).select_from(WorkOrder)) or 0,
                s.scalar(select(func.count()).select_from(WorkOrderEvent)) or 0)


def _rewrite(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a visible change, even on coarse FS


async def test_a_deadline_across_new_year_computes_once_the_year_is_published(
    tmp_path: Path,
) -> None:
    overrides = tmp_path / "calendar.toml"
    overrides.write_text("[non_working_days]\n", encoding="utf-8")
    config = write_settings(tmp_path, f'calendar_overrides = "{overrides}"')
    complaint = help_request(category="complaint")
    async with served(config, clock=lambda: MONDAY_0900) as (api, maker):
        # Without 2027: refused, never guessed, nothing written.
        before = _counts(maker)
        status, out = await api.post("/api/workorders", "operator", complaint)
        assert status == 503 and "2027" in out["error"]
        assert _counts(maker) == before

        # The year's publication lands in the file: the running app uses it.
        _rewrite(overrides, YEAR_2027)
        status, out = await api.post("/api/workorders", "operator", complaint)
        assert status == 201, out
        # complaint: 7 working days from Mon 12-28 09:00: 12-29 (1), 12-30 (2), 12-31 (3),
        # Jan 1 off, Sat Jan 2 make-up (4), Sun Jan 3 off, Jan 4 (5), 5 (6), 6 (7).
        assert out["order"]["due_at"] == "2027-01-06T09:00:00+08:00"

        # Taken out again (e.g. a wrong file replaced): refused again, not remembered.
        _rewrite(overrides, "[non_working_days]\n")
        status, out = await api.post("/api/workorders", "operator",
                                     help_request(category="complaint", matter="其他事项"))
        assert status == 503 and "2027" in out["error"]


async def test_a_broken_file_keeps_the_last_good_year(tmp_path: Path) -> None:
    """A reload that fails to parse is logged and the last good data stays in force."""
    overrides = tmp_path / "calendar.toml"
    overrides.write_text(YEAR_2027, encoding="utf-8")
    config = write_settings(tmp_path, f'calendar_overrides = "{overrides}"')
    async with served(config, clock=lambda: MONDAY_0900) as (api, _):
        _rewrite(overrides, YEAR_2027 + '\n"2027-13-01" = "not a date"\n')
        status, out = await api.post("/api/workorders", "operator",
                                     help_request(category="complaint"))
        assert status == 201, out
        assert out["order"]["due_at"] == "2027-01-06T09:00:00+08:00"


def test_the_example_file_shows_a_whole_year() -> None:
    """The shipped example parses; its marked example year 2099 works as documented:
    holidays off (a Tuesday inside the range), make-up days on (Sunday 2099-01-18), every
    other day by its weekday (Wednesday 2099-01-28 on, Saturday 2099-02-07 off)."""
    parsed = load_overrides(EXAMPLE)
    assert "EXAMPLE" in parsed.years[2099].source
    cal = ChineseWorkingCalendar(parsed)
    assert not cal.is_working_day(date(2099, 1, 20))
    assert not cal.is_working_day(date(2099, 1, 27))
    assert cal.is_working_day(date(2099, 1, 18))
    assert cal.is_working_day(date(2099, 1, 28))
    assert not cal.is_working_day(date(2099, 2, 7))
    assert cal.is_working_day(date(2099, 10, 10))
    assert not cal.is_working_day(date(2099, 10, 1))


def test_a_year_without_its_source_or_with_a_day_of_another_year_is_refused_by_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[years.2027]\n[years.2027.holidays]\n"2027-01-01" = "元旦"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.toml:1: setting 'years.2027.source'"):
        load_overrides(path)
    path.write_text('[years.2027]\nsource = "n"\n[years.2027.holidays]\n'
                    '"2026-12-31..2027-01-01" = "元旦"\n', encoding="utf-8")
    with pytest.raises(ConfigError,
                       match=r"c.toml:4: setting 'years.2027.holidays.2026-12-31..2027-01-01'"):
        load_overrides(path)
