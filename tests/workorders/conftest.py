"""Fixtures for work-order tests: a migrated database on SQLite *and* PostgreSQL, a clock
the test moves by hand, the gaotai preset, tokens for every role, and the API served by
a real aiohttp server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy, policy_from_mapping
from hotline_core.call_records import CallRecord
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.csv_import import (
    import_gazetteer,
    import_responsibility_list,
    import_units,
)
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.presets import Preset, load_preset
from testkit.postgres import fresh_database
from web.app import create_app
from web.kb import routes as kb
from web.keys import WORKORDERS, WorkOrderServices, provide
from web.metrics import routes as metrics
from web.open311 import routes as open311
from web.openapi import routes as openapi
from web.workorders.routes import register

CONFIG = Path(__file__).resolve().parents[2] / "config"

# role -> token; unit users are "unit:<code>"
TOKENS = {
    "operator": "tok-operator", "dispatcher": "tok-dispatcher", "supervisor": "tok-supervisor",
    "callback": "tok-callback",
}
UNITS_WITH_TOKENS = ["town-chengguan", "town-xuanhua", "town-luocheng", "dept-housing",
                     "dept-market", "dept-hrss", "dept-transport", "dept-ecology"]


class Clock:
    """The hotline's clock, moved by the test: no sleeps, no wall-clock dependence."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server_url"))
    upgrade(url)  # the schema always comes from the migrations, on both backends
    return url


@pytest.fixture
def maker(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def preset() -> Preset:
    return load_preset("gaotai")


@pytest.fixture(scope="session")
def calendar() -> ChineseWorkingCalendar:
    return ChineseWorkingCalendar()


@pytest.fixture
def clock() -> Clock:
    # Monday 2026-06-08 09:00, an ordinary working week (no holiday until 端午 06-19).
    return Clock(datetime(2026, 6, 8, 9, 0))


@pytest.fixture
def settings(preset: Preset, calendar: ChineseWorkingCalendar, clock: Clock) -> DeskSettings:
    return DeskSettings(preset=preset, calendar=calendar, clock=clock)


@pytest.fixture(scope="session")
def policy() -> AccessPolicy:
    entries: list[dict[str, Any]] = [
        {"name": f"{role}-user", "role": role, "token": tok} for role, tok in TOKENS.items()
    ]
    entries += [{"name": f"{u}-user", "role": "unit", "unit": u, "token": f"unit:{u}"}
                for u in UNITS_WITH_TOKENS]
    return policy_from_mapping({"tokens": entries, "unmasked_roles": ["callback"]})


# Calls the work-order tests make orders from: (id, caller, line, department, recording).
SAMPLE_CALLS = [
    ("call-0001", "13812345678", "12345", "", "20260608/call-0001.wav"),
    ("call-0002", "13812345678", "12345", "", "20260608/call-0002.wav"),
    ("call-0003", "13900001111", "12345", "", "20260608/call-0003.wav"),
    ("call-0004", "13812345678", "12345", "", "20260608/call-0004.wav"),
    ("call-9", "13600000000", "12345", "", "20260608/call-9.wav"),
    ("call-dual-1", "13712345678", "88880001", "县住建局", "20260608/call-dual-1.wav"),
]


def load_sample_calls(maker: sessionmaker[Session]) -> None:
    with maker() as s, s.begin():
        for call_id, caller, line, department, recording in SAMPLE_CALLS:
            s.add(CallRecord(id=call_id, linkedid=call_id, line=line, department=department,
                             caller=caller, offered_at=datetime(2026, 6, 8, 0, 55, tzinfo=UTC),
                             disposition="answered", recording=recording))


def load_sample_dispatch_data(maker: sessionmaker[Session]) -> None:
    with maker() as s, s.begin():
        import_units(s, (CONFIG / "units.sample.csv").read_text(encoding="utf-8"))
        import_responsibility_list(
            s, (CONFIG / "responsibility_list.sample.csv").read_text(encoding="utf-8"))
        import_gazetteer(s, (CONFIG / "gazetteer.sample.csv").read_text(encoding="utf-8"))


@pytest.fixture
def seeded(maker: sessionmaker[Session]) -> sessionmaker[Session]:
    load_sample_dispatch_data(maker)
    load_sample_calls(maker)
    return maker


@dataclass
class Api:
    """A client per role against the real server; ``as_(role)`` picks the token."""

    client: TestClient

    def _headers(self, who: str) -> dict[str, str]:
        token = TOKENS.get(who) or f"unit:{who}"
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, who: str, body: Any = None,
                   raw: bytes | str | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"headers": self._headers(who)}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        resp = await self.client.request(method, path, **kwargs)
        ctype = resp.headers.get("Content-Type", "")
        payload = await resp.json() if "json" in ctype else await resp.read()
        return resp.status, payload

    async def post(self, path: str, who: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, who, body, **kw)

    async def get(self, path: str, who: str) -> tuple[int, Any]:
        return await self.call("GET", path, who)


@pytest.fixture
async def api(seeded: sessionmaker[Session], settings: DeskSettings,
              policy: AccessPolicy) -> AsyncIterator[Api]:
    app = create_app(seeded, route_modules=[register, kb.register, metrics.register,
                                            open311.register, openapi.register],
                     services=[provide(WORKORDERS, WorkOrderServices(desk=settings,
                                                                     access=policy))])
    server = TestServer(app, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()
