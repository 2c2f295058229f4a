"""A restriction lasts the active preset's ``[restriction] days``, not a constant.

On the starting main the API restricted every number for 30 days whatever the preset said
(``RestrictionServices.default_days = 30`` and the core never passed the preset's value): a
preset with ``days = 7`` still gave 30 days. Here the app is composed from two presets — the
shipped huizhou preset (its seed rule: "30個自然日內限制占用12345電話資源") and a copy of it
with ``days = 7`` — and a restriction asked without a length lasts exactly that many days
of 24 h. The e2e module tests/e2e/test_distribution_rules.py shows the same through the
running core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from hotline_core.acd.restriction import RestrictionList
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.workorders.presets import PRESET_DIR, Preset, load_preset
from tests.security.composed import bearer, policy
from web.app import create_app
from web.keys import provide
from web.restrictions import routes as restrictions_api
from web.restrictions.services import RESTRICTIONS, RestrictionServices

DAY = 86_400.0


def seven_day_preset(tmp_path: Path) -> Preset:
    text = (PRESET_DIR / "huizhou.toml").read_text(encoding="utf-8")
    assert text.count("days = 30") == 1
    path = tmp_path / "seven.toml"
    path.write_text(text.replace("days = 30", "days = 7"), encoding="utf-8")
    return load_preset(path)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, socket_timeout=5)
    yield client
    await client.aclose()


async def restrict_without_length(tmp_path: Path, redis: aioredis.Redis, preset: Preset,
                                  namespace: str) -> dict[str, float]:
    engine = make_engine(f"sqlite:///{tmp_path / f'{namespace}.db'}")
    app = create_app(make_sessionmaker(engine), route_modules=[restrictions_api.register],
                     services=[provide(RESTRICTIONS, RestrictionServices(
                         RestrictionList(redis, namespace=namespace), policy(),
                         days=preset.restriction_days))],
                     access=policy())
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.post("/api/restrictions", headers=bearer("supervisor"),
                                 json={"number": "13500135000", "reason": "辱骂话务员"})
        assert resp.status == 201, await resp.text()
        body: dict[str, float] = await resp.json()
        return body
    finally:
        await client.close()
        engine.dispose()


async def test_restriction_length_follows_the_preset(tmp_path: Path,
                                                     redis: aioredis.Redis) -> None:
    huizhou = await restrict_without_length(tmp_path, redis, load_preset("huizhou"),
                                            f"rdays-hz-{id(tmp_path)}")
    assert huizhou["until"] - huizhou["since"] == pytest.approx(30 * DAY)
    seven = await restrict_without_length(tmp_path, redis, seven_day_preset(tmp_path),
                                          f"rdays-7-{id(tmp_path)}")
    assert seven["until"] - seven["since"] == pytest.approx(7 * DAY)
