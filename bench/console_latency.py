"""Console latency (监控台延迟): an event published on the hotline's events channel → the
supervisor console's DOM updated, measured in the page.

    .venv/bin/python bench/console_latency.py [--agents 200] [--calls 20] [--events 200]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, Asterisk 22 in the
sid chroot, the core as a subprocess) with ``--agents`` agents of skill general whose phones
register (none starts: the agents are only rows in the distributor), all logged in and
paused through the API, and ``--calls`` SIPp callers on 12345 that wait in the line. A
supervisor signs in on the sign-in page of Debian's headless Chromium and opens
``/console``. Then, one after another, ``--events`` messages are published on the events
channel (``<namespace>:events``, what the distributor publishes on a change) with the
publish time (``time.time()``) noted just before; the console's socket handler reads the
snapshot of every line and skill, sends it, and the page draws the queue table; the page
notes ``Date.now()`` when the table is drawn (``window.hotlineConsole.renders``). The next
event is published once the page has drawn the previous one. One machine, one clock.

Measured: publish → table drawn (the agents table is re-read over HTTP after that and is
not in this figure). Bounded: at most 500 agents, 100 calls, 1000 events; every wait has a
timeout; loopback only; the stack is stopped and its files removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotline_core.redis_keys import RedisKeys  # noqa: E402
from testkit.browser import chromium  # noqa: E402
from testkit.desk_bench import (  # noqa: E402
    WaitingCallers,
    events_per_second,
    fallbacks,
    next_render,
    paused_agents,
    percentile,
    shipped_dead_core_bound,
    signed_in_page,
    stop_callers,
    until_waiting,
    waiting_callers,
)
from testkit.people import add_user  # noqa: E402
from testkit.stack import Agent, HotlineStack  # noqa: E402

LINE = "12345"


async def run(agents: int, calls: int, events: int) -> list[float]:
    stack = HotlineStack(agents=[Agent(str(3000 + i), {"general": 1}, registers=True)
                                 for i in range(agents)],
                         rtp_ports=2 * calls + 40).start()     # 2 RTP ports a call
    callers = WaitingCallers([])
    try:
        stack.wait_healthy()
        add_user(stack.settings.database_url, "bench-sup", "supervisor")
        print(f"dead-core bound {shipped_dead_core_bound(stack)} s (shipped)", flush=True)
        await paused_agents(stack, [str(3000 + i) for i in range(agents)])
        callers = waiting_callers(stack, LINE, calls)
        reached = await until_waiting(stack, LINE, calls)
        print(f"{reached} callers waiting on {LINE} when the events start", flush=True)
        print(f"{await events_per_second(stack):.1f} distribution events/s with them waiting; "
              f"{fallbacks(stack)} calls went to the fallback queue so far", flush=True)
        redis = aioredis.from_url(stack.settings.redis_url)
        channel = RedisKeys(stack.settings.redis_namespace).events
        latencies: list[float] = []
        async with chromium() as browser:
            page = await signed_in_page(browser, stack, "bench-sup", "/console")
            await page.wait_for_function(
                f"""() => {{ const td = document.querySelector(
                      '#queues tr[data-queue="line:{LINE}"] td.waiting');
                      return td && Number(td.textContent) >= {reached}; }}""", timeout=300_000)
            for _ in range(events):
                drawn = await page.evaluate("window.hotlineConsole.figures")
                published = time.time()
                await asyncio.wait_for(redis.publish(channel, "bench"), 5)
                last = await next_render(page, "window.hotlineConsole.renders",
                                         "window.hotlineConsole.figures", drawn, 10_000)
                latencies.append(float(last["drawn"]) - published)
        await redis.aclose()
        print(f"{fallbacks(stack)} calls went to the fallback queue during the run", flush=True)
        return latencies
    finally:
        await stop_callers(callers)
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    if not (1 <= args.agents <= 500 and 1 <= args.calls <= 100 and 1 <= args.events <= 1000):
        parser.error("bounds: 1-500 agents, 1-100 calls, 1-1000 events")
    lat = asyncio.run(run(args.agents, args.calls, args.events))
    ms = [x * 1000 for x in lat]
    print(f"console latency, {args.agents} agents, {args.calls} waiting calls, "
          f"{len(ms)} events: p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} "
          f"ms, max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
