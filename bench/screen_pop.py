"""Screen-pop latency (弹屏延迟): the distributor rings the agent → the pop drawn in the
agent's desktop page, measured with one clock (one machine).

    .venv/bin/python bench/screen_pop.py [--calls 20] [--agents 0]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, Asterisk 22 in the
sid chroot, the core as a subprocess) with agent 1001 (a SIPp phone answering after 200 ms)
and ``--agents`` more agents whose phones only register, logged in and paused (they add
agents to every snapshot, none takes a call). An operator bound to 1001 signs in on the
sign-in page of Debian's headless Chromium and opens ``/desk``. Then, one after another,
``--calls`` SIPp callers ring line 12345 (each talks 3 s; the test stack's wrap-up is
0 s). For each call the page notes ``Date.now()`` when it has drawn the pop
(``window.hotlineDesk.renders``); the start is the instant the distributor made the
agent's phone ring: the call's ``rang_at`` in its Redis hash (written by the distribution
script in the same step that publishes the change the socket reacts to; the AMI Redirect
and the INVITE to the phone follow it). The next call starts when the previous caller has
hung up.

Measured: ring decision → pop drawn (socket wake-up, the agent's hash, the pop's database
and Redis look-ups, JSON, drawing). Not measured: the Redirect and INVITE themselves
(`bench/agi_asterisk.py` covers the call path). Bounded: at most 200 calls and 500 extra
agents; every wait has a timeout; loopback only; the stack is stopped and its files removed
on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

import redis.asyncio as aioredis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotline_core.acd.contract import CallField  # noqa: E402
from hotline_core.redis_keys import RedisKeys  # noqa: E402
from testkit.browser import chromium, new_page, sign_in_page  # noqa: E402
from testkit.people import DEFAULT_PASSWORD, add_user  # noqa: E402
from testkit.stack import Agent, HotlineStack  # noqa: E402

LINE = "12345"
AGENT = "1001"


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(calls: int, extra_agents: int) -> list[float]:
    agents = [Agent(AGENT, {"general": 1})] + [
        Agent(str(3000 + i), {"general": 1}, registers=True) for i in range(extra_agents)]
    stack = HotlineStack(agents=agents).start()
    try:
        stack.wait_healthy()
        add_user(stack.settings.database_url, "bench-op", "operator", agent_id=AGENT)
        for i in range(extra_agents):
            agent = str(3000 + i)
            await stack.aapi("POST", f"/api/agents/{agent}/login", {})
            await stack.aapi("POST", f"/api/agents/{agent}/pause", {"reason": "meeting"})
        stack.login(AGENT)
        base = f"http://127.0.0.1:{stack.http_port}"
        redis = aioredis.from_url(stack.settings.redis_url)
        acd = RedisKeys(stack.settings.redis_namespace).acd
        latencies: list[float] = []
        async with chromium() as browser:
            page = await new_page(browser)
            await sign_in_page(page, base, "bench-op", DEFAULT_PASSWORD, "/desk")
            await page.wait_for_url(f"{base}/desk")
            await page.wait_for_selector('#live-status:text-is("已连接")')
            for i in range(calls):
                drawn_before = await page.evaluate("window.hotlineDesk.pops")
                caller = asyncio.create_task(stack.call(LINE, f"1390000{i:04d}",
                                                        talk_ms=3000))
                try:
                    # Bounded wait (the test stack's wrap-up is 0 s; a loaded machine is slow).
                    await page.wait_for_function(f"window.hotlineDesk.pops > {drawn_before}",
                                                 timeout=90_000)
                    last = await page.evaluate(
                        "window.hotlineDesk.renders[window.hotlineDesk.renders.length - 1]")
                    rang = await asyncio.wait_for(
                        redis.hget(acd.call(str(last["call"])), CallField.RANG_AT.value), 5)
                    if rang is not None:     # the caller still talks: its hash is there
                        latencies.append(float(last["drawn"]) - float(rang))
                finally:
                    await caller
        await redis.aclose()
        return latencies
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--agents", type=int, default=0, help="extra paused agents")
    args = parser.parse_args()
    if not (1 <= args.calls <= 200 and 0 <= args.agents <= 500):
        parser.error("bounds: 1-200 calls, 0-500 extra agents")
    lat = asyncio.run(run(args.calls, args.agents))
    if not lat:
        print("no pop measured")
        return 1
    ms = [x * 1000 for x in lat]
    print(f"screen pop, ring decision -> pop drawn, {1 + args.agents} agents, {len(ms)} calls: "
          f"p50 {_percentile(ms, 50):.1f} ms, p99 {_percentile(ms, 99):.1f} ms, "
          f"max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
