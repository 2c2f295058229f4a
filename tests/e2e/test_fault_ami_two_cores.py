"""One of two core instances loses its AMI connection under a modest load (issue 14,
item 5): four agents' phones, callers talking, callers waiting, callers giving up while
waiting, callers ringing in during the outage. Instance ``core-0`` reaches Asterisk's AMI
through a TCP proxy the test controls (testkit/tcp_outage.py); ``core-1`` directly. Both
keep Redis and FastAGI.

While ``core-0``'s link is down (its reconnects dropped, it retries with backoff):

* it counts as not running: its presence is withdrawn and ``core-1`` leads (stack/cluster.py,
  ``member``), takes ``core-0``'s calls over and handles their events;
* it takes no new FastAGI calls: its listening socket is closed (a connect is refused), so
  the dialplan's ``[hotline-agi]`` sends the callers ringing in to ``core-1`` at once —
  ``core-0`` accepts no connection meanwhile (the counts in its own log at the pause and at
  the resume are equal), the new calls are registered by ``core-1`` and none goes to the
  fallback queue;
* nothing waits for ``core-0``: the callers' hang-ups free their agents — also the agents
  of ``core-0``'s calls — and the four agents take the four callers still waiting, each
  answer heard (the distributor has all four on a call: an answer nobody heard would leave
  its agent ringing, and after the stuck-ring deadline the call would be offered to a
  second agent while the first talks).

Once the link is back ``core-0`` listens again, is present again and takes calls again.
Nothing lost:

* every record complete: talking and served callers answered and ended with an agent,
  callers who hung up while waiting ended as abandoned;
* the line's figures count each answer and each abandon once;
* no agent stuck busy (all ready at the end), no call assigned twice (the phones' own SIP
  traces: one conversation at a time per phone, one per served call).

One stack for the module.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from hotline_core.redis_keys import RedisKeys
from stack.cluster import core_name
from testkit.faults import (
    Caller,
    agent_legs_up,
    agents,
    answered,
    assert_one_call_per_phone_at_a_time,
    ended,
    phone_conversations,
    place,
    trace_phones,
    wait_agents,
    wait_in_line,
    wait_records,
)
from testkit.stack import Agent, HotlineStack
from testkit.tcp_outage import OutageProxy

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002", "1003", "1004")
CUT = 0                       # the instance whose AMI link the test cuts
TIMEOUT = 60.0                # every wait of the test, bounded


@dataclass
class OneLinkProxied(HotlineStack):
    """Only instance ``CUT`` reaches AMI through the proxy; the others directly."""

    def start_core(self, index: int | None = None) -> None:
        for i in range(self.cores) if index is None else (index,):
            proxied = self.core_config
            if i != CUT:
                self.core_config = self.config
            try:
                super().start_core(i)
            finally:
                self.core_config = proxied


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = OneLinkProxied(agents=[Agent(a, {"general": 1}) for a in AGENTS], cores=2,
                           ami_proxy=OutageProxy(), calls_settings="announce_seconds = 120")
    stack.start()
    trace_phones(stack, AGENTS)
    try:
        yield stack
    finally:
        stack.stop()


def _owners(hotline: HotlineStack, tails: set[str]) -> dict[str, str]:
    """Caller tail -> the instance owning its live call (Redis)."""
    keys = RedisKeys(hotline.settings.redis_namespace)
    with redis.Redis.from_url(hotline.settings.redis_url, socket_timeout=5) as r:
        raw = r.hgetall(keys.live_calls)
    out = {}
    for value in raw.values():
        call = json.loads(value)
        if call["caller"][-4:] in tails:
            out[call["caller"][-4:]] = call.get("owner", "")
    return out


def _present(hotline: HotlineStack, name: str) -> bool:
    keys = RedisKeys(hotline.settings.redis_namespace)
    with redis.Redis.from_url(hotline.settings.redis_url, socket_timeout=5) as r:
        return bool(r.exists(keys.core_alive(name)))


def _leader(hotline: HotlineStack) -> str | None:
    keys = RedisKeys(hotline.settings.redis_namespace)
    with redis.Redis.from_url(hotline.settings.redis_url, socket_timeout=5) as r:
        raw = r.get(keys.core_leader)
    return raw.decode().split("/", 1)[0] if raw else None


def _agi_refused(hotline: HotlineStack, index: int) -> bool:
    """A connect to instance ``index``'s FastAGI port is refused (nothing listens)."""
    try:
        with socket.create_connection(("127.0.0.1", hotline.settings.agi_ports[index]),
                                      timeout=2):
            return False
    except OSError as exc:
        return exc.errno == errno.ECONNREFUSED


