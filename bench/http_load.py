"""HTTP latency of the desktop's and the console's routes under a bounded loopback load,
against the same routes idle and against the health route under the same load (the
baseline: no sign-in look-up, no database, no Redis).

    .venv/bin/python bench/http_load.py [--clients 20] [--seconds 20] [--agents 200]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, Asterisk 22 in the
sid chroot, the core as a subprocess) with agent 1001 and ``--agents`` more agents of skill
general, registering phones not started, logged in and paused (so ``/api/agents`` and
``/api/queues`` carry them). An operator (1001) and a supervisor sign in over HTTP once each
(one session cookie per role; the clients share it, as tabs of one browser would).

1. Idle: one client, one request at a time, ``--idle`` requests per route.
2. Load: ``--clients`` concurrent clients for ``--seconds`` seconds, each going round the
   route list from its own starting point, the next request as soon as the last answered.

Routes: the desk's ``GET /desk``, ``/api/desk``, ``/api/desk/voice-messages``,
``/api/desk/matters`` (as the operator); the console's ``GET /console``, ``/api/queues``,
``/api/agents`` (as the supervisor); ``GET /api/health`` (no sign-in). Latency: request
sent → body read, by the client (``time.perf_counter``), so the client's own scheduling is
in it; any answer but 200 is counted as an error. Bounded: at most 100 clients, 120
seconds, 500 agents; every request has a 10 s time-out; loopback only; the stack is stopped
and its files removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testkit.desk_bench import paused_agents, percentile  # noqa: E402
from testkit.people import add_user, sign_in  # noqa: E402
from testkit.stack import Agent, HotlineStack  # noqa: E402

OPERATOR_ROUTES = ("/desk", "/api/desk", "/api/desk/voice-messages", "/api/desk/matters")
SUPERVISOR_ROUTES = ("/console", "/api/queues", "/api/agents")
BASELINE = "/api/health"
REQUEST_SECONDS = 10.0

Samples = dict[str, list[float]]


async def _one(http: aiohttp.ClientSession, url: str, route: str, times: Samples,
               errors: dict[str, int]) -> None:
    started = time.perf_counter()
    try:
        async with http.get(url + route,
                            timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS)) as resp:
            await resp.read()
            ok = resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    if ok:
        times[route].append(time.perf_counter() - started)
    else:
        errors[route] += 1


def _mix(op: aiohttp.ClientSession, sup: aiohttp.ClientSession,
         anon: aiohttp.ClientSession) -> list[tuple[aiohttp.ClientSession, str]]:
    return ([(op, r) for r in OPERATOR_ROUTES] + [(sup, r) for r in SUPERVISOR_ROUTES]
            + [(anon, BASELINE)])


async def _idle(mix: list[tuple[aiohttp.ClientSession, str]], url: str,
                count: int) -> tuple[Samples, dict[str, int]]:
    times: Samples = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for http, route in mix:
        for _ in range(count):
            await _one(http, url, route, times, errors)
    return times, errors


async def _loaded(mix: list[tuple[aiohttp.ClientSession, str]], url: str, clients: int,
                  seconds: float) -> tuple[Samples, dict[str, int], float]:
    times: Samples = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    deadline = time.monotonic() + seconds

    async def client(offset: int) -> None:
        for http, route in itertools.islice(itertools.cycle(mix), offset, None):
            if time.monotonic() >= deadline:
                return
            await _one(http, url, route, times, errors)

    started = time.monotonic()
    await asyncio.gather(*(client(i % len(mix)) for i in range(clients)))
    return times, errors, time.monotonic() - started


def _table(idle: Samples, idle_errors: dict[str, int], load: Samples,
           load_errors: dict[str, int]) -> list[str]:
    rows = ["| route | idle p50 | idle p99 | loaded p50 | loaded p99 | loaded requests | errors |",
            "|---|---|---|---|---|---|---|"]
    for route in (*OPERATOR_ROUTES, *SUPERVISOR_ROUTES, BASELINE):
        a, b = [x * 1000 for x in idle[route]], [x * 1000 for x in load[route]]
        if not a or not b:
            rows.append(f"| `{route}` | — | — | — | — | {len(b)} | "
                        f"{idle_errors[route] + load_errors[route]} |")
            continue
        rows.append(f"| `{route}` | {percentile(a, 50):.1f} ms | {percentile(a, 99):.1f} ms | "
                    f"{percentile(b, 50):.1f} ms | {percentile(b, 99):.1f} ms | {len(b)} | "
                    f"{idle_errors[route] + load_errors[route]} |")
    return rows


async def run(clients: int, seconds: float, extra_agents: int, idle_count: int) -> int:
    agents = [Agent("1001", {"general": 1})] + [
        Agent(str(3000 + i), {"general": 1}, registers=True) for i in range(extra_agents)]
    stack = HotlineStack(agents=agents).start()
    try:
        stack.wait_healthy()
        add_user(stack.settings.database_url, "bench-op", "operator", agent_id="1001")
        add_user(stack.settings.database_url, "bench-sup", "supervisor")
        await paused_agents(stack, [str(3000 + i) for i in range(extra_agents)])
        url = f"http://127.0.0.1:{stack.http_port}"
        jar = aiohttp.CookieJar
        async with aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as op, \
                aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as sup, \
                aiohttp.ClientSession() as anon:
            await sign_in(op, url, "bench-op")
            await sign_in(sup, url, "bench-sup")
            mix = _mix(op, sup, anon)
            idle, idle_errors = await _idle(mix, url, idle_count)
            load, load_errors, took = await _loaded(mix, url, clients, seconds)
        total = sum(len(v) for v in load.values())
        print(f"HTTP on loopback, {1 + extra_agents} agents; idle: 1 client, {idle_count} "
              f"requests a route; loaded: {clients} clients for {took:.1f} s, "
              f"{total} answered ({total / took:.0f}/s)")
        print("\n".join(_table(idle, idle_errors, load, load_errors)))
        return 0 if not any(idle_errors.values()) and not any(load_errors.values()) else 1
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--agents", type=int, default=200, help="extra paused agents")
    parser.add_argument("--idle", type=int, default=50, help="idle requests a route")
    args = parser.parse_args()
    if not (1 <= args.clients <= 100 and 1 <= args.seconds <= 120
            and 0 <= args.agents <= 500 and 1 <= args.idle <= 500):
        parser.error("bounds: 1-100 clients, 1-120 s, 0-500 agents, 1-500 idle requests")
    return asyncio.run(run(args.clients, args.seconds, args.agents, args.idle))


if __name__ == "__main__":
    sys.exit(main())
