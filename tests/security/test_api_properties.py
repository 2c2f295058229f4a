"""Property-based run of the whole HTTP API from its own OpenAPI document (schemathesis).

The application is composed as ``stack/core.py`` composes it (call records, agents, live
socket, restriction list, caller flags, work orders, knowledge base, metrics, Open311,
OpenAPI) over a real SQLite database and a real redis-server, holds real data — orders of
two units with citizens' mobile numbers, a call record with its recording, a logged-in
agent, a restricted and a flagged number — and is served by aiohttp on 127.0.0.1 in a
thread of its own. ``/api/openapi.json`` is loaded from that server; every operation gets
a bounded number of generated requests, once per role and once without a token.

Checks on every response:

- no 5xx;
- no unmasked mainland mobile number (``1[3-9]`` + 9 digits, in full) for any role but
  callback, unless the request itself carried it (an echo discloses nothing) or it is a
  unit liaison's work number from the dispatch data;
- for a unit: no work order of another unit under ``/api/`` (by id, text or caller).

Each run first makes a few fixed requests through the same checks, so the checks are seen
to have real data under them: the callback role must see a full number (the scanner finds
it), every other reader only masked ones.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import requests
import schemathesis
from aiohttp import web
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import AccessPolicy, Principal, Role, policy_from_mapping
from hotline_core.acd import Distributor
from hotline_core.acd.caller_flags import CallerFlags
from hotline_core.acd.config import load_distribution_config
from hotline_core.acd.restriction import RestrictionList
from hotline_core.agent_directory import load_agents
from hotline_core.call_records import CallLog, Disposition
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.lines import load_lines
from hotline_core.migrate import upgrade
from hotline_core.screen_pop import ScreenPops
from hotline_core.transfers import TransferStore, load_centres, load_transfer_list
from hotline_core.users import SigninTable
from hotline_core.workorders import desk
from hotline_core.workorders.calendar import ChineseWorkingCalendar
from hotline_core.workorders.desk import DeskSettings, Intake
from hotline_core.workorders.presets import Category, load_preset
from ivr.ami import AmiClient
from ivr.live_calls import LiveCalls
from ivr.records import AsyncCallLog
from ivr.spy import ChanSpy
from ivr.transfer import TransferService
from tests.workorders.conftest import Clock, load_sample_dispatch_data
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
from web.spy.services import SPY, SpyServices
from web.transfers.services import TRANSFERS, TransferServices

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"

# Generated requests per operation and role, in two steps. SCOUT_EXAMPLES first: when
# every answer refuses the caller (401, 403, a page's redirect to sign-in), the role is
# stopped before any handler reads the input, so more input reaches nothing new; else
# MAX_EXAMPLES. Every operation stays in every run, and a run costs what the operations the
# role may really use cost. On 2026-11-30 the table had grown to 114 operations (twice the
# ~50 the former 25 examples for every operation and role were set for); the scouting of
# all 114 took 14-15 s of CPU per role. Whole runs measured at load ~5 (CPU of the test
# process, which also serves the app: the wall time on an idle 2-core machine): supervisor
# 88 operations reached, 1520 requests, 25 s; operator 68, 1262, 18 s; anonymous 19, 653,
# 12 s — against a 240 s timeout.
SCOUT_EXAMPLES = 5
MAX_EXAMPLES = 15

TOKENS = {
    "operator": "prop-operator", "dispatcher": "prop-dispatcher", "unit": "prop-unit",
    "supervisor": "prop-supervisor", "callback": "prop-callback",
}
UNIT = "town-chengguan"          # the unit whose token is used
OTHER_UNIT = "dept-transport"    # a unit whose orders it must never see

# Citizens' numbers in the seeded data (real mainland mobile shapes).
OWN_CITIZEN = "13912340001"      # complaint dispatched to UNIT
OTHER_CITIZEN = "13712340002"    # complaint dispatched to OTHER_UNIT only
CALLER = "15012340003"           # a call record
RESTRICTED = "18612340004"       # on the restriction list
FLAGGED = "13512340005"          # flagged as needing help
CITIZENS = (OWN_CITIZEN, OTHER_CITIZEN, CALLER, RESTRICTED, FLAGGED)
OTHER_MARKER = "交通局专属工单"   # text of the other unit's order

MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def _staff_numbers() -> frozenset[str]:
    """Unit liaisons' numbers from the dispatch data: staff, not citizens."""
    text = (CONFIG / "units.sample.csv").read_text(encoding="utf-8")
    return frozenset(MOBILE.findall(text))