def _agi_log(hotline: HotlineStack, index: int, what: str) -> list[int]:
    """The FastAGI connections accepted so far, as instance ``index``'s log reports them
    at each pause (``what="paused"``) or each resume (``"listening again"``)."""
    pattern = re.compile(rf"FastAGI {what}\b.*?; (\d+) connections accepted so far")
    return [int(m.group(1)) for m in pattern.finditer(hotline.core_log(index))]


def _asterisk_refused(hotline: HotlineStack, index: int) -> int:
    """How many ``inbound`` FastAGI connects to instance ``index`` Asterisk logged as
    refused (res_agi: "Connecting to '<address>' failed for url '<url>': <error>")."""
    port = hotline.settings.agi_ports[index]
    text = (hotline.spec.host_dir / "log" / "messages.log").read_text(errors="replace")
    return len(re.findall(rf"Connecting to '127\.0\.0\.1:{port}' failed for url "
                          rf"'agi://127\.0\.0\.1:{port}/inbound\?[^']*': Connection refused",
                          text))


async def _until(what: str, check: Callable[[], bool],
                 show: Callable[[], object] = lambda: None) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {TIMEOUT:.0f} s; {await asyncio.to_thread(show)}")


async def test_one_instance_loses_ami_nothing_lost_no_call_twice(
        hotline: HotlineStack) -> None:
    proxy = hotline.ami_proxy
    assert isinstance(proxy, OutageProxy)
    for a in AGENTS:
        hotline.login(a)
    cut, other = core_name(CUT), core_name(1 - CUT)

    # Four callers talk with the four agents (SIPp's talk time starts at the IVR's answer).
    talking = place(hotline, [f"1394100100{i}" for i in range(4)], talk_ms=14000)
    talks = await wait_records(hotline, talking, "answered", answered, timeout=TIMEOUT)
    # Two wait and will be served later; three give up while waiting (nobody is free
    # before the talking calls end: 6 s < 14 s).
    stayers = place(hotline, [f"1394100200{i}" for i in range(2)], talk_ms=50000)
    leavers = place(hotline, [f"1394100300{i}" for i in range(3)], talk_ms=6000)
    await wait_in_line(hotline, "12345", 5)
    owners = _owners(hotline, {c.tail for c in talking + stayers + leavers})
    assert len(owners) == 9, owners
    cut_talking = {talks[c.number]["agent_id"] for c in talking if owners[c.tail] == cut}
    other_talking = {talks[c.number]["agent_id"] for c in talking if owners[c.tail] == other}
    # Both instances took talking calls (they take turns), or the test shows nothing.
    assert cut_talking and other_talking, owners

    # The outage: core-0's connection dropped, its reconnects dropped too.
    connections = proxy.connections
    proxy.cut_now()
    assert proxy.cuts == 1
    await _until("core-0 tries to reconnect and is kept out", lambda: proxy.refused >= 1)
    # core-0 counts as not running: its presence goes, core-1 leads and adopts its calls.
    await _until("core-0 withdrawn and core-1 leading",
                 lambda: not _present(hotline, cut) and _leader(hotline) == other,
                 lambda: (_present(hotline, cut), _leader(hotline)))
    tails = {c.tail for c in talking + stayers + leavers}
    await _until("core-1 owns core-0's calls", lambda: cut not in _owners(hotline, tails).values(),
                 lambda: _owners(hotline, tails))
    # core-0 stops taking FastAGI calls: nothing listens on its port (the test's own
    # connect is refused), and its log says so once.
    await _until("core-0 refuses FastAGI connections", lambda: _agi_refused(hotline, CUT),
                 lambda: hotline.core_log(CUT)[-2000:])
    paused_at = _agi_log(hotline, CUT, "paused")
    assert len(paused_at) == 1, hotline.core_log(CUT)[-3000:]
    # Two more callers ring in during the outage, one after the other, so the dialplan's
    # round robin starts one of them at core-0: Asterisk finds it refusing (its own log)
    # and takes core-1, which registers both.
    refusals = _asterisk_refused(hotline, CUT)
    async def ring_in(number: str) -> Caller:
        [caller] = place(hotline, [number], talk_ms=50000)
        await _until(f"{number} registered", lambda: caller.tail in _owners(hotline, {caller.tail}))
        return caller

    later = [await ring_in(f"1394100400{i}") for i in range(2)]
    later_tails = {c.tail for c in later}
    assert _owners(hotline, later_tails) == {t: other for t in later_tails}, \
        _owners(hotline, later_tails)
    await _until("Asterisk logged one refused connect to core-0",
                 lambda: _asterisk_refused(hotline, CUT) >= refusals + 1)
    assert _asterisk_refused(hotline, CUT) == refusals + 1

    for c in talking + leavers:       # every one of these callers has hung up
        result = await c.result()
        assert result.ok, (c.number, result.output[-1500:])
    # Nothing stuck while core-0 is cut: all four agents are freed and take the four
    # callers still waiting (Asterisk: four agents' legs up), every answer heard.
    await _until("the four agents take the four waiting callers",
                 lambda: len(agent_legs_up(hotline)) == len(AGENTS),
                 lambda: (agent_legs_up(hotline), agents(hotline)))
    await _until("the four agents on a call in the distributor",
                 lambda: {a["state"] for a in agents(hotline).values()} == {"on_call"},
                 lambda: agents(hotline))
    assert proxy.connections == connections        # still cut: nothing got through

    proxy.restore()
    await _until("core-0 back on AMI and present again",
                 lambda: proxy.connections > connections and _present(hotline, cut))
    # Listening again, having accepted no connection while paused; paused and resumed once.
    await _until("core-0 listens on FastAGI again",
                 lambda: len(_agi_log(hotline, CUT, "listening again")) == 1,
                 lambda: hotline.core_log(CUT)[-2000:])
    assert _agi_log(hotline, CUT, "listening again") == paused_at, \
        hotline.core_log(CUT)[-3000:]
    assert _agi_log(hotline, CUT, "paused") == paused_at
    assert not _agi_log(hotline, 1 - CUT, "paused")       # core-1 never paused

    served = stayers + later
    for c in served:
        result = await c.result()
        assert result.ok, (c.number, result.output[-1500:])
    records = await wait_records(hotline, talking + served, "answered and ended",
                                 lambda r: answered(r) and ended(r), timeout=TIMEOUT)
    for number, r in records.items():
        assert (r["disposition"], r["route"]) == ("answered", "core"), (number, r)
        assert r["agent_id"] in AGENTS, (number, r)
    gone = await wait_records(hotline, leavers, "ended", ended, timeout=TIMEOUT)
    for number, r in gone.items():
        assert (r["disposition"], r["answered_at"]) == ("abandoned", None), (number, r)

    # core-0 takes calls again (the instances take turns).
    again = place(hotline, [f"1394100500{i}" for i in range(2)], talk_ms=4000)
    await wait_records(hotline, again, "answered", answered, timeout=TIMEOUT)
    assert set(_owners(hotline, {c.tail for c in again}).values()) == {cut, other}
    for c in again:
        result = await c.result()
        assert result.ok, (c.number, result.output[-1500:])
    served += again
    await wait_records(hotline, again, "answered and ended",
                       lambda r: answered(r) and ended(r), timeout=TIMEOUT)

    # Each answer and each abandon counted once: 4 + 2 + 2 + 2 answered, 3 abandoned.
    figures = (await hotline.aapi("GET", "/api/queues"))["lines"]["12345"]
    assert (figures["answered"], figures["abandoned"], figures["waiting"]) == (10, 3, 0), \
        figures
    # No agent stuck busy.
    await wait_agents(hotline, AGENTS, "ready", timeout=TIMEOUT)
    # No call assigned twice: one conversation per served call, none overlapping.
    assert_one_call_per_phone_at_a_time(hotline, AGENTS, least=len(talking + served))
    conversations = sum(len(phone_conversations(hotline, a)) for a in AGENTS)
    assert conversations == len(talking + served), conversations
    # The instances' own logs (not the test's): core-0 stepped out, core-1 took over.
    assert "cannot serve now" in hotline.core_log(CUT), hotline.core_log(CUT)[-3000:]
    assert "took over" in hotline.core_log(1 - CUT), hotline.core_log(1 - CUT)[-3000:]
