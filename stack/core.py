"""The core process: FastAGI server, AMI bridge, call distribution and the HTTP API.

Run it with ``python -m stack.core`` (``hotline up`` does) once redis-server and Asterisk
are up. It can die and come back at any time: Asterisk keeps delivering calls through its
fallback queue meanwhile, and the call records are reconciled from the CDR file.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import uvloop
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from hotline_core.access import load_policy
from hotline_core.acd import Distributor, load_distribution_config
from hotline_core.acd.caller_flags import CallerFlags, CallerPriority, OverdueOrders
from hotline_core.acd.restriction import RestrictionList
from hotline_core.acd.service import run_distribution_loop
from hotline_core.agent_directory import load_agents
from hotline_core.call_figures_day import parse_reset_at, run_call_figures
from hotline_core.call_records import CallLog
from hotline_core.campaigns.config import load_campaigns_config
from hotline_core.campaigns.store import CampaignStore
from hotline_core.clock import zone_named
from hotline_core.config_errors import ConfigError, line_of, read_config_text
from hotline_core.db import Base, make_engine, make_sessionmaker
from hotline_core.dial_policy import DatabaseDirectory, DialPolicy, DialPolicySettings
from hotline_core.lines import load_lines
from hotline_core.redis_keys import RedisKeys
from hotline_core.screen_pop import ScreenPops
from hotline_core.signin_guard import SigninGuard
from hotline_core.timeouts import cancel_and_wait, within
from hotline_core.transfers import TransferStore, load_centres, load_transfer_list
from hotline_core.voice_messages import announce as announce_voice_message
from hotline_core.workorders.calendar import ChineseWorkingCalendar, load_overrides
from hotline_core.workorders.desk import DeskSettings
from hotline_core.workorders.lights import ensure_light_instants
from hotline_core.workorders.presets import PRESET_DIR, load_preset
from ivr.agi import AgiServer
from ivr.ami import AmiClient
from ivr.call_events import CallEventBridge
from ivr.campaign import CampaignEngine, channels_now
from ivr.campaign_flow import CampaignFlow
from ivr.connector import AgentConnector
from ivr.dialer import CallbackDialer
from ivr.dialplan import AgiScript
from ivr.flows.inbound import InboundContext, InboundFlow
from ivr.flows.waiting import WaitingContext, WaitingFlow
from ivr.heartbeat import beat, run_heartbeat, stop_heartbeat
from ivr.live_calls import LiveCalls
from ivr.live_transcript import LiveTranscripts
from ivr.reconcile import CdrReconciler
from ivr.records import AsyncCallLog
from ivr.resync import resync, watch_redis
from ivr.spy import ChanSpy
from ivr.transcription import TranscriptionTrigger
from ivr.transfer import CentreIntake, TransferNews, TransferService
from speech.keywords import load_keywords
from stack.asterisk import AsteriskSpec
from stack.cluster import Cluster, leader_dialer, settle_adopted
from stack.instance import spec_from_settings
from stack.order_campaigns import (
    ORDER_CAMPAIGN_EVERY,
    add_order_hooks,
    order_campaign_flows,
    rating_choices,
    run_order_campaigns,
    transcription_queue,
    warm_choices,
)
from stack.secret_files import cookie_key, private_dir, restrict_umask
from stack.settings import Settings, load_settings
from stack.speech_service import speech_settings
from stack.supervision_loop import run_supervision_loop
from stack.tls import check_certificate, server_context
from stack.tokens import ensure_tokens_file
from web.agents.services import AGENTS, AgentServices
from web.app import create_app
from web.callers.services import CALLERS, CallerServices
from web.calls.services import CALLS, CallServices
from web.campaigns.services import CAMPAIGNS, CampaignServices
from web.desk.routes import LivePops
from web.desk.services import DESK, DeskServices
from web.keys import WORKORDERS, WorkOrderServices, provide
from web.live.services import LIVE, LiveServices, pubsub_client
from web.people import SIGNIN, SigninServices
from web.restrictions.services import RESTRICTIONS, RestrictionServices
from web.routes import ROUTE_MODULES
from web.spy.services import SPY, SpyServices
from web.transfers.services import TRANSFERS, TransferServices

if TYPE_CHECKING:
    from speech.grammar import ChoiceService
    from speech.live import LiveTranscriber

log = logging.getLogger("hotline.core")


def desk_settings(s: Settings) -> DeskSettings:
    """The work-order desk as the settings describe it: preset, the hotline's zone and a
    calendar that re-reads its overrides file when it changes."""
    zone = zone_named(s.time_zone)
    return DeskSettings(
        preset=load_preset(s.preset), zone=zone,
        calendar=ChineseWorkingCalendar(zone=zone, overrides_file=s.calendar_overrides))


@dataclass
class Core:
    settings: Settings
    spec: AsteriskSpec
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    agi: AgiServer | None = None
    ami: AmiClient | None = None
    redis: aioredis.Redis | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    calls: AsyncCallLog | None = None
    transcriber: LiveTranscriber | None = None
    live_redis: aioredis.Redis | None = None  # the /api/live sockets' own pub/sub client
    # The ``campaign`` AGI script; ``flows`` maps a campaign kind to its IVR flow.
    campaign_flows: CampaignFlow | None = None
    choices: ChoiceService | None = None    # spoken ratings (speech grammar), or keys only
    index: int = 0                          # [core] instances: this one (stack/cluster.py)
    cluster: Cluster | None = None

    async def start(self) -> None:
        s = self.settings
        lines = load_lines(s.lines_file)
        agents = load_agents(s.agents_file)
        dist_config = load_distribution_config(s.distribution_file)
        access = load_policy(ensure_tokens_file(s.api_tokens_file, agents))
        desk = desk_settings(s)
        private_dir(s.state_dir)
        engine = make_engine(s.database_url)
        _migrate(s.database_url, engine)
        sessions = make_sessionmaker(engine)
        # The open orders' stored yellow instants follow the preset's light rule.
        await asyncio.to_thread(ensure_light_instants, sessions, desk.preset, desk.now())
        call_log = CallLog(sessions)

        # A blocking pool: under load callers wait briefly for a connection instead of
        # failing with "Too many connections" (redis-py's default pool raises at 100).
        # After a Redis restart every pooled connection is dead: one retry (after a short
        # backoff) on a fresh connection, so each stale one does not fail a call once.
        self.redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            s.redis_url, max_connections=400, timeout=5, socket_timeout=5,
            socket_connect_timeout=5, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
            retry_on_error=[RedisConnectionError],
            # No CLIENT SETINFO on connect: two round trips and a package-metadata read
            # per new connection, for a name in CLIENT LIST (issue 14 item 3).
            driver_info=None))
        # The live web sockets hold a pub/sub connection each: a client of their own, so
        # open wallboards never take connections from the pool that serves calls.
        self.live_redis = pubsub_client(s.redis_url)
        ns = s.redis_namespace      # every key and channel below is under it (redis_keys.py)
        distributor = Distributor(self.redis, dist_config, namespace=ns)
        # Several instances: a leader for the periodic jobs, calls owned by the instance
        # that registered them (stack/cluster.py); with one, everything is its own.
        redis = self.redis
        # An instance whose AMI link is lost hears none of its calls' events: it counts
        # as not running (presence withdrawn, lead released) until it is logged in again.
        cluster = self.cluster = Cluster(redis, RedisKeys(ns), self.index,
                                         s.core_instances, ttl=float(s.core_dead_after),
                                         every=float(s.heartbeat_seconds),
                                         member=lambda: self.ami is None
                                         or not self.ami.cut_off)
        live = LiveCalls(self.redis, namespace=ns,
                         owner=cluster.name if cluster.several else "")
        calls = self.calls = AsyncCallLog(call_log)

        async def agent_of_call(call_id: str) -> str | None:
            record = await calls.get(call_id)
            return record.agent_id if record is not None else None
        reconciler = CdrReconciler(self.spec.cdr_file, call_log)  # offset in the database

        async def after_login() -> None:
            # After every (re)connection: tell the dialplan we are alive, pick up calls the
            # fallback handled meanwhile.
            assert self.ami is not None
            await beat(self.ami)
            # Dialer attempts in flight first, so the resync never re-offers a callback
            # that was reached while the core was away. (Several instances: the dialer
            # and the reconciliation are the leader's; while another instance runs, which
            # has been listening all along, only this instance's own calls are settled.)
            if cluster.leads():
                await campaigns.reconcile(await channels_now(self.ami))
            if not await cluster.others_alive():
                await resync(self.ami, live, distributor, lines, calls)
            else:
                await settle_adopted(self.ami, live, calls, cluster.name,
                                     await cluster.own_calls(live))
            if cluster.leads():
                await reconciler.run_once()

        async def after_redis_back() -> None:
            # Hang-ups seen while Redis was away never reached the distributor: rebuild from
            # Asterisk's channels (AMI down: its next login re-syncs anyway).
            if self.ami is not None and self.ami.connected and cluster.leads():
                await resync(self.ami, live, distributor, lines, calls)

        self.ami = AmiClient("127.0.0.1", s.ami_port, s.ami_username, s.ami_secret,
                             timeout=s.ami_timeout, on_login=after_login)
        # One number policy for everything the platform dials (callbacks today).
        dial_policy = DialPolicy(DialPolicySettings.from_table(s.dialing, s.source), self.redis,
                                 namespace=ns, directory=DatabaseDirectory(sessions))
        # The outbound dialer: every campaign kind (ivr/campaign.py, config/campaigns.toml).
        campaign_store = CampaignStore(sessions)
        campaigns = CampaignEngine(
            self.ami, campaign_store, load_campaigns_config(s.campaigns_file), dial_policy,
            desk.zone, sessions, distributor=distributor, live=live, lines=lines, calls=calls,
            cdr_file=self.spec.cdr_file, outbound=bool(s.carrier_outbound_uri))
        self.campaign_flows = CampaignFlow(campaign_store, {})
        add_order_hooks(campaign_store, desk)   # callbacks and reminders: order events
        dialer = CallbackDialer(campaigns) if s.carrier_outbound_uri else None
        distributor.on_assignment = AgentConnector(self.ami, live, distributor, dialer, calls)
        speech = speech_settings(s)
        trigger = (TranscriptionTrigger(self.redis, self.spec.recordings_dir, namespace=ns)
                   if speech is not None else None)
        # Satisfaction callbacks and reminder calls: their IVR flows (spoken ratings when
        # [speech.grammars.rating] is configured; comments transcribed when speech is on).
        self.choices = rating_choices(speech)
        self.campaign_flows.flows.update(order_campaign_flows(
            self.spec, sessions, desk, choices=self.choices,
            transcribe=transcription_queue(self.redis, ns) if speech is not None else None))
        live_transcripts = None
        if speech is not None and speech.max_live_streams > 0:
            # Imported only now: a core with speech off never loads the recogniser's code.
            from speech.live import LiveTranscriber

            self.transcriber = LiveTranscriber(
                speech, load_keywords(speech.keywords_file) if speech.keywords_file else None,
                self.redis)
            live_transcripts = LiveTranscripts(self.transcriber, self.redis,
                                               self.spec.recordings_dir, namespace=ns)
        # Transfers to 110/119/120/122 and calls passed in by them (R-EMERG).
        centres = self.spec.centres
        transfer_store = TransferStore(sessions)
        transfers = TransferService(self.ami, live, calls, distributor, transfer_store,
                                    centres, lines, dial_policy,
                                    TransferNews(self.redis, distributor.names.transfers))
        bridge = CallEventBridge(self.ami, live, calls, distributor,
                                 on_ended=trigger.call_ended if trigger else None,
                                 live_transcripts=live_transcripts,
                                 observers=(transfers.on_event,
                                            cluster.if_leader(campaigns.on_event)),
                                 owns=cluster.owner_check(live),
                                 leads=cluster.leads if cluster.several else None)
        restrictions = RestrictionList(self.redis, namespace=ns)
        flags = CallerFlags(self.redis, namespace=ns)
        flow = InboundFlow(InboundContext(
            lines=lines, calls=calls, distributor=distributor, live=live,
            sounds_dir=f"{self.spec.inst}/sounds", recordings_dir=f"{self.spec.inst}/recordings",
            restrictions=restrictions,
            centre_intake=CentreIntake(transfer_store, centres),
            voice_message_left=functools.partial(announce_voice_message, self.redis,
                                                 distributor.names.voice_messages),
            priority=CallerPriority(dist_config.priorities, flags,
                                    overdue_lookup=OverdueOrders(engine, desk.clock))))
        waiting = WaitingFlow(WaitingContext(
            distributor=distributor, live=live, calls=calls,
            sounds_dir=f"{self.spec.inst}/sounds",
            callback_offer_seconds=s.callback_offer_seconds if dialer else None,
            dial_policy=dial_policy, campaigns=campaigns if dialer else None))
        self.agi = AgiServer({AgiScript.INBOUND: flow, AgiScript.WAITING: waiting,
                              AgiScript.TRANSFER: transfers,
                              AgiScript.CAMPAIGN: self.campaign_flows},
                             host="127.0.0.1",
                             port=s.agi_ports[self.index],
                             command_timeout=s.agi_command_timeout)

        for agent_id in s.auto_login:
            entry = next((a for a in agents if a.id == agent_id), None)
            if entry is None:
                raise SystemExit(f"{s.source}: setting 'calls.auto_login': no agent {agent_id}")
            await distributor.agent_login(entry.id, entry.skills, group=entry.group)

        desk_services = DeskServices(  # the agent desktop (坐席工作台)
            distributor, ScreenPops(distributor.view, sessions, flags, restrictions, desk.now),
            access, {a.id: a for a in agents}, dist_config.pause_reasons,
            dist_config.wrapup_seconds, line_skills={x.number: x.skills for x in lines.lines},
            recordings_dir=self.spec.recordings_dir, redis=self.redis)
        app = create_app(
            sessions,
            route_modules=ROUTE_MODULES,
            health_probes=self._probes(engine),
            access=access,
            services=[
                provide(CALLS, CallServices(call_log, access, self.spec.recordings_dir,
                                            sessions)),
                provide(AGENTS, AgentServices(distributor, {a.id: a for a in agents}, access)),
                provide(RESTRICTIONS, RestrictionServices(
                    restrictions, access, days=desk.preset.restriction_days)),
                provide(LIVE, LiveServices(distributor, self.live_redis, access,
                                           call_owner=agent_of_call,
                                           pops=LivePops(desk_services))),
                provide(DESK, desk_services),
                provide(CALLERS, CallerServices(flags, access)),
                provide(WORKORDERS, WorkOrderServices(desk=desk, access=access)),
                provide(CAMPAIGNS, CampaignServices(sessions, access)),
                provide(TRANSFERS, TransferServices(
                    transfers, transfer_store, access,
                    load_transfer_list(s.transfer_list_file, missing_ok=True))),
                provide(SIGNIN, SigninServices(s.signin, cookie_key(s.state_dir), s.https,
                                               SigninGuard(self.redis, ns))),
                provide(SPY, SpyServices(ChanSpy(self.ami, live), distributor,
                                         {a.id: a for a in agents}, access)),
            ],
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        # HTTPS beyond loopback (settings.https); the certificate is made on first start.
        # Several instances share the HTTP port (SO_REUSEPORT): one address for everyone.
        await web.TCPSite(self.runner, s.bind_address, s.http_port,
                          ssl_context=server_context(s), reuse_port=cluster.several).start()
        await self.agi.start()
        self.ami.start()
        self.tasks = [
            asyncio.create_task(bridge.run(), name="ami-events"),
            asyncio.create_task(run_heartbeat(self.ami, s.heartbeat_seconds), name="heartbeat"),
            # Pauses capped at 5 s: once Redis is back, distribution resumes within 5 s.
            asyncio.create_task(run_distribution_loop(distributor, self.redis, self.stopping,
                                                     max_retry=5.0),
                                name="distribution-loop"),
            asyncio.create_task(watch_redis(self.redis, after_redis_back), name="redis-watch"),
            # The periodic jobs: on the leader only when there are several instances.
            asyncio.create_task(cluster.while_leader(
                "reconcile", lambda: reconciler.run(10.0)), name="reconcile"),
            asyncio.create_task(cluster.while_leader(
                "campaigns", lambda: leader_dialer(cluster, self.ami, campaigns)),
                name="campaigns"),
            asyncio.create_task(cluster.while_leader("order-campaigns", lambda: run_order_campaigns(
                sessions, desk, campaign_store, ORDER_CAMPAIGN_EVERY)), name="order-campaigns"),
            asyncio.create_task(cluster.while_leader(
                "supervision", lambda: run_supervision_loop(sessions, desk, 300.0)),
                name="supervision"),
            # Live figures start again at [calls] figures_reset_at; interval rows stored.
            asyncio.create_task(cluster.while_leader("call-figures", lambda: run_call_figures(
                distributor, redis, distributor.figures_day_key, sessions, desk.zone,
                parse_reset_at(s.figures_reset_at))), name="call-figures"),
        ]
        if cluster.several:
            ami = self.ami
            self.tasks += [
                asyncio.create_task(cluster.leadership.run(), name="leader-lock"),
                # The leader adopts the calls of instances that stop running.
                asyncio.create_task(cluster.while_leader("adoption", lambda: cluster.run_adoption(
                    live, functools.partial(settle_adopted, ami, live, calls, cluster.name))),
                    name="adoption"),
                asyncio.create_task(self.agi.follow(
                    functools.partial(_agi_accepting, ami, cluster),
                    "AMI link cut off, another instance serves"), name="fastagi-gate"),
            ]
        if self.transcriber is not None:
            # Loading the model takes seconds: calls are served meanwhile.
            self.tasks.append(asyncio.create_task(self.transcriber.start(), name="live-asr"))
        if self.choices is not None:
            # The grammar recogniser's process loads the model meanwhile (keys work at once).
            self.tasks.append(asyncio.create_task(warm_choices(self.choices),
                                                  name="rating-asr"))
        log.info("core ready: %s %s:%s, fastagi 127.0.0.1:%s (%s of %d)",
                 "https" if s.https else "http", s.bind_address, s.http_port,
                 s.agi_ports[self.index], cluster.name, s.core_instances)

    def _probes(self, engine: Any) -> dict[str, Any]:
        async def redis_ok() -> tuple[bool, str]:
            assert self.redis is not None
            await within(self.redis.ping(), 2)
            return True, "reachable"  # never the URL: it carries the password

        async def ami_ok() -> tuple[bool, str]:
            ok = self.ami is not None and self.ami.connected
            return ok, "logged in" if ok else "not connected"

        async def agi_ok() -> tuple[bool, str]:
            ok = self.agi is not None and self.agi.serving
            if not ok and self.agi is not None and self.agi.paused:
                return False, "paused: AMI link cut off, another instance serves"
            return ok, "serving" if ok else "not serving"

        async def db_ok() -> tuple[bool, str]:
            def ping() -> None:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            await within(asyncio.to_thread(ping), 5)
            return True, f"reachable ({engine.dialect.name})"

        return {"redis": redis_ok, "asterisk_ami": ami_ok, "fastagi": agi_ok, "database": db_ok}

    async def stop(self) -> None:
        self.stopping.set()
        last = self.cluster is None or await self.cluster.last_instance()
        if self.ami is not None and self.ami.connected and last:
            await stop_heartbeat(self.ami)
        await cancel_and_wait(self.tasks)
        if self.agi is not None:
            await self.agi.stop()
        if self.calls is not None:
            await asyncio.to_thread(self.calls.close)
        if self.transcriber is not None:
            await asyncio.to_thread(self.transcriber.close)
        if self.choices is not None:
            await asyncio.to_thread(self.choices.close)
        if self.ami is not None:
            await self.ami.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.cluster is not None:
            await self.cluster.resign()     # a follower takes the periodic jobs at once
        if self.redis is not None:
            await self.redis.aclose()
        if self.live_redis is not None:
            await self.live_redis.aclose()


async def _agi_accepting(ami: AmiClient, cluster: Cluster) -> bool:
    """Whether this instance takes new FastAGI calls (several instances only).

    Cut off from AMI while another instance is present, it does not: the calls it registered
    could not be put through to an agent (no Redirect), so its listening socket closes and
    Asterisk's ``[hotline-agi]`` goes to the other instance at once; it listens again once
    logged in. Alone — one instance configured (no gate at all) or every other one cut off
    too — it keeps listening: a refused connect sends the caller to the fallback queue at
    once, even for a blip of the link, whereas an accepted one runs the inbound flow and
    waits in ``[hotline-wait]``, which moves it to the fallback queue only once the
    heartbeat (set over AMI) is older than ``core_dead_after``.
    """
    return not ami.cut_off or not await cluster.others_alive()


def _migrate(url: str, engine: Any) -> None:
    try:
        from hotline_core.migrate import upgrade
    except ImportError:  # pragma: no cover - migrations always ship; keep start-up simple
        Base.metadata.create_all(engine)
        return
    upgrade(url)


async def serve(settings: Settings, stop: asyncio.Event, index: int = 0) -> None:
    core = Core(settings, spec_from_settings(settings), index=index)
    await core.start()
    try:
        await stop.wait()
    finally:
        await core.stop()


# Every configuration reader raises the one ConfigError (file, setting, line).
CONFIG_ERRORS: tuple[type[Exception], ...] = (ConfigError,)


def validate(settings: Settings) -> None:
    """Load every configuration file once, so a bad one stops start-up before anything runs.

    Each error names the file, the setting and, where it can be found, the line: a file a
    setting points to that is missing names the setting in the settings file.
    """
    text = read_config_text(settings.source, "HOTLINE_CONFIG")
    _referenced_file(settings, text, "paths.lines_file", settings.lines_file)
    load_lines(settings.lines_file)
    # Emergency centres' trunks and the transfer list; missing files: none configured.
    load_centres(settings.centres_file, missing_ok=True)
    load_transfer_list(settings.transfer_list_file, missing_ok=True)
    _referenced_file(settings, text, "paths.agents_file", settings.agents_file)
    load_agents(settings.agents_file)
    _referenced_file(settings, text, "paths.distribution_file", settings.distribution_file)
    load_distribution_config(settings.distribution_file)
    _preset(settings, text)
    load_preset(settings.preset)
    if settings.calendar_overrides:
        _referenced_file(settings, text, "workorders.calendar_overrides",
                         settings.calendar_overrides)
        load_overrides(settings.calendar_overrides)
    if settings.api_tokens_file.exists():
        load_policy(settings.api_tokens_file)
    check_certificate(settings)
    speech_settings(settings)
    DialPolicySettings.from_table(settings.dialing, settings.source)
    load_campaigns_config(settings.campaigns_file)


def _referenced_file(settings: Settings, text: str, setting: str, path: Path) -> None:
    section, key = setting.split(".", 1)
    if not path.is_file():
        raise ConfigError(settings.source, setting, f"{path}: file not found",
                          line_of(text, section, key))
    read_config_text(path, setting)       # invalid UTF-8: names that file and its line


def _preset(settings: Settings, text: str) -> None:
    name = settings.preset
    if "/" in name or name.endswith(".toml"):
        _referenced_file(settings, text, "workorders.preset", Path(name))
        return
    if not (PRESET_DIR / f"{name}.toml").is_file():
        shipped = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.toml")))
        raise ConfigError(settings.source, "workorders.preset",
                          f"no preset named {name!r}; shipped presets: {shipped}",
                          line_of(text, "workorders", "preset"))
    read_config_text(PRESET_DIR / f"{name}.toml", "workorders.preset")


def main(argv: list[str] | None = None) -> int:
    restrict_umask()    # database, logs and recordings are not for other users of the machine
    parser = argparse.ArgumentParser(prog="hotline-core")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--instance", type=int, default=0,
                        help="which of [core] instances this process is (0-based)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        validate(settings)
        if not 0 <= args.instance < settings.core_instances:
            raise ConfigError(settings.source, "core.instances",
                              f"--instance {args.instance} is not one of the "
                              f"{settings.core_instances} configured instance(s)")
    except CONFIG_ERRORS as exc:
        print(f"hotline-core: bad setting: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, args.instance)

    # uvloop: the same asyncio API on libuv; at 150 FastAGI calls/s the inbound flow's p50
    # fell from 757 to 247 ms with it (docs/benchmarks.md, issue 14 item 3).
    uvloop.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
