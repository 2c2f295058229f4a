"""What the desktop and console benchmarks share (bench/screen_pop.py,
bench/console_latency.py, bench/desk_page_load.py, bench/http_load.py): agents logged in and
paused, callers kept waiting in a line, a signed-in page, the page's own render marks, and
percentiles. Not shipped; bounded waits everywhere."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from playwright.async_api import Browser, Page

from hotline_core.redis_keys import RedisKeys
from ivr.dialplan import Var
from stack.settings import REPO_ROOT
from testkit import processes
from testkit.browser import new_page, sign_in_page
from testkit.people import DEFAULT_PASSWORD
from testkit.port_blocks import MEDIA_PORTS, PortBlocks
from testkit.sipp import SippResult
from testkit.stack import Agent, HotlineStack, free_udp_port

CALLER_TALK_MS = 400_000     # waiting callers stay for the whole run (SIPp's time-out bounds)
CALLER_TIMEOUT = 420


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p99 of fewer than 100 samples is the max)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (f"p50 {percentile(values_ms, 50):.1f} ms, p99 {percentile(values_ms, 99):.1f} ms, "
            f"max {max(values_ms):.1f} ms, mean {statistics.mean(values_ms):.1f} ms "
            f"({len(values_ms)} samples)")


FALLBACK_LOGGED = "went to the fallback queue"   # ivr/call_events.py, once per call


def shipped_dead_core_bound(stack: HotlineStack) -> int:
    """Give the running stack's dialplan the shipped dead-core bound (config/hotline.toml
    [calls] core_dead_after, 6 s) instead of the test stack's 3 s, and return it.

    Every waiting caller's loop compares Asterisk's clock with the core's last heartbeat
    (whole seconds) and leaves the line for app_queue's fallback when it is older than the
    bound. On 2 cores shared with other suites, the core or Asterisk is now and then not
    scheduled for 2-3 s: with 3 s, waiting callers drained out of the line (13 of 100 left
    at 22:35 with 200 agents) and the measured call itself went to the fallback queue, so
    its pop was never drawn. The benches measure the desktop, not that bound."""
    shipped = tomllib.loads((REPO_ROOT / "config" / "hotline.toml").read_text())
    bound = int(shipped["calls"]["core_dead_after"])
    assert stack.asterisk is not None
    stack.asterisk.cli(f"dialplan set global {Var.CORE_DEAD_AFTER.value} {bound}")
    return bound


def fallbacks(stack: HotlineStack) -> int:
    """Calls the core let go to the fallback queue so far (its log says so once per call)."""
    return stack.core_log().count(FALLBACK_LOGGED)


async def paused_agents(stack: HotlineStack, agent_ids: list[str],
                        reason: str = "meeting") -> None:
    """Log the agents in and pause them through the API (rows in every snapshot, none takes
    a call)."""
    for agent in agent_ids:
        await stack.aapi("POST", f"/api/agents/{agent}/login", {})
        await stack.aapi("POST", f"/api/agents/{agent}/pause", {"reason": reason})


@dataclass
class WaitingCallers:
    """SIPp callers kept in a line, each on media ports of its own (see
    :func:`waiting_callers`)."""

    tasks: list[asyncio.Task[SippResult]]
    ports: PortBlocks | None = None


def waiting_callers(stack: HotlineStack, line: str, count: int,
                    first: int = 0) -> WaitingCallers:
    """``count`` SIPp callers on ``line`` that stay in it (cancel them with
    :func:`stop_callers`).

    Each gets media ports of its own, from a port block held for them until
    :func:`stop_callers`: the stack's callers' range holds some 20 callers, and handing out
    100 ports from it before any caller had bound its own gave up to three callers the same
    ports (the free-port check saw them all free); with them, 1-2 SIPp callers of 100 now
    and then never reached the line (98 of 100 at 21:02, 99 of 100 at 22:08), and the bench
    waited its whole bound for the last ones."""
    ports = PortBlocks(MEDIA_PORTS * max(count, 1))
    tasks = [asyncio.create_task(stack.sipp.call(
        line, f"1390000{first + i:04d}", local_port=free_udp_port(),
        media_port=ports.start + i * MEDIA_PORTS, talk_ms=CALLER_TALK_MS,
        timeout=CALLER_TIMEOUT)) for i in range(count)]
    return WaitingCallers(tasks, ports)


async def stop_callers(callers: WaitingCallers) -> None:
    for task in callers.tasks:
        task.cancel()
    await asyncio.gather(*callers.tasks, return_exceptions=True)
    if callers.ports is not None:
        callers.ports.release()


async def until_waiting(stack: HotlineStack, line: str, count: int,
                        timeout: float = 150.0) -> int:
    """Until at least ``count`` callers wait in ``line`` (the API's live figures), or
    ``timeout`` seconds have passed: the number waiting at the end (a loaded machine may
    not get every SIPp caller into the line; the bench reports what it measured with)."""
    waiting = 0
    try:
        async with asyncio.timeout(timeout):
            while waiting < count:
                await asyncio.sleep(0.5)
                waiting = await _waiting(stack, line, waiting)
    except TimeoutError:
        pass
    return waiting


async def _waiting(stack: HotlineStack, line: str, last: int) -> int:
    try:
        answer = await stack.aapi("GET", "/api/queues")
    except (TimeoutError, OSError):   # a loaded machine: ask again, within the bound
        return last
    found = answer.get("lines", {}).get(line, {}).get("waiting")
    return int(found) if isinstance(found, int) else last


async def signed_in_page(browser: Browser, stack: HotlineStack, user: str,
                         path: str) -> Page:
    """A page signed in as ``user`` (the sign-in page, as a person would) showing ``path``."""
    base = f"http://127.0.0.1:{stack.http_port}"
    page = await new_page(browser)
    await sign_in_page(page, base, user, DEFAULT_PASSWORD, path)
    # Bounded, but longer than a test's 20 s: the benches run with many callers on 2 cores.
    await page.wait_for_url(f"{base}{path}", wait_until="domcontentloaded", timeout=120_000)
    return page


async def next_render(page: Page, marks: str, counter: str, before: int,
                      timeout_ms: int = 90_000) -> dict[str, Any]:
    """The page's newest render mark once its ``counter`` (a JS expression) has passed
    ``before``: ``marks`` names the page's array of ``{..., drawn: Date.now()/1000}``."""
    await page.wait_for_function(f"{counter} > {before}", timeout=timeout_ms)
    found: dict[str, Any] = await page.evaluate(f"{marks}[{marks}.length - 1]")
    return found


# -- the agent's INVITE, as the agent's SIPp phone saw it -----------------------------------
# SIPp's message trace (-trace_msg) heads every message with a line of dashes and the UTC
# time it was sent or received, to the microsecond, and flushes each message.
_TRACE_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)$", re.M)


