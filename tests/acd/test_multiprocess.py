"""Two core processes share one Redis: a call never rings at two agents, an agent never
gets two calls, every call finishes — within a time bound."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import AgentState, DistributionConfig, Distributor

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [1, 2])
async def test_two_processes_never_double_assign(
    redis: aioredis.Redis, redis_url: str, namespace: str, seed: int
) -> None:
    n_agents, n_calls = 15, 300
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.acd.stress_worker", redis_url, namespace, str(i),
            str(n_agents), str(n_calls), str(seed * 10 + i), cwd=ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(2)
    ]
    t = f"{namespace}:test"
    await redis.rpush(f"{t}:go", "1", "1")
    results = await asyncio.wait_for(
        asyncio.gather(*(p.communicate() for p in procs)), timeout=200)
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()
    assert await redis.lrange(f"{t}:violations", 0, -1) == []
    assert int(str(await redis.get(f"{t}:resolved"))) == 2 * n_calls
    # more assignments than calls: ring-no-answer calls were given to a second agent
    assert int(str(await redis.get(f"{t}:assignments"))) > 2 * n_calls
    d = Distributor(redis, DistributionConfig(), namespace=namespace)
    assert await d.view.waiting() == []
    states = {a.state for a in await d.view.agents()}
    assert states == {AgentState.READY}
    assert len(await d.view.agents()) == 2 * n_agents
