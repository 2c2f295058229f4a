"""Screen-pop latency (弹屏延迟): the distributor rings the agent → the pop drawn in the
agent's desktop page, measured with one clock (one machine).

    .venv/bin/python bench/screen_pop.py [--calls 20] [--agents 200] [--waiting 100]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, Asterisk 22 in the
sid chroot, the core as a subprocess) with agent 1001 (skill fire-hazard, a SIPp phone
answering after 200 ms) and ``--agents`` more agents of skill general whose phones only
register, logged in and paused (they add agents to every snapshot, none takes a call);
``--waiting`` SIPp callers wait on line 12345 (skill general: nobody ready) for the whole
run. An operator bound to 1001 signs in on the sign-in page of Debian's headless Chromium
and opens ``/desk``. Then, one after another, ``--calls`` SIPp callers ring line 96119
(fire-hazard: 1001's; each talks 3 s; the test stack's wrap-up is 0 s). For each call the
page notes ``Date.now()`` when it has drawn the pop (``window.hotlineDesk.renders``); the
start is the instant the distributor made the agent's phone ring: the call's ``rang_at`` in
its Redis hash (written by the distribution script in the same step that publishes the
change the socket reacts to; the AMI Redirect and the INVITE to the phone follow it). The
next call starts when the previous caller has hung up.

Measured: ring decision → pop drawn (socket wake-up, the agent's hash, the pop's database
and Redis look-ups, JSON, drawing). Not measured: the Redirect and INVITE themselves
(`bench/agi_asterisk.py` covers the call path). Bounded: at most 200 calls, 500 extra
agents and 100 waiting callers; every wait has a timeout; loopback only; the stack is
stopped and its files removed on exit. Shared steps: :mod:`testkit.desk_bench`.
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
from testkit.browser import chromium  # noqa: E402
from testkit.desk_bench import (  # noqa: E402
    next_render,
    paused_agents,
    percentile,
    signed_in_page,
    stop_callers,
    until_waiting,
    waiting_callers,
)
from testkit.people import add_user  # noqa: E402
from testkit.stack import Agent, HotlineStack  # noqa: E402

LINE = "96119"          # fire-hazard: agent 1001's only
WAITING_LINE = "12345"  # general: every other agent, all paused
AGENT = "1001"


async def run(calls: int, extra_agents: int, waiting: int) -> list[float]:
    agents = [Agent(AGENT, {"fire-hazard": 1})] + [
        Agent(str(3000 + i), {"general": 1}, registers=True) for i in range(extra_agents)]
    stack = HotlineStack(agents=agents, rtp_ports=2 * (waiting + 2) + 40).start()
    callers: list[asyncio.Task[object]] = []
    try:
        stack.wait_healthy()
        add_user(stack.settings.database_url, "bench-op", "operator", agent_id=AGENT)
        await paused_agents(stack, [str(3000 + i) for i in range(extra_agents)])
        callers = waiting_callers(stack, WAITING_LINE, waiting)
        if waiting:
            reached = await until_waiting(stack, WAITING_LINE, waiting)
            print(f"{reached} callers waiting on {WAITING_LINE} when the measured calls start")
        stack.login(AGENT)
        redis = aioredis.from_url(stack.settings.redis_url)
        acd = RedisKeys(stack.settings.redis_namespace).acd
        latencies: list[float] = []
        async with chromium() as browser:
            page = await signed_in_page(browser, stack, "bench-op", "/desk")
            await page.wait_for_selector('#live-status:text-is("已连接")')
            for i in range(calls):
                drawn_before = await page.evaluate("window.hotlineDesk.pops")
                caller = asyncio.create_task(stack.call(LINE, f"1380000{i:04d}",
                                                        talk_ms=3000))
                try:
                    # Bounded wait (the test stack's wrap-up is 0 s; a loaded machine is slow).
                    last = await next_render(page, "window.hotlineDesk.renders",
                                             "window.hotlineDesk.pops", drawn_before)
                    rang = await asyncio.wait_for(
                        redis.hget(acd.call(str(last["call"])), CallField.RANG_AT.value), 5)
                    if rang is not None:     # the caller still talks: its hash is there
                        latencies.append(float(last["drawn"]) - float(rang))
                finally:
                    await caller
        await redis.aclose()
        return latencies
    finally:
        await stop_callers(callers)
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--agents", type=int, default=200, help="extra paused agents")
    parser.add_argument("--waiting", type=int, default=100, help="callers kept waiting")
    args = parser.parse_args()
    if not (1 <= args.calls <= 200 and 0 <= args.agents <= 500 and 0 <= args.waiting <= 100):
        parser.error("bounds: 1-200 calls, 0-500 extra agents, 0-100 waiting callers")
    lat = asyncio.run(run(args.calls, args.agents, args.waiting))
    if not lat:
        print("no pop measured")
        return 1
    ms = [x * 1000 for x in lat]
    print(f"screen pop, ring decision -> pop drawn, {1 + args.agents} agents, "
          f"{args.waiting} waiting, {len(ms)} calls: "
          f"p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
          f"max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