@dataclass(frozen=True)
class Invite:
    """An INVITE the phone received: when (``time.time()`` scale), its Call-ID and From."""

    at: float
    call_id: str
    sender: str


def traced_phone(stack: HotlineStack, agent: Agent) -> Path:
    """Restart ``agent``'s phone with SIPp's message trace (every SIP message with the time
    it was received); the trace file's path on the host."""
    processes.stop(stack.phones.pop(agent.id))
    path = stack.spec.host_dir / "sipp" / f"phone-{agent.id}-messages.log"
    path.unlink(missing_ok=True)
    stack.phones[agent.id] = stack.sipp.phone(
        agent.id, port=agent.port, media_port=agent.media_port, ring_ms=agent.ring_ms,
        scenario=agent.scenario, rtp_echo=agent.rtp_echo, trace_messages=True)
    return path


def invites_received(trace: Path) -> list[Invite]:
    """Every first INVITE of a dialog (not a re-INVITE) the phone received, in order."""
    text = trace.read_text(errors="replace") if trace.exists() else ""
    heads = list(_TRACE_HEAD.finditer(text))
    found: list[Invite] = []
    seen: set[str] = set()
    for head, after in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end():after.start() if after else len(text)].lstrip()
        if not body.startswith("UDP message received"):
            continue
        message = body.partition("\n\n")[2]
        if not message.startswith("INVITE "):
            continue
        call_id = _header(message, "Call-ID")
        if call_id in seen:
            continue
        seen.add(call_id)
        at = datetime.fromisoformat(head.group(1).replace("Z", "+00:00")).timestamp()
        found.append(Invite(at, call_id, _header(message, "From")))
    return found


def _header(message: str, name: str) -> str:
    for line in message.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


async def invite_for(trace: Path, after: float, timeout: float = 15.0) -> Invite | None:
    """The first INVITE the phone received after ``after`` (``time.time()``; the benches
    place one call at a time, so it is that call's), waiting up to ``timeout`` s for it to
    be traced; None when none came."""
    deadline = time.monotonic() + timeout
    while True:
        for invite in invites_received(trace):
            if invite.at >= after:
                return invite
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.2)


async def events_per_second(stack: HotlineStack, seconds: float = 10.0) -> float:
    """Distribution changes announced per second on the events channel (what wakes every
    live socket), counted for ``seconds``."""
    redis = aioredis.from_url(stack.settings.redis_url)
    pubsub = redis.pubsub()
    seen = 0
    try:
        async with asyncio.timeout(5):
            await pubsub.subscribe(RedisKeys(stack.settings.redis_namespace).events)
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            message = await pubsub.get_message(ignore_subscribe_messages=True,
                                               timeout=min(left, 1.0))
            seen += message is not None
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()
    return seen / seconds