STAFF_NUMBERS = _staff_numbers()


def _masked(number: str) -> str:
    return number[:3] + "****" + number[-4:]


# ------------------------------------------------------------------ the composed server


@dataclass
class Seeded:
    own_order: int = 0
    other_order: int = 0
    call_id: str = "call-prop-0001"
    entry_id: int = 0
    agent_id: str = "1001"


def _policy() -> AccessPolicy:
    entries: list[dict[str, Any]] = [
        {"name": "1001", "role": "operator", "token": TOKENS["operator"]},
        {"name": "派单员", "role": "dispatcher", "token": TOKENS["dispatcher"]},
        {"name": "督办", "role": "supervisor", "token": TOKENS["supervisor"]},
        {"name": "回访员", "role": "callback", "token": TOKENS["callback"]},
        {"name": "城关镇联络员", "role": "unit", "unit": UNIT, "token": TOKENS["unit"]},
    ]
    return policy_from_mapping({"tokens": entries, "unmasked_roles": ["callback"]})


def _seed_database(maker: sessionmaker[Session], cfg: DeskSettings, seeded: Seeded) -> None:
    load_sample_dispatch_data(maker)
    dispatcher = Principal("派单员", Role.DISPATCHER)
    with maker() as s, s.begin():
        own = desk.create_order(s, cfg, dispatcher, Intake(
            channel="web", category=Category.COMPLAINT, caller_number=OWN_CITIZEN,
            caller_name="张三", description="南关村村口垃圾堆放一个多月无人清运",
            locality="南关村", address="城关镇南关村村口", matter="农村人居环境整治")).order
        desk.dispatch(s, cfg, dispatcher, own.id, lead=UNIT, reason="属地管理")
        other = desk.create_order(s, cfg, dispatcher, Intake(
            channel="web", category=Category.REPORT, caller_number=OTHER_CITIZEN,
            caller_name="李四", description=f"{OTHER_MARKER}: 国道边货车违规停放",
            address="国道旁", matter="道路交通")).order
        desk.dispatch(s, cfg, dispatcher, other.id, lead=OTHER_UNIT, reason="交通管理")
        seeded.own_order, seeded.other_order = own.id, other.id
    from hotline_core.workorders import knowledge

    with maker() as s, s.begin():
        entry = knowledge.save_entry(s, unit=None, question="社保卡丢了怎么办",
                                     answer="携带身份证到社保大厅补办", keywords="社保卡",
                                     public=True, now=cfg.now())
        seeded.entry_id = entry.id


def _seed_calls(maker: sessionmaker[Session], recordings: Path, seeded: Seeded) -> None:
    log = CallLog(maker)
    at = datetime(2026, 6, 8, 1, 0, tzinfo=UTC)
    name = f"20260608/{seeded.call_id}.wav"
    (recordings / "20260608").mkdir(parents=True)
    (recordings / name).write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    log.offered(seeded.call_id, line="12345", caller=CALLER, at=at, recording=name)
    log.answered(seeded.call_id, seeded.agent_id, at)
    log.closed(seeded.call_id, Disposition.ANSWERED, "answered", at)


