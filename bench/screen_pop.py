"""Screen-pop latency (弹屏延迟): the agent's phone receives the INVITE → the pop drawn in
the agent's desktop page, measured with one clock (one machine).

    .venv/bin/python bench/screen_pop.py [--calls 20] [--agents 200] [--waiting 100]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, Asterisk 22 in the
sid chroot, the core as a subprocess) with agent 1001 (skill fire-hazard, a SIPp phone
answering after 200 ms) and ``--agents`` more agents of skill general whose phones only
register, logged in and paused (they add agents to every snapshot, none takes a call);
``--waiting`` SIPp callers wait on line 12345 (skill general: nobody ready) for the whole
run. Agent 1001's phone is restarted with SIPp's message trace (every SIP message with the
UTC time it was received, to the microsecond). An operator bound to 1001 signs in on the
sign-in page of Debian's headless Chromium and opens ``/desk``. Then, one after another,
``--calls`` SIPp callers ring line 96119 (fire-hazard: 1001's; each talks 3 s; the test
stack's wrap-up is 0 s). For each call the page notes ``Date.now()`` when it has drawn the
pop (``window.hotlineDesk.renders``). Start: the instant 1001's phone received the call's
INVITE (the first INVITE its trace shows after the call was placed; one call at a time).
Also printed, for comparison: from the distributor's ring decision (the call's ``rang_at``
in its Redis hash, written in the same step that publishes the change the socket reacts
to; the AMI Redirect and the INVITE follow it). The next call starts when the previous
caller has hung up. One machine, one clock.

Measured: the phone rings → the pop is on the screen (the socket's wake-up on the ring
decision, the agent's hash, the pop's database and Redis look-ups, JSON, drawing, all in
parallel with the Redirect and the INVITE; negative if the pop is drawn before the phone
rings). Bounded: at most 200 calls, 500 extra agents and 100 waiting callers; every wait
has a timeout; loopback only; the stack is stopped and its files removed on exit. Shared
steps: :mod:`testkit.desk_bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis
from playwright.async_api import TimeoutError as PlaywrightTimeout

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotline_core.acd.contract import CallField  # noqa: E402
from hotline_core.redis_keys import RedisKeys  # noqa: E402
from testkit.browser import chromium  # noqa: E402
from testkit.desk_bench import (  # noqa: E402
    WaitingCallers,
    events_per_second,
    fallbacks,
    invite_for,
    next_render,
    paused_agents,
    percentile,
    shipped_dead_core_bound,
    signed_in_page,
    stop_callers,
    traced_phone,
    until_waiting,
    waiting_callers,
)
from testkit.people import add_user  # noqa: E402
from testkit.stack import Agent, HotlineStack  # noqa: E402

LINE = "96119"          # fire-hazard: agent 1001's only
WAITING_LINE = "12345"  # general: every other agent, all paused
AGENT = "1001"
POP_WAIT_MS = 30_000    # a call without a pop by then is reported and skipped


async def run(calls: int, extra_agents: int, waiting: int
              ) -> tuple[list[float], list[float]]:
    """The measured calls' (INVITE → pop drawn, ring decision → pop drawn), in seconds."""
    agent = Agent(AGENT, {"fire-hazard": 1})
    agents = [agent] + [
        Agent(str(3000 + i), {"general": 1}, registers=True) for i in range(extra_agents)]
    stack = HotlineStack(agents=agents, rtp_ports=2 * (waiting + 2) + 40).start()
    callers = WaitingCallers([])
    try:
        stack.wait_healthy()
        trace = traced_phone(stack, agent)
        print(f"dead-core bound {shipped_dead_core_bound(stack)} s (shipped)", flush=True)
        add_user(stack.settings.database_url, "bench-op", "operator", agent_id=AGENT)
        await paused_agents(stack, [str(3000 + i) for i in range(extra_agents)])
        callers = waiting_callers(stack, WAITING_LINE, waiting)
        if waiting:
            reached = await until_waiting(stack, WAITING_LINE, waiting)
            print(f"{reached} callers waiting on {WAITING_LINE} when the measured calls start",
                  flush=True)
        print(f"{await events_per_second(stack):.1f} distribution events/s with them waiting; "
              f"{fallbacks(stack)} calls went to the fallback queue so far", flush=True)
        stack.login(AGENT)
        redis = aioredis.from_url(stack.settings.redis_url)
        acd = RedisKeys(stack.settings.redis_namespace).acd
        from_invite: list[float] = []
        from_ring: list[float] = []
        async with chromium() as browser:
            page = await signed_in_page(browser, stack, "bench-op", "/desk")
            await page.wait_for_selector('#live-status:text-is("已连接")')
            for i in range(calls):
                drawn_before = await page.evaluate("window.hotlineDesk.pops")
                placed = time.time()
                caller = asyncio.create_task(stack.call(LINE, f"1380000{i:04d}",
                                                        talk_ms=3000))
                try:
                    # Bounded wait (the test stack's wrap-up is 0 s; a loaded machine is slow).
                    try:
                        last = await next_render(page, "window.hotlineDesk.renders",
                                                 "window.hotlineDesk.pops", drawn_before,
                                                 POP_WAIT_MS)
                    except PlaywrightTimeout:
                        print(f"call {i}: no pop within {POP_WAIT_MS / 1000:.0f} s "
                              f"({fallbacks(stack)} calls in the fallback queue so far)",
                              flush=True)
                        continue
                    drawn = float(last["drawn"])
                    rang = await asyncio.wait_for(
                        redis.hget(acd.call(str(last["call"])), CallField.RANG_AT.value), 5)
                    if rang is not None:     # the caller still talks: its hash is there
                        from_ring.append(drawn - float(rang))
                    invite = await invite_for(trace, placed)
                    if invite is None:
                        print(f"call {i}: the phone traced no INVITE", flush=True)
                    else:
                        from_invite.append(drawn - invite.at)
                finally:
                    await caller
        await redis.aclose()
        print(f"{fallbacks(stack)} calls went to the fallback queue during the run", flush=True)
        return from_invite, from_ring
    finally:
        await stop_callers(callers)
        stack.stop()


def _line(what: str, ms: list[float]) -> str:
    return (f"{what}, {len(ms)} calls: p50 {percentile(ms, 50):.1f} ms, "
            f"p99 {percentile(ms, 99):.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms, "
            f"mean {statistics.mean(ms):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--agents", type=int, default=200, help="extra paused agents")
    parser.add_argument("--waiting", type=int, default=100, help="callers kept waiting")
    args = parser.parse_args()
    if not (1 <= args.calls <= 200 and 0 <= args.agents <= 500 and 0 <= args.waiting <= 100):
        parser.error("bounds: 1-200 calls, 0-500 extra agents, 0-100 waiting callers")
    from_invite, from_ring = asyncio.run(run(args.calls, args.agents, args.waiting))
    if not from_invite:
        print("no pop measured")
        return 1
    print(f"screen pop, {1 + args.agents} agents, {args.waiting} waiting")
    print(_line("agent's INVITE received -> pop drawn", [x * 1000 for x in from_invite]))
    if from_ring:
        print(_line("ring decision (rang_at) -> pop drawn", [x * 1000 for x in from_ring]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
