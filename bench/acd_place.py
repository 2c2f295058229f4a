"""One caller's place in line and estimated wait: cost against the length of the line.

    .venv/bin/python bench/acd_place.py [--lines 50,100,200,400] [--reads 400]

Issue 14 item 2, the core's side alone: a real redis-server (``testkit.redis``), one
Distributor, one agent on a call, N callers waiting. For each N it reads every caller's
position and estimated wait as the ``waiting`` flow does (``DistributionView.place``: one
``place.lua`` run), ``--reads`` times in all, and reports per read: the core's CPU
(``time.process_time``), the wall time, the Redis commands served (``INFO commandstats``)
and redis-server's CPU (``INFO cpu``). Beside it, the same reads the way main 72bc7d0 did
them: the whole line (``ZRANGE`` + one ``HGETALL`` per call) twice and every agent — the
"before" (``DistributionView.waiting``/``agents`` still read that way for the console).

Bounded: N ≤ 2000, reads ≤ 20 000; the redis-server is stopped on exit. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _commands(info: dict[str, Any]) -> int:
    return sum(int(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_"))


async def _old_read(d: Any, client: Any, call_id: str) -> tuple[int | None, float | None]:
    """Position and estimate as main 72bc7d0 computed them (two line scans + all agents)."""
    from hotline_core.acd.agents import AgentState
    from hotline_core.acd.figures import estimated_wait

    line = await d.view.waiting()
    mine = next((c for c in line if c.call_id == call_id), None)
    if mine is None:
        return None, None
    ahead = 0
    for c in line:
        if c.call_id == call_id:
            break
        ahead += c.skills[0] == mine.skills[0]
    line = await d.view.waiting()      # estimated_wait read the line again
    serving = sum(1 for a in await d.view.agents() if mine.skills[0] in a.skills
                  and a.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED))
    samples = await _talk_times(client, d, mine.skills[0])
    return ahead + 1, estimated_wait(ahead, serving, samples, 240.0, 15.0)


async def measure(url: str, n: int, reads: int, old: bool) -> dict[str, float]:
    import redis.asyncio as aioredis

    from hotline_core.acd import DistributionConfig, Distributor, WaitingCall

    client = aioredis.from_url(url, socket_timeout=10, decode_responses=True)
    clock = [1_795_000_000.0]
    # a generous timeout: the machine is shared, this measures CPU, not latency
    d = Distributor(client, DistributionConfig(redis_timeout_seconds=60),
                    namespace=f"bench{n}{old}",
                    clock=lambda: clock[0])
    try:
        await d.agent_login("a1", {"general": 1})
        await d.enqueue(WaitingCall("talking", "12345", ("general",), "13700000000"))
        await d.agent_answered("talking", "a1")
        ids = [f"c{i:05d}" for i in range(n)]
        for cid in ids:
            clock[0] += 0.01
            await d.enqueue(WaitingCall(cid, "12345", ("general",), "13700000000"))
        await d.view.place(ids[0])
        before = await client.info("commandstats")
        cpu_redis0 = float((await client.info("cpu"))["used_cpu_user"])
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(reads):
            cid = ids[i % n]
            if old:
                await _old_read(d, client, cid)
            else:
                await d.view.place(cid)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        cpu_redis1 = float((await client.info("cpu"))["used_cpu_user"])
        after = await client.info("commandstats")
        return {"cpu_us": cpu / reads * 1e6, "wall_us": wall / reads * 1e6,
                "commands": (_commands(after) - _commands(before) - 2) / reads,
                "redis_cpu_us": (cpu_redis1 - cpu_redis0) / reads * 1e6}
    finally:
        await client.aclose()


async def _talk_times(client: Any, d: Any, skill: str) -> list[float]:
    return [float(x) for x in await client.lrange(d.names.acd.prefix + f":ht:{skill}", 0, -1)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lines", default="50,100,200,400")
    p.add_argument("--reads", type=int, default=400)
    args = p.parse_args(argv)
    lines = [int(x) for x in args.lines.split(",") if x.strip()]
    if not lines or min(lines) <= 0 or max(lines) > 2000 or not 0 < args.reads <= 20_000:
        raise SystemExit("--lines: 1..2000 each; --reads: 1..20000")
    from testkit.redis_server import redis_server

    print(f"load average {os.getloadavg()}")
    print("| callers waiting | way | core CPU µs/read | wall µs/read | Redis commands/read "
          "| redis-server CPU µs/read |")
    print("|---|---|---|---|---|---|")
    with redis_server() as url:
        for n in lines:
            for old in (True, False):
                r = asyncio.run(measure(url, n, args.reads, old))
                way = "before (72bc7d0: whole line ×2 + agents)" if old else "place.lua"
                print(f"| {n} | {way} | {r['cpu_us']:.0f} | {r['wall_us']:.0f} | "
                      f"{r['commands']:.1f} | {r['redis_cpu_us']:.0f} |", flush=True)
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
