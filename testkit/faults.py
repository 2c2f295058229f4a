"""Fault tests' helpers (故障测试): a modest load of callers waiting and talking, Redis
supervised as ``hotline up`` supervises it, health as a supervisor (or ``hotline status``)
sees it, and checks on the call records that hold whatever the fault was.

Every expectation these helpers check comes from what the test did (which callers it
placed, how long each talks), never from the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stack.cli import _status as cli_status
from stack.services import Supervised
from testkit import processes
from testkit.sipp import SippResult
from testkit.stack import HotlineStack


@dataclass
class Caller:
    """One SIPp caller the test placed: its number, how long it talks once answered."""

    number: str
    talk_ms: int
    task: asyncio.Task[SippResult]

    @property
    def tail(self) -> str:
        return self.number[-4:]

    async def result(self) -> SippResult:
        return await self.task


def place(stack: HotlineStack, numbers: Iterable[str], talk_ms: int,
          line: str = "12345") -> list[Caller]:
    """Start one SIPp caller per number (each number's last four digits unique in a test)."""
    return [Caller(n, talk_ms, asyncio.create_task(stack.call(line, n, talk_ms=talk_ms)))
            for n in numbers]


def _mine(callers: list[Caller], c: dict[str, Any]) -> Caller | None:
    return next((x for x in callers if c["caller"].endswith(x.tail)), None)


async def records_of(stack: HotlineStack, callers: list[Caller]) -> dict[str, dict[str, Any]]:
    calls = (await stack.aapi("GET", "/api/calls?limit=1000"))["calls"]
    out: dict[str, dict[str, Any]] = {}
    for c in calls:
        mine = _mine(callers, c)
        if mine is not None:
            out[mine.number] = c
    return out


async def wait_records(stack: HotlineStack, callers: list[Caller], what: str,
                       done: Any, timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    """Wait (bounded) until every caller has a record for which ``done(record)`` holds."""
    deadline = time.monotonic() + timeout
    records: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        records = await records_of(stack, callers)
        if len(records) == len(callers) and all(done(r) for r in records.values()):
            return records
        await asyncio.sleep(0.3)
    raise AssertionError(f"not every caller's record is {what} within {timeout:.0f} s: "
                         f"{[(x.number, records.get(x.number)) for x in callers]}")


async def wait_in_line(stack: HotlineStack, line: str, count: int,
                       timeout: float = 30.0) -> None:
    """Wait until the core holds ``count`` callers waiting on ``line`` (/api/queues)."""
    deadline = time.monotonic() + timeout
    waiting = None
    while time.monotonic() < deadline:
        figures = await stack.aapi("GET", "/api/queues")
        waiting = figures.get("lines", {}).get(line, {}).get("waiting")
        if waiting == count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"line {line}: {waiting} waiting, not {count}, within {timeout:.0f} s")


def answered(r: dict[str, Any]) -> bool:
    return bool(r["answered_at"])


def ended(r: dict[str, Any]) -> bool:
    return r["ended_at"] is not None


def trace_phones(stack: HotlineStack, ids: Iterable[str]) -> None:
    """Restart these agents' SIPp phones with a trace of every SIP message they see, for
    :func:`assert_one_call_per_phone_at_a_time`."""
    for agent in stack.agents:
        if agent.id in ids and agent.id in stack.phones:
            processes.stop(stack.phones.pop(agent.id))
            stack.phones[agent.id] = stack.sipp.phone(
                agent.id, port=agent.port, media_port=agent.media_port, ring_ms=agent.ring_ms,
                scenario=agent.scenario, rtp_echo=agent.rtp_echo, trace_messages=True)


_MESSAGE = re.compile(r"^-{20,} (\S+)\nUDP message (sent|received) \[\d+\] bytes:\n\n(.*?)"
                      r"(?=^-{20,} |\Z)", re.M | re.S)


def phone_conversations(stack: HotlineStack, agent_id: str
                        ) -> list[tuple[datetime, datetime | None]]:
    """(answered, ended) of every call the agent's phone answered, from its SIP trace: its
    200 OK to an INVITE, then the BYE of that dialog (None: not ended yet)."""
    trace = stack.spec.host_dir / "sipp" / f"phone-{agent_id}-messages.log"
    text = trace.read_text(errors="replace") if trace.exists() else ""
    up: dict[str, datetime] = {}
    spans: list[tuple[datetime, datetime | None]] = []
    for m in _MESSAGE.finditer(text):
        at = datetime.fromisoformat(m[1].replace("Z", "+00:00"))
        body = m[3]
        first = body.split("\n", 1)[0]
        call_id = re.search(r"^Call-ID:\s*(\S+)", body, re.M | re.I)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", body, re.M | re.I)
        if call_id is None or cseq is None:
            continue
        if m[2] == "sent" and first.startswith("SIP/2.0 200") and cseq[1] == "INVITE":
            up.setdefault(call_id[1], at)
        elif first.startswith("BYE ") and call_id[1] in up:
            spans.append((up.pop(call_id[1]), at))
    return sorted(spans + [(start, None) for start in up.values()])


def assert_one_call_per_phone_at_a_time(stack: HotlineStack, ids: Iterable[str],
                                        least: int) -> None:
    """No double assignment, seen by the phones themselves: no agent's phone was in two
    conversations at once. ``least``: conversations the test's calls made in all (so an
    empty trace cannot pass)."""
    total = 0
    for agent in ids:
        spans = phone_conversations(stack, agent)
        total += len(spans)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end is not None and start >= end, \
                f"agent {agent}'s phone took a call while on another: {spans}"
    assert total >= least, f"the phones answered {total} calls, the test made {least}"


def agents(stack: HotlineStack) -> dict[str, dict[str, Any]]:
    return {a["agent_id"]: a for a in stack.api("GET", "/api/agents")["agents"]}


async def wait_agents(stack: HotlineStack, ids: Iterable[str], state: str,
                      timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(agents, stack)
        if all(seen.get(i, {}).get("state") == state for i in wanted):
            return seen
        await asyncio.sleep(0.3)
    raise AssertionError(f"agents {sorted(wanted)} not all {state} within {timeout:.0f} s: "
                         f"{ {i: seen.get(i, {}).get('state') for i in wanted} }")


def agent_legs_up(stack: HotlineStack) -> list[str]:
    """Agents' phone channels Asterisk shows answered (``core show channels concise``)."""
    assert stack.asterisk is not None
    out = stack.asterisk.cli("core show channels concise")
    ids = {a.id for a in stack.agents}
    return [line.split("!")[0] for line in out.splitlines()
            if line.split("!")[0].removeprefix("PJSIP/").split("-")[0] in ids
            and "!Up!" in line]


async def wait_agent_legs(stack: HotlineStack, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    legs: list[str] = []
    while time.monotonic() < deadline:
        legs = await asyncio.to_thread(agent_legs_up, stack)
        if len(legs) == count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(legs)} agent legs up, not {count}, within {timeout:.0f} s: {legs}")


# -- health ------------------------------------------------------------------------------
def health(stack: HotlineStack) -> dict[str, Any]:
    """/api/health as a supervisor sees it (component details)."""
    return dict(stack.api("GET", "/api/health"))


def hotline_status(stack: HotlineStack) -> tuple[int, str]:
    """What ``hotline status`` prints for this stack's settings, and its exit code: the
    function the command runs after parsing its arguments, called in this process (a
    second Python process importing the whole stack takes minutes on a loaded machine)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_status(stack.settings)
    return code, out.getvalue()


async def wait_component(stack: HotlineStack, name: str, ok: bool,
                         timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(health, stack)
        comp = last.get("components", {}).get(name)
        if comp is not None and comp["ok"] is ok:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"health {name} not ok={ok} within {timeout:.0f} s: {last}")


# -- Redis, supervised as `hotline up` does -----------------------------------------------
@dataclass
class RedisSupervision:
    """The stack's redis-server under :class:`stack.services.Supervised`, checked from a
    thread like ``hotline up``'s loop. ``hold()`` keeps a dead Redis dead until
    ``release()`` (so a test can look at the stack while Redis is away)."""

    stack: HotlineStack
    reports: list[str] = field(default_factory=list)
    _held: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RedisSupervision:
        redis = self.stack.redis
        child = Supervised("redis-server", redis.start, redis.alive, self.reports.append)

        def run() -> None:
            while not self._stop.wait(0.2):
                if not self._held.is_set():
                    child.check()

        self._thread = threading.Thread(target=run, name="redis-supervision", daemon=True)
        self._thread.start()
        return self

    def hold(self) -> None:
        self._held.set()

    def release(self) -> None:
        self._held.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    async def wait_report(self, text: str, timeout: float = 30.0) -> None:
        """Until a report containing ``text`` was made: the supervisor reports a restart
        after ``start()`` returns, which is after Redis already answers health checks."""
        deadline = time.monotonic() + timeout
        while not any(text in r for r in self.reports):
            if time.monotonic() > deadline:
                raise AssertionError(f"no report with {text!r} in {timeout:.0f} s: "
                                     f"{self.reports}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the running redis-server (no save, no goodbye to its clients)."""
        proc = self.stack.redis.proc
        assert proc is not None and proc.poll() is None, "redis-server is not running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
