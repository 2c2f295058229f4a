"""Benchmark: call distribution (ACD) assignment throughput against a real redis-server.

Three paths, each a decision made by the Lua script in one round trip:

- ``arrive``: all agents READY, calls arrive — each enqueue picks an agent (call side);
- ``free``: calls waiting, agents log in one by one — each picks the best call (agent side);
- ``cycle``: steady state, every agent talking and W calls waiting: an agent ends its call
  and at once takes the head of the line (call_ended → assignment), then the new call is
  answered and a new caller joins, so W stays constant. The headline figure.

Mixed traffic: 80 % general calls, 20 % on five special seats (overflow to general after
30 s); every agent holds "general", one in ten also a seat skill.

Run: .venv/bin/python -m bench.acd_assign [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import time

import redis.asyncio as aioredis

from hotline_core.acd import (
    DistributionConfig,
    Distributor,
    OverflowRule,
    WaitingCall,
)
from testkit.redis_server import redis_server

_run = itertools.count()
SEATS = ("12351", "12338", "12328", "12366", "12348")
CONFIG = DistributionConfig(
    wrapup_seconds=0, overflow={s: OverflowRule(30, "general") for s in SEATS})


def _skills(rng: random.Random) -> dict[str, int]:
    skills = {"general": rng.randint(1, 5)}
    if rng.random() < 0.1:
        skills[rng.choice(SEATS)] = rng.randint(5, 9)
    return skills


def _call(rng: random.Random, n: int) -> WaitingCall:
    skill = "general" if rng.random() < 0.8 else rng.choice(SEATS)
    return WaitingCall(f"c{n}", skill if skill != "general" else "12345", (skill,),
                       "13800000000", priority=rng.choice((0, 0, 0, 0, 10, 20, 30)))


async def _agents(d: Distributor, rng: random.Random, n: int) -> None:
    for i in range(n):
        await d.agent_login(f"a{i}", _skills(rng))


async def bench_arrive(r: aioredis.Redis, agents: int, calls: int) -> float:
    rng = random.Random(1)
    d = Distributor(r, CONFIG, namespace=f"bench-arrive-{next(_run)}")
    await _agents(d, rng, agents)
    t = time.perf_counter()
    made = 0
    for n in range(calls):
        made += (await d.enqueue(_call(rng, n))) is not None
    elapsed = time.perf_counter() - t
    # seat calls with no free dedicated agent wait for their overflow: also a decision
    assert made > calls * 0.8, made
    return calls / elapsed


async def bench_free(r: aioredis.Redis, agents: int, calls: int) -> float:
    rng = random.Random(2)
    d = Distributor(r, CONFIG, namespace=f"bench-free-{next(_run)}")
    for n in range(calls):
        await d.enqueue(_call(rng, n))
    t = time.perf_counter()
    for i in range(agents):
        await d.agent_login(f"a{i}", {"general": 1, **_skills(rng)})
    elapsed = time.perf_counter() - t
    made = calls - len(await d.view.waiting())
    assert made > min(calls, agents) * 0.8, made  # seat calls wait for seat agents
    return agents / elapsed


async def bench_cycle(r: aioredis.Redis, agents: int, waiting: int,
                      rounds: int) -> tuple[float, float, float, float]:
    """Returns decisions/s of call_ended→assignment, p50 and p99 latency in ms, and the
    script's own time inside Redis in µs per call_ended (the part serialised across all
    core instances)."""
    rng = random.Random(3)
    d = Distributor(r, CONFIG, namespace=f"bench-cycle-{next(_run)}")
    ringing: dict[str, str] = {}

    async def record(a: object) -> None:
        ringing[a.agent_id] = a.call_id  # type: ignore[attr-defined]

    d.on_assignment = record
    for i in range(agents):
        await d.agent_login(f"a{i}", {"general": 1})  # everyone can take any call
    n = 0
    for n in range(agents + waiting):
        await d.enqueue(WaitingCall(f"c{n}", "12345", ("general",), "1",
                                    priority=rng.choice((0, 0, 0, 10))))
    talking = dict(ringing)
    for agent, call in talking.items():
        await d.agent_answered(call, agent)
    ringing.clear()
    order = list(talking)
    lat = []
    server_us = 0.0
    for k in range(rounds):
        agent = order[k % len(order)]
        await r.config_resetstat()
        t = time.perf_counter()
        await d.call_ended(talking[agent], agent)
        lat.append(time.perf_counter() - t)
        stats = await r.info("commandstats")
        server_us += float(stats["cmdstat_evalsha"]["usec"])
        call = ringing.pop(agent)
        talking[agent] = call
        await d.agent_answered(call, agent)
        n += 1
        await d.enqueue(WaitingCall(f"c{n}", "12345", ("general",), "1"))
    assert len(await d.view.waiting()) == waiting
    lat.sort()
    return (rounds / sum(lat), statistics.median(lat) * 1e3,
            lat[int(len(lat) * 0.99) - 1] * 1e3, server_us / rounds)


async def main(quick: bool) -> None:
    with redis_server() as url:
        r = aioredis.from_url(url, socket_timeout=10)
        rounds = 500 if quick else 2000
        print("| path | agents | waiting calls | decisions/s | p50 ms | p99 ms "
              "| script µs in Redis |")
        print("|---|---|---|---|---|---|---|")
        grid = [(1000, 500)] if quick else [
            (100, 500), (1000, 500), (5000, 500), (1000, 50), (1000, 2000)]
        for agents, calls in grid:
            rate, p50, p99, us = await bench_cycle(r, agents, calls, rounds)
            print(f"| cycle (end → next call) | {agents} | {calls} | {rate:,.0f} "
                  f"| {p50:.2f} | {p99:.2f} | {us:.0f} |")
        for agents, calls in grid:
            if calls <= agents:
                rate = await bench_arrive(r, agents, calls)
                print(f"| arrive (call picks agent) | {agents} | 0 → {calls} ringing "
                      f"| {rate:,.0f} | | | |")
        for agents, calls in grid:
            rate = await bench_free(r, min(agents, calls), calls)
            print(f"| free (login picks call) | {min(agents, calls)} | {calls} → 0 "
                  f"| {rate:,.0f} | | | |")
        await r.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
