"""Restriction list (R-RESTRICT): 30 natural days, expires by itself, hits and lifts logged."""

from __future__ import annotations

import redis.asyncio as aioredis

from hotline_core.acd.restriction import RestrictionList
from tests.acd.conftest import Clock

DAY = 86_400.0


async def test_restricted_number_is_refused_for_thirty_days_then_free(
    redis: aioredis.Redis, clock: Clock, namespace: str
) -> None:
    rl = RestrictionList(redis, namespace, clock)
    start = clock.t
    await rl.restrict("13800000001", "insulted agent 1007", by="supervisor-3")
    hit = await rl.is_restricted("13800000001")
    assert hit is not None
    assert (hit.reason, hit.by, hit.until) == ("insulted agent 1007", "supervisor-3",
                                               start + 30 * DAY)
    assert await rl.is_restricted("13800000002") is None
    clock.advance(30 * DAY - 1)
    assert await rl.is_restricted("13800000001") is not None
    clock.advance(1)  # the 30 natural days are over
    assert await rl.is_restricted("13800000001") is None
    # two hits were logged (the look-ups that found it live), not the misses
    assert [h.at for h in await rl.hits()] == [start, start + 30 * DAY - 1]


async def test_redis_drops_the_entry_itself(
    redis: aioredis.Redis, clock: Clock, namespace: str
) -> None:
    rl = RestrictionList(redis, namespace, clock)
    await rl.restrict("13800000001", "threats", by="s1", days=2)
    ttl = await redis.ttl(f"{namespace}:restrict:n:13800000001")
    assert 2 * DAY < ttl <= 3 * DAY  # expiry + one day of grace


async def test_lift_is_audited_with_who_and_why(
    redis: aioredis.Redis, clock: Clock, namespace: str
) -> None:
    rl = RestrictionList(redis, namespace, clock)
    await rl.restrict("13800000001", "harassment", by="s1", days=30)
    clock.advance(3600)
    assert await rl.lift("13800000001", by="director", reason="apologised in writing")
    assert await rl.is_restricted("13800000001") is None
    assert not await rl.lift("13800000001", by="director", reason="again")
    trail = await rl.audit()
    assert [(e.action, e.by, e.reason) for e in trail] == [
        ("restrict", "s1", "harassment"),
        ("lift", "director", "apologised in writing"),
        ("lift", "director", "again"),
    ]
    assert trail[0].until == trail[0].at + 30 * DAY
    assert trail[1].at == trail[0].at + 3600
