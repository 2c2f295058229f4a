"""The HTTP API composed as the core composes it (every route module, the same services,
health probes from :class:`stack.core.Core`), on a migrated SQLite database and a real
redis-server, served by a real aiohttp server on loopback."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy, policy_from_mapping
from hotline_core.acd import DistributionConfig, Distributor
from hotline_core.acd.caller_flags import CallerFlags
from hotline_core.acd.restriction import RestrictionList
from hotline_core.agent_directory import AgentEntry
from hotline_core.call_records import CallLog
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.lines import load_lines
from hotline_core.migrate import upgrade
from hotline_core.screen_pop import ScreenPops
from hotline_core.signin_guard import SigninGuard
from hotline_core.transfers import TransferStore, load_centres, load_transfer_list
from hotline_core.users import SigninTable
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.presets import load_preset
from ivr.ami import AmiClient
from ivr.live_calls import LiveCalls
from ivr.records import AsyncCallLog
from ivr.spy import ChanSpy
from ivr.transfer import TransferService
from stack.core import Core
from tests.workorders.conftest import load_sample_dispatch_data
from web.agents.services import AGENTS, AgentServices
from web.app import create_app
from web.callers.services import CALLERS, CallerServices
from web.calls.services import CALLS, CallServices
from web.campaigns.services import CAMPAIGNS, CampaignServices
from web.desk.routes import LivePops
from web.desk.services import DESK, DeskServices
from web.keys import WORKORDERS, WorkOrderServices, provide
from web.live import services as live_api
from web.live.services import LIVE
from web.people import SIGNIN, SigninServices
from web.restrictions.services import RESTRICTIONS, RestrictionServices
from web.routes import ROUTE_MODULES
from web.spy.services import SPY, CallSpy, SpyServices
from web.transfers.services import TRANSFERS, TransferServices

# name -> token. Operators are named by their agent id, as `hotline up` names them.
TOKENS = {
    "supervisor": "tok-supervisor", "dispatcher": "tok-dispatcher", "callback": "tok-callback",
    "1001": "tok-agent-1001", "1002": "tok-agent-1002",
    "town-chengguan": "tok-unit-chengguan", "dept-housing": "tok-unit-housing",
}
ROLES = {"supervisor": "supervisor", "dispatcher": "dispatcher", "callback": "callback",
         "1001": "operator", "1002": "operator",
         "town-chengguan": "unit", "dept-housing": "unit"}
_namespaces = itertools.count()
CONFIG = Path(__file__).resolve().parents[2] / "config"
# The lines' skills for the voice-message inbox: agents 1001 and 1002 (general) serve 12345,
# nobody serves 96119.
LINE_SKILLS = {"12345": ("general",), "96119": ("fire-hazard",)}


def policy() -> AccessPolicy:
    entries: list[dict[str, Any]] = []
    for name, token in TOKENS.items():
        entry = {"name": name, "role": ROLES[name], "token": token}
        if ROLES[name] == "unit":
            entry["unit"] = name
        entries.append(entry)
    return policy_from_mapping({"tokens": entries, "unmasked_roles": ["callback"]})


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@dataclass
class Composed:
    client: TestClient[Any, Any]
    maker: sessionmaker[Session]
    redis: aioredis.Redis           # the calls' client (distributor, restrictions, flags)
    live_redis: aioredis.Redis      # the live sockets' own client
    distributor: Distributor
    restrictions: RestrictionList
    call_log: CallLog
    live: live_api.LiveServices
    namespace: str                  # every Redis key and channel of this hotline

    async def json(self, method: str, path: str, who: str | None = None,
                   body: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body,
                                         headers=bearer(who) if who else {})
        return resp.status, await resp.json()


@asynccontextmanager
async def composed(tmp_path: Path, redis_url: str, max_sockets: int = live_api.MAX_SOCKETS,
                   max_sockets_per_token: int = live_api.MAX_SOCKETS_PER_TOKEN,
                   namespace: str | None = None,
                   signin: SigninTable | None = None,
                   spy: CallSpy | None = None) -> AsyncIterator[Composed]:
    """The composed API, with LiveServices' socket caps as given, its Redis keys and
    channels under ``namespace`` (a fresh one when None), as ``[redis] namespace`` sets
    them for the core. Transfers and listen/whisper/barge run over an AMI client that is
    never started (no call is live here: they refuse before Asterisk is asked); ``spy``
    replaces the telephony side of listening in."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    load_sample_dispatch_data(maker)
    access = policy()
    desk = DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                        clock=lambda: datetime(2026, 6, 8, 9, 0))
    namespace = namespace or f"sec{next(_namespaces)}-{id(tmp_path)}"
    redis = aioredis.from_url(redis_url, socket_timeout=5, client_name="hotline-calls")
    live_redis = live_api.pubsub_client(redis_url, max_sockets)
    distributor = Distributor(redis, DistributionConfig(), namespace=namespace)
    restrictions = RestrictionList(redis, namespace=namespace)
    call_log = CallLog(maker)

    async def agent_of_call(call_id: str) -> str | None:
        record = call_log.get(call_id)
        return record.agent_id if record is not None else None

    core = Core(settings=None, spec=None)  # type: ignore[arg-type]  # probes need neither
    core.redis = redis
    agents = {a: AgentEntry(id=a, name=a, group="call-taking", skills={"general": 1})
              for a in ("1001", "1002")}
    flags = CallerFlags(redis, namespace)
    ami = AmiClient("127.0.0.1", 1, "none", "none")
    live_calls = LiveCalls(redis, namespace)
    transfer_store = TransferStore(maker)
    transfers = TransferService(ami, live_calls, AsyncCallLog(call_log), distributor,
                                transfer_store, load_centres(CONFIG / "centres.toml"),
                                load_lines(CONFIG / "lines.toml"))
    desk_services = DeskServices(
        distributor, ScreenPops(distributor.view, maker, flags, restrictions, desk.now),
        access, agents, DistributionConfig().pause_reasons, DistributionConfig().wrapup_seconds,
        line_skills=dict(LINE_SKILLS), recordings_dir=tmp_path / "recordings", redis=redis)
    live = live_api.LiveServices(distributor, live_redis, access, call_owner=agent_of_call,
                                 max_sockets=max_sockets,
                                 max_sockets_per_token=max_sockets_per_token,
                                 pops=LivePops(desk_services))
    app = create_app(
        maker,
        route_modules=ROUTE_MODULES,
        health_probes=core._probes(engine),
        services=[
            provide(CALLS, CallServices(call_log, access, tmp_path / "recordings", maker)),
            provide(AGENTS, AgentServices(distributor, agents, access)),
            provide(RESTRICTIONS, RestrictionServices(
                restrictions, access, days=desk.preset.restriction_days)),
            provide(LIVE, live),
            provide(CALLERS, CallerServices(flags, access)),
            provide(DESK, desk_services),
            provide(WORKORDERS, WorkOrderServices(desk=desk, access=access)),
            provide(CAMPAIGNS, CampaignServices(maker, access)),
            provide(SIGNIN, SigninServices(signin or SigninTable(), Fernet.generate_key(),
                                           False, SigninGuard(redis, namespace))),
            provide(TRANSFERS, TransferServices(
                transfers, transfer_store, access,
                load_transfer_list(CONFIG / "transfer_list.toml"))),
            provide(SPY, SpyServices(spy or ChanSpy(ami, live_calls), distributor, agents,
                                     access)),
        ],
        access=access,
    )
    server = TestServer(app, host="127.0.0.1")
    # No access log, as the core serves it (paths such as /api/callers/{number} hold numbers).
    await server.start_server(access_log=None)
    client = TestClient(server)
    await client.start_server()
    try:
        yield Composed(client, maker, redis, live_redis, distributor, restrictions, call_log,
                       live, namespace)
    finally:
        await client.close()
        await live_redis.aclose()
        await redis.aclose()
        engine.dispose()