class ServedApp:
    """The composed application on 127.0.0.1, run by an event loop in its own thread so
    that the synchronous schemathesis client can call it."""

    def __init__(self, build: Callable[[], Awaitable[web.Application]]) -> None:
        self._build = build
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def start(self) -> None:
        self._thread.start()
        self.base_url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)

    async def _start(self) -> str:
        self._runner = web.AppRunner(await self._build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path, redis_url: str) -> Any:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    clock = Clock(datetime(2026, 6, 8, 9, 0))
    cfg = DeskSettings(preset=load_preset("gaotai"), calendar=ChineseWorkingCalendar(),
                       clock=clock)
    access = _policy()
    seeded = Seeded()
    _seed_database(maker, cfg, seeded)
    recordings = tmp_path / "recordings"
    _seed_calls(maker, recordings, seeded)
    namespace = f"props-{uuid.uuid4().hex[:8]}"
    agents = load_agents(CONFIG / "agents.toml")
    clients: list[aioredis.Redis] = []

    async def build() -> web.Application:
        redis = aioredis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        pubsub = aioredis.from_url(redis_url, socket_timeout=None, socket_connect_timeout=5)
        clients.extend([redis, pubsub])
        distributor = Distributor(redis, load_distribution_config(CONFIG / "distribution.toml"),
                                  namespace=namespace)
        agent = next(a for a in agents if a.id == seeded.agent_id)
        await distributor.agent_login(agent.id, agent.skills, group=agent.group)
        restrictions = RestrictionList(redis, namespace=namespace)
        await restrictions.restrict(RESTRICTED, "恶意骚扰", by="督办", days=30)
        flags = CallerFlags(redis, namespace=namespace)
        await flags.flag(FLAGGED, "高龄老人")
        # Transfers as the core composes them, over an AMI client that is never started:
        # no call is in progress here, so a transfer is refused before Asterisk is asked.
        transfers = TransferService(
            AmiClient("127.0.0.1", 1, "none", "none"), LiveCalls(redis, namespace),
            AsyncCallLog(CallLog(maker)), distributor, TransferStore(maker),
            load_centres(CONFIG / "centres.toml"), load_lines(CONFIG / "lines.toml"))
        dist = load_distribution_config(CONFIG / "distribution.toml")
        desk = DeskServices(distributor, ScreenPops(distributor.view, maker, flags,
                                                    restrictions, cfg.now),
                            access, {a.id: a for a in agents}, dist.pause_reasons,
                            dist.wrapup_seconds)
        return create_app(
            maker,
            route_modules=ROUTE_MODULES,
            services=[
                provide(DESK, desk),
                provide(CALLS, CallServices(CallLog(maker), access, recordings, maker)),
                provide(AGENTS, AgentServices(distributor, {a.id: a for a in agents}, access)),
                provide(RESTRICTIONS, RestrictionServices(
                    restrictions, access, days=cfg.preset.restriction_days)),
                provide(LIVE, live_api.LiveServices(distributor, pubsub, access,
                                                    pops=LivePops(desk))),
                provide(CALLERS, CallerServices(flags, access)),
                provide(WORKORDERS, WorkOrderServices(desk=cfg, access=access)),
                provide(CAMPAIGNS, CampaignServices(maker, access)),
                provide(TRANSFERS, TransferServices(transfers, TransferStore(maker), access,
                                                    load_transfer_list(
                                                        CONFIG / "transfer_list.toml"))),
                provide(SIGNIN, SigninServices(SigninTable(), Fernet.generate_key(), False)),
                # Listen/whisper/barge over the same never-started AMI client: no call is
                # live here, so a request is refused before Asterisk is asked.
                provide(SPY, SpyServices(
                    ChanSpy(AmiClient("127.0.0.1", 1, "none", "none"),
                            LiveCalls(redis, namespace)),
                    distributor, {a.id: a for a in agents}, access)),
            ],
            access=access,
        )

    app = ServedApp(build)
    app.start()
    try:
        yield app, seeded
    finally:
        for client in clients:
            app.run(client.aclose())
        app.stop()
        engine.dispose()


# ------------------------------------------------------------------ the checks


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    full_numbers_seen: set[str] = field(default_factory=set)
    responses: int = 0


