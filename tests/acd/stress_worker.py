"""One core process of the multi-process distribution test (run: python -m ...).

Plays Asterisk for the assignments its own Distributor makes: rings are answered and ended,
some are not answered (ring-no-answer, agent unpaused later), some callers hang up while the
phone rings. Every assignment is checked against markers in Redis set with NX, so a call
given to two agents at once, or an agent given two calls at once, is recorded as a violation.

argv: redis_url namespace process_index agents calls seed
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

import redis.asyncio as aioredis

from hotline_core.acd import CallMatch, DistributionConfig, Distributor, OverflowRule, WaitingCall

SKILLS = ("general", "12351", "12366")


async def main(url: str, ns: str, index: int, n_agents: int, n_calls: int, seed: int) -> int:
    rng = random.Random(seed)
    r = aioredis.from_url(url, socket_timeout=10, decode_responses=True)
    config = DistributionConfig(
        wrapup_seconds=0,
        overflow={"12351": OverflowRule(0.05, "general"), "12366": OverflowRule(0.05, "general")},
    )
    d = Distributor(r, config, namespace=ns)
    t = f"{ns}:test"
    held: asyncio.Queue[CallMatch] = asyncio.Queue()

    async def on_assignment(a: CallMatch) -> None:
        problems = []
        if not await r.set(f"{t}:busy:{a.agent_id}", a.call_id, nx=True):
            problems.append(f"agent {a.agent_id} given {a.call_id} while busy")
        if not await r.set(f"{t}:taken:{a.call_id}", a.agent_id, nx=True):
            problems.append(f"call {a.call_id} given to {a.agent_id} while taken")
        if await r.exists(f"{t}:gone:{a.call_id}"):
            problems.append(f"finished call {a.call_id} given to {a.agent_id}")
        for p in problems:
            await r.rpush(f"{t}:violations", p)
        await r.incr(f"{t}:assignments")
        held.put_nowait(a)

    d.on_assignment = on_assignment
    await r.blpop([f"{t}:go"], timeout=30)
    total = 2 * n_calls
    to_unpause: list[str] = []

    async def handle(a: CallMatch) -> None:
        roll = rng.random()
        if roll < 0.1:  # ring-no-answer
            await r.delete(f"{t}:busy:{a.agent_id}", f"{t}:taken:{a.call_id}")
            await d.ring_no_answer(a.call_id, a.agent_id)
            to_unpause.append(a.agent_id)
        elif roll < 0.17:  # caller hangs up while the phone rings
            await r.delete(f"{t}:busy:{a.agent_id}")
            await r.set(f"{t}:gone:{a.call_id}", "abandoned")
            await r.incr(f"{t}:resolved")
            await d.abandon(a.call_id)
        else:
            await d.agent_answered(a.call_id, a.agent_id)
            await r.delete(f"{t}:busy:{a.agent_id}")
            await r.set(f"{t}:gone:{a.call_id}", "ended")
            await r.incr(f"{t}:resolved")
            await d.call_ended(a.call_id, a.agent_id)

    agents = [f"p{index}-a{i}" for i in range(n_agents)]
    for agent in agents:
        skills = {"general": rng.randint(1, 5)}
        if rng.random() < 0.3:
            skills[rng.choice(SKILLS[1:])] = rng.randint(5, 9)
        await d.agent_login(agent, skills)
    deadline = time.monotonic() + 150  # generous: the build machine may be loaded
    next_call = 0
    tasks: set[asyncio.Task[None]] = set()
    while time.monotonic() < deadline:
        for _ in range(rng.randint(0, 4)):
            if next_call < n_calls:
                skill = rng.choice(SKILLS)
                await d.enqueue(WaitingCall(f"p{index}-c{next_call}", skill, (skill,),
                                            "1300000", priority=rng.choice((0, 0, 0, 10, 30))))
                next_call += 1
        while not held.empty():
            task = asyncio.create_task(handle(held.get_nowait()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if rng.random() < 0.3 and to_unpause:
            await d.agent_unpause(to_unpause.pop(0))
        await d.advance()
        if int(await r.get(f"{t}:resolved") or 0) >= total and not tasks:
            break
        await asyncio.sleep(0.001)  # yield to the handler tasks; this is a load loop
    else:
        print("deadline reached", file=sys.stderr)
        return 2
    for agent in to_unpause:
        await d.agent_unpause(agent)
    await r.aclose()
    return 0


if __name__ == "__main__":
    url, ns, index, n_agents, n_calls, seed = sys.argv[1:7]
    sys.exit(asyncio.run(main(url, ns, int(index), int(n_agents), int(n_calls), int(seed))))
