"""The work-order API composed from a settings file the way the core composes it
(``stack.settings.load_settings`` → ``stack.core.desk_settings``), on a migrated SQLite
database, served by a real aiohttp server on loopback. A test may replace the desk's
clock (the instant "now"); everything else comes from the settings."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import policy_from_mapping
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from stack.core import desk_settings
from stack.settings import Settings, load_settings
from tests.workorders.conftest import (
    TOKENS,
    UNITS_WITH_TOKENS,
    Api,
    load_sample_calls,
    load_sample_dispatch_data,
)
from web.app import create_app
from web.kb import routes as kb
from web.keys import WORKORDERS, WorkOrderServices, provide
from web.metrics import routes as metrics
from web.open311 import routes as open311
from web.workorders.routes import register


def write_settings(tmp: Path, workorders: str = "", extra: str = "") -> Path:
    """A settings file for a stack living in ``tmp``; ``workorders`` is added to the
    ``[workorders]`` table, ``extra`` appended as is."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "hotline.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{tmp / "var"}"\n'
        f'[database]\nurl = "sqlite:///{tmp / "hotline.db"}"\n'
        f'[workorders]\npreset = "gaotai"\n{workorders}\n{extra}\n', encoding="utf-8")
    return config


def settings_of(config: Path) -> Settings:
    return load_settings(config, env={"HOTLINE_AMI_SECRET": "s", "HOTLINE_REDIS_PASSWORD": "r"})


def policy() -> Any:
    entries: list[dict[str, Any]] = [
        {"name": f"{role}-user", "role": role, "token": tok} for role, tok in TOKENS.items()]
    entries += [{"name": f"{u}-user", "role": "unit", "unit": u, "token": f"unit:{u}"}
                for u in UNITS_WITH_TOKENS]
    return policy_from_mapping({"tokens": entries, "unmasked_roles": ["callback"]})


@asynccontextmanager
async def served(config: Path, clock: Callable[[], datetime] | None = None,
                 route_modules: tuple[Any, ...] = ()) -> AsyncIterator[
                     tuple[Api, sessionmaker[Session]]]:
    settings = settings_of(config)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    load_sample_dispatch_data(maker)
    load_sample_calls(maker)
    desk = desk_settings(settings)
    if clock is not None:
        desk = dataclasses.replace(desk, clock=clock)
    app = create_app(maker, route_modules=[register, kb.register, metrics.register,
                                           open311.register, *route_modules],
                     services=[provide(WORKORDERS, WorkOrderServices(desk=desk,
                                                                     access=policy()))])
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Api(client), maker
    finally:
        await client.close()
        engine.dispose()