def _order_ids(data: Any) -> set[int]:
    """Ids of everything shaped like a work order (or a row about one) in a JSON value."""
    found: set[int] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key in ("order_id", "service_request_id"):
                if isinstance(value.get(key), int | str) and str(value[key]).isdigit():
                    found.add(int(value[key]))
            if "id" in value and "lead_unit" in value and isinstance(value["id"], int):
                found.add(value["id"])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def check_response(role: str, seeded: Seeded, method: str, path: str, sent: str,
                   status: int, content_type: str, body: str, findings: Findings) -> None:
    """Record every way this response breaks the rules for ``role``."""
    findings.responses += 1
    where = f"{role}: {method} {path} → {status}"
    if status >= 500:
        findings.problems.append(f"{where}: server error {body[:200]!r}")
    if "json" not in content_type and not content_type.startswith("text/"):
        return
    for number in set(MOBILE.findall(body)):
        if number in sent or number in STAFF_NUMBERS:
            continue  # the request carried it, or a liaison's work number
        findings.full_numbers_seen.add(number)
        if role != "callback":
            findings.problems.append(f"{where}: full phone number {number} in the response")
    if role == "unit" and path.startswith("/api/"):
        if OTHER_MARKER in body or _masked(OTHER_CITIZEN) in body or OTHER_CITIZEN in body:
            findings.problems.append(f"{where}: another unit's order (text or caller)")
        if "json" in content_type:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if seeded.other_order in _order_ids(data) and str(seeded.other_order) not in sent:
                findings.problems.append(f"{where}: order {seeded.other_order} of "
                                         f"{OTHER_UNIT} listed")


