"""Issue 9 item 14: the work-order clock is the hotline's, whatever the host's zone.

The same cases run in a child process under ``TZ=UTC`` and under ``TZ=Asia/Shanghai``
(``hotline_time_scenario.py``; the child reports its own UTC offset so the test knows the
zone took effect), through the work-order API composed from a settings file.

On the starting main (4b97079) the UTC run fails: the desk's clock was ``datetime.now()``,
the host's naive wall time, read as China time — an order created at 19:41 CST was stored
as received_at 11:41 and Open311 showed 11:41+08:00, eight hours before the request was
made; and an instant handed to the calendar decided its day by its own zone (UTC), so a
deadline from Monday 07:00 CST (Sunday 23:00 UTC) started on Monday 08:00 CST.

Expected deadlines, worked out by hand from the gaotai preset (help: 1 working day) and the
2026 calendar (国办发明电〔2025〕7号: 端午 06-19 Fri .. 06-21 Sun off; no make-up day near):
working time runs on whole working days of the hotline's zone (Asia/Shanghai, UTC+8).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline_core.config_errors import ConfigError
from tests.workorders.composed_desk import served, settings_of, write_settings
from tests.workorders.hotline_time_scenario import help_request

REPO = Path(__file__).resolve().parents[2]

EXPECTED_DUE = {
    # Sun 23:00 UTC = Mon 2026-06-15 07:00 CST, a working day: + 24 working hours.
    "monday_0700_cst": "2026-06-16T07:00:00+08:00",
    # Fri 22:00 UTC = Sat 2026-06-13 06:00 CST: the clock starts Mon 06-15 00:00, the
    # first working day ends at its 24:00.
    "saturday_0600_cst": "2026-06-16T00:00:00+08:00",
    # Thu 21:00 UTC = Fri 2026-06-19 05:00 CST, 端午: the clock starts Mon 06-22 00:00.
    "duanwu_friday_0500_cst": "2026-06-23T00:00:00+08:00",
    # Mon 16:00 UTC = Tue 2026-06-16 00:00 CST: that whole Tuesday is the working day.
    "tuesday_midnight_cst": "2026-06-17T00:00:00+08:00",
}
EXPECTED_RECEIVED = {
    "monday_0700_cst": "2026-06-15T07:00:00+08:00",
    "saturday_0600_cst": "2026-06-13T06:00:00+08:00",
    "duanwu_friday_0500_cst": "2026-06-19T05:00:00+08:00",
    "tuesday_midnight_cst": "2026-06-16T00:00:00+08:00",
}


@pytest.mark.parametrize(("host_tz", "offset"), [("UTC", "+0000"), ("Asia/Shanghai", "+0800")])
def test_work_orders_keep_china_time_under_any_host_zone(
    host_tz: str, offset: str, tmp_path: Path,
) -> None:
    env = {**os.environ, "TZ": host_tz, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "tests.workorders.hotline_time_scenario", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["host_utc_offset"] == offset  # the child really ran in that zone

    # The real clock: received_at is the instant of the request, written in China time.
    real = out["real"]
    for shown in (real["received_at"], real["open311_requested"]):
        assert shown.endswith("+08:00")
        instant = datetime.fromisoformat(shown).timestamp()
        assert int(real["before"]) <= instant <= real["after"], (shown, real)

    assert {k: v["received_at"] for k, v in out["deadlines"].items()} == EXPECTED_RECEIVED
    assert {k: v["due_at"] for k, v in out["deadlines"].items()} == EXPECTED_DUE
    assert {k: v["open311_expected"] for k, v in out["deadlines"].items()} == EXPECTED_DUE


async def test_the_time_zone_setting_decides_the_days(tmp_path: Path) -> None:
    """``[workorders] time_zone`` is the zone the desk decides days in and writes instants
    in (on the starting main the setting did not exist: an unknown key stopped start-up).

    Fri 2026-06-12 17:00 UTC is Friday 23:00 in Asia/Urumqi (UTC+6): one working hour
    left that day, Sat/Sun off, then 23 hours of Monday → Mon 2026-06-15 23:00+06:00.
    In Asia/Shanghai the same instant is Saturday 01:00 and would give Tue 00:00+08:00."""
    config = write_settings(tmp_path, 'time_zone = "Asia/Urumqi"')
    instant = datetime(2026, 6, 12, 17, 0, tzinfo=UTC)
    async with served(config, clock=lambda: instant) as (api, _):
        status, body = await api.post("/api/workorders", "operator", help_request())
        assert status == 201, body
        assert body["order"]["received_at"] == "2026-06-12T23:00:00+06:00"
        assert body["order"]["due_at"] == "2026-06-15T23:00:00+06:00"


def test_an_unknown_time_zone_stops_start_up_naming_the_setting(tmp_path: Path) -> None:
    config = write_settings(tmp_path, 'time_zone = "Mars/Olympus_Mons"')
    with pytest.raises(ConfigError) as err:
        settings_of(config)
    assert "workorders.time_zone" in str(err.value) and "Mars/Olympus_Mons" in str(err.value)
