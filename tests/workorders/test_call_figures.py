"""Issue 9 item 4 (stored figures): 30-minute rows per line kept in the database, a day
against the day before and a month, on an API route for supervisors.

On the starting main (4b97079) no figure was ever stored: the live counters in Redis were
the only figures, so "today vs yesterday" and a monthly call-centre report (24-hour
connection rate ≥ 95 %, GB/T 33358) could not be computed, and no route served them.

The call records below are written by hand (China time; stored in UTC) and the rows are
made by ``store_recent``, the function the core's ``run_call_figures`` loop calls. Every
expected number is worked out in the comments from the definitions in
``hotline_core/call_intervals.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy
from hotline_core.call_intervals import store_recent
from hotline_core.call_records import CallRecord
from hotline_core.workorders.desk import DeskSettings
from tests.workorders.conftest import TOKENS, Clock
from web.app import create_app
from web.call_figures import routes as call_figures_api
from web.keys import WORKORDERS, WorkOrderServices, provide

CST = ZoneInfo("Asia/Shanghai")
DAY = "/api/call-figures/day"


def _at(day: int, h: int, m: int, s: int = 0) -> datetime:
    return datetime(2026, 6, day, h, m, s, tzinfo=CST)


# (id, line, disposition, offered, answered after s, talk s | ended after s when unanswered)
CALLS = [
    ("c1", "12345", "answered", _at(8, 9, 0), 10, 300),
    ("c2", "12345", "answered", _at(8, 9, 10), 20, 120),
    ("c3", "12345", "abandoned", _at(8, 9, 20), None, 30),
    ("c4", "12345", "answered", _at(8, 9, 40), 5, 60),
    ("c5", "12345", "answered", _at(8, 23, 50), 15, 600),   # talk runs past midnight
    ("c6", "12345", "answered", _at(8, 7, 30), 5, 60),      # 06-07 23:30 UTC: a 06-08 call
    ("c7", "12345", "restricted", _at(8, 10, 0), None, 3),  # never offered to an agent
    ("c8", "12333", "voice-message", _at(8, 10, 0), None, 120),
    ("c9", "12345", "answered", _at(7, 15, 0), 5, 60),      # the day before
]


def _seed(maker: sessionmaker[Session]) -> None:
    with maker.begin() as s:
        for cid, line, disposition, offered, answer_s, rest_s in CALLS:
            answered = offered + timedelta(seconds=answer_s) if answer_s is not None else None
            ended = (answered or offered) + timedelta(seconds=rest_s)
            # In UTC, as the call log writes them (SQLite keeps no offset).
            s.add(CallRecord(id=cid, linkedid=cid, line=line, caller="13700000000",
                             offered_at=offered.astimezone(UTC),
                             answered_at=answered.astimezone(UTC) if answered else None,
                             ended_at=ended.astimezone(UTC),
                             disposition=disposition, agent_id="1001" if answered else None))
    with maker.begin() as s:
        store_recent(s, _at(9, 0, 30), CST)


@pytest.fixture
async def client(maker: sessionmaker[Session], preset: object, calendar: object,
                 policy: AccessPolicy) -> AsyncIterator[TestClient]:
    _seed(maker)
    desk = DeskSettings(preset=preset, calendar=calendar,  # type: ignore[arg-type]
                        clock=Clock(_at(8, 18, 0)))
    app = create_app(maker, route_modules=[call_figures_api.register],
                     services=[provide(WORKORDERS, WorkOrderServices(desk=desk, access=policy))])
    c = TestClient(TestServer(app, host="127.0.0.1"))
    await c.start_server()
    yield c
    await c.close()


def _auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS.get(who) or 'unit:' + who}"}


async def test_today_against_yesterday_from_the_stored_rows(client: TestClient) -> None:
    resp = await client.get(DAY, headers=_auth("supervisor"))  # today: the clock's 06-08
    assert resp.status == 200
    out = await resp.json()
    assert out["date"] == "2026-06-08"
    line = out["day"]["lines"]["12345"]
    # 12345 on 06-08: c1..c6 offered (c7 restricted is left out) = 6; answered c1, c2, c4,
    # c5, c6 = 5; abandoned c3 = 1; within 15 s: c1 10 s, c4 5 s, c5 15 s, c6 5 s = 4
    # (c2 waited 20 s); talk 300 + 120 + 60 + 600 + 60 = 1140; wait 10 + 20 + 30 + 5 + 15
    # + 5 = 85.
    assert {k: line[k] for k in ("offered", "answered", "abandoned", "answered_within_15s",
                                 "talk_seconds", "wait_seconds")} == {
        "offered": 6, "answered": 5, "abandoned": 1, "answered_within_15s": 4,
        "talk_seconds": 1140, "wait_seconds": 85}
    # 12333: c8, a voice message after 120 s: offered, neither answered nor abandoned.
    assert out["day"]["lines"]["12333"]["offered"] == 1
    assert out["day"]["lines"]["12333"]["answered"] == 0
    total = out["day"]["total"]
    assert (total["offered"], total["answered"], total["wait_seconds"]) == (7, 5, 205)
    assert total["connection_rate"] == 5 / 7 and total["service_level"] == 4 / 7
    assert total["meets_connection_target"] is False  # 71 % < 95 %
    before = out["previous_day"]["total"]
    # 06-07: c9 only (c6 is 06-07 in UTC but 06-08 in China).
    assert (before["offered"], before["answered"], before["answered_within_15s"]) == (1, 1, 1)
    assert before["meets_connection_target"] is True


async def test_the_month_and_the_interval_rows(client: TestClient) -> None:
    resp = await client.get("/api/call-figures/month?month=2026-06", headers=_auth("supervisor"))
    out = await resp.json()
    assert resp.status == 200
    # June: 7 offered on 06-08 + 1 on 06-07 = 8; answered 5 + 1 = 6; within 15 s 4 + 1 = 5.
    assert (out["total"]["offered"], out["total"]["answered"],
            out["total"]["answered_within_15s"]) == (8, 6, 5)
    assert out["total"]["connection_rate"] == 6 / 8
    assert len(out["days"]) == 30
    assert [(d["date"], d["offered"]) for d in out["days"] if d["offered"]] == [
        ("2026-06-07", 1), ("2026-06-08", 7)]
    resp = await client.get("/api/call-figures/intervals?date=2026-06-08&line=12345",
                            headers=_auth("supervisor"))
    rows = (await resp.json())["rows"]
    # 07:30 c6; 09:00 c1, c2, c3 (talk 420, wait 60, one within 15 s); 09:30 c4; 23:30 c5.
    assert [(r["starts_at"], r["offered"], r["answered"], r["abandoned"],
             r["answered_within_15s"], r["talk_seconds"], r["wait_seconds"]) for r in rows] == [
        ("2026-06-08T07:30:00+08:00", 1, 1, 0, 1, 60, 5),
        ("2026-06-08T09:00:00+08:00", 3, 2, 1, 1, 420, 60),
        ("2026-06-08T09:30:00+08:00", 1, 1, 0, 1, 60, 5),
        ("2026-06-08T23:30:00+08:00", 1, 1, 0, 1, 600, 15)]


async def test_only_supervisors_read_call_figures(client: TestClient) -> None:
    """Attack: no token, a wrong token, and every other role."""
    resp = await client.get(DAY)
    assert resp.status == 401
    resp = await client.get(DAY, headers={"Authorization": "Bearer forged"})
    assert resp.status == 401
    for who in ("operator", "dispatcher", "callback", "town-chengguan"):
        for path in (DAY, "/api/call-figures/month", "/api/call-figures/intervals"):
            resp = await client.get(path, headers=_auth(who))
            assert resp.status == 403, (who, path)
            assert "supervisor" in (await resp.json())["error"]


@pytest.mark.parametrize(("query", "field"), [
    ("/api/call-figures/day?date=2026-13-01", "date"),
    ("/api/call-figures/day?date=' OR 1=1 --", "date"),
    ("/api/call-figures/day?date=9999-12-31", "date"),
    ("/api/call-figures/day?date=0001-01-01", "date"),
    ("/api/call-figures/intervals?date=2026-06-08&line=12345' OR '1'='1", "line"),
    ("/api/call-figures/intervals?date=2026-06-08&line=" + "1" * 5000, "line"),
    ("/api/call-figures/month?month=9999-12", "month"),
    ("/api/call-figures/month?month=0000-01", "month"),
    ("/api/call-figures/month?month=2026-6", "month"),
])
async def test_hostile_queries_get_a_4xx_naming_the_field(
    client: TestClient, query: str, field: str,
) -> None:
    resp = await client.get(query, headers=_auth("supervisor"))
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["field"] == field