def _headers(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"} if role in TOKENS else {}


def fixed_requests(base_url: str, role: str, seeded: Seeded, findings: Findings) -> None:
    """Requests whose answers hold the seeded data, through the same checks."""
    for path in ("/api/workorders", f"/api/workorders/{seeded.own_order}",
                 f"/api/workorders/{seeded.other_order}", "/api/calls",
                 f"/api/calls/{seeded.call_id}", "/api/restrictions/audit",
                 "/open311/v2/requests.json"):
        resp = requests.get(base_url + path, headers=_headers(role), timeout=30)
        check_response(role, seeded, "GET", path, "", resp.status_code,
                       resp.headers.get("Content-Type", ""), resp.text, findings)


# ------------------------------------------------------------------ generation


def _pinned(doc: dict[str, Any], seeded: Seeded) -> dict[str, Any]:
    """Give path parameters the ids that exist as explicit examples, so generated
    requests reach the seeded orders, calls, agents and numbers (not only random
    strings); authentication is the test's, not the generator's."""
    known = {
        "order_id": [str(seeded.own_order), str(seeded.other_order)],
        "request_id": [str(seeded.own_order), str(seeded.other_order)],
        "call_id": [seeded.call_id], "agent_id": [seeded.agent_id, "1002"],
        "entry_id": [str(seeded.entry_id)], "number": [RESTRICTED, FLAGGED],
        "unit": [UNIT, OTHER_UNIT],
    }
    # Every request carries the role's token (or none, for the anonymous run): the
    # generator must not drop or forge the Authorization header itself.
    doc.get("components", {}).pop("securitySchemes", None)
    for ops in doc["paths"].values():
        for op in ops.values():
            op.pop("security", None)
            for param in op.get("parameters", []):
                if param.get("in") == "path" and param["name"] in known:
                    # Explicit examples first (Phase.explicit), then generated strings.
                    param["examples"] = {f"known{i}": {"value": v}
                                         for i, v in enumerate(known[param["name"]])}
    return doc


def _refused(status: int, location: str) -> bool:
    return status in (401, 403) or (status == 302 and location.startswith("/signin"))


def fuzz(base_url: str, role: str, seeded: Seeded, findings: Findings) -> tuple[int, int]:
    """Every operation of the document through the checks; (operations, operations that
    answered the role with anything but a refusal: those got MAX_EXAMPLES)."""
    doc = requests.get(base_url + "/api/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(_pinned(doc, seeded))
    results = list(schema.get_all_operations())
    unreadable = [r for r in results if not isinstance(r, Ok)]
    assert not unreadable, f"operations schemathesis cannot read: {unreadable}"
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    session = requests.Session()
    reached = 0
    for op in operations:
        if not _examples(op, SCOUT_EXAMPLES, base_url, role, seeded, findings, session):
            reached += 1
            _examples(op, MAX_EXAMPLES, base_url, role, seeded, findings, session)
    return len(operations), reached


def _examples(op: Any, count: int, base_url: str, role: str, seeded: Seeded,
              findings: Findings, session: requests.Session) -> bool:
    """``count`` generated requests (and the explicit examples) of ``op``; True when
    every one was refused."""
    refused = [True]

    @settings(max_examples=count, deadline=None, database=None,
                  derandomize=True, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(op.as_strategy(GenerationMode.POSITIVE),
                          op.as_strategy(GenerationMode.NEGATIVE)))
    def run(case: Any) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items()
                        if k.lower() != "authorization"}
        # Redirects are not followed: a page's answer is judged, not the sign-in page's.
        resp = case.call(base_url=base_url, session=session, headers=_headers(role),
                         timeout=30, allow_redirects=False)
        sent = json.dumps([case.formatted_path, case.query, case.body, case.headers],
                          ensure_ascii=False, default=str)
        # schemathesis' Response: lower-case header names, a list of values each.
        content_type = ";".join(resp.headers.get("content-type", []))
        location = ";".join(resp.headers.get("location", []))
        if not _refused(resp.status_code, location):
            refused[0] = False
        check_response(role, seeded, case.method, case.formatted_path, sent,
                       resp.status_code, content_type, resp.text, findings)

    run()
    return refused[0]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("role", [*TOKENS, "anonymous"])
def test_no_5xx_and_nothing_beyond_the_role(served: Any, role: str) -> None:
    """On main the runs of operator, dispatcher, unit, supervisor and callback failed:
    500 on ``POST /api/workorders/²/reply`` and ``/³/evaluation`` (``int("²")`` after
    ``isdigit()`` said yes), and for the supervisor ``GET /api/restrictions/audit`` showed
    18612340004 in full. The run without a token passed on main (every work-order route
    answered 401 before it read the id)."""
    app, seeded = served
    findings = Findings()
    fixed_requests(app.base_url, role, seeded, findings)
    if role == "callback":
        # The scanner finds a full number where the role may see it: the check can fail.
        assert OWN_CITIZEN in findings.full_numbers_seen, findings.full_numbers_seen
    fixed_seen = findings.responses
    operations, reached = fuzz(app.base_url, role, seeded, findings)
    assert operations >= 100  # the whole API, not an empty document
    # Worked out from the access rules of issues 12/13: anonymous reaches the public routes
    # (health, wallboard, OpenAPI, sign-in, Open311, knowledge-base search, static files:
    # 13) and gets 400 for a malformed query string on a few guarded GETs ahead of the
    # access gate (6 on 2026-11-30: 19 in all; an open gate would make it ~100); each role
    # has 30 or more operations of its own (a unit: the work-order actions, lights,
    # metrics, deductions, contacts, ... beside the public ones).
    if role == "anonymous":
        assert reached <= 24, reached
    else:
        assert reached >= 30, reached
    assert findings.responses > fixed_seen + operations  # several requests per operation
    assert not findings.problems, "\n".join(sorted(set(findings.problems))[:60])


def test_the_readers_see_the_seeded_data_masked(served: Any) -> None:
    """The property run has data to judge: every reader gets the seeded orders and call,
    with the citizen's number masked (callback: in full in the detail)."""
    app, seeded = served
    for role in ("operator", "dispatcher", "supervisor", "callback", "unit"):
        resp = requests.get(f"{app.base_url}/api/workorders", headers=_headers(role),
                            timeout=30)
        orders = {o["id"]: o for o in resp.json()["orders"]}
        expected = ({seeded.own_order} if role == "unit"
                    else {seeded.own_order, seeded.other_order})
        assert set(orders) == expected, role
        assert orders[seeded.own_order]["caller_number"] == _masked(OWN_CITIZEN), role
    resp = requests.get(f"{app.base_url}/api/workorders/{seeded.own_order}",
                        headers=_headers("callback"), timeout=30)
    assert resp.json()["caller_number"] == OWN_CITIZEN
    for role in ("operator", "supervisor"):
        resp = requests.get(f"{app.base_url}/api/calls", headers=_headers(role), timeout=30)
        assert [c["caller"] for c in resp.json()["calls"]] == [_masked(CALLER)], role
    resp = requests.get(f"{app.base_url}/api/workorders", timeout=30)
    assert resp.status_code == 401
