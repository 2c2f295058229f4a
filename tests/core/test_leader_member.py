"""An instance that runs but cannot serve (hotline_core/leader.py, ``Leadership(member=)``),
against a real redis-server: the core whose AMI link is down hears none of its calls'
events, so it must not look alive to the others nor keep the periodic jobs.

* While ``member()`` says no, a round withdraws the presence at once (no waiting for its
  expiry) and releases the lock; the other instance takes the lead on its next round.
* Back (``member()`` yes): present again, a follower (the other keeps the lock).
* Without ``member`` (one instance, or the old behaviour) nothing changes.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from hotline_core.leader import LeaderLock, Leadership, Presence
from hotline_core.redis_keys import RedisKeys

TTL = 30.0          # long: nothing in these tests may happen by expiry


def _instance(redis: aioredis.Redis, keys: RedisKeys, name: str,
              member: list[bool] | None = None) -> Leadership:
    return Leadership(LeaderLock(redis, keys.core_leader, name, TTL), every=1.0,
                      presence=Presence(redis, keys.core_alive(name), name, TTL),
                      member=(lambda: member[0]) if member is not None else None)


async def test_a_leader_that_cannot_serve_withdraws_and_the_other_leads(
        redis: aioredis.Redis) -> None:
    keys = RedisKeys(f"membertest{uuid.uuid4().hex[:8]}")
    serving = [True]
    cut = _instance(redis, keys, "core-0", serving)
    other = _instance(redis, keys, "core-1")
    assert await cut.step() is True                  # first: it leads
    assert await other.step() is False
    assert await redis.exists(keys.core_alive("core-0")) == 1

    serving[0] = False                               # its AMI link goes down
    assert await cut.step() is False
    assert cut.is_leader is False and cut.withdrawn is True
    assert await redis.exists(keys.core_alive("core-0")) == 0    # at once, not after 30 s
    assert await redis.get(keys.core_leader) is None
    assert await other.step() is True                # the next round of the other
    assert await cut.step() is False                 # still cut: stays out
    assert await redis.exists(keys.core_alive("core-0")) == 0

    serving[0] = True                                # back on AMI
    assert await cut.step() is False                 # present again, a follower
    assert cut.withdrawn is False
    assert await redis.get(keys.core_alive("core-0")) == "core-0"
    assert await redis.get(keys.core_leader) == "core-1"
    assert await other.step() is True


async def test_a_follower_that_cannot_serve_withdraws_its_presence_only(
        redis: aioredis.Redis) -> None:
    keys = RedisKeys(f"membertest{uuid.uuid4().hex[:8]}")
    serving = [True]
    leader = _instance(redis, keys, "core-0")
    cut = _instance(redis, keys, "core-1", serving)
    assert await leader.step() is True
    assert await cut.step() is False
    serving[0] = False
    assert await cut.step() is False
    assert await redis.exists(keys.core_alive("core-1")) == 0
    assert await redis.get(keys.core_leader) == "core-0"       # the leader's lock untouched


async def test_without_member_an_instance_always_takes_part(redis: aioredis.Redis) -> None:
    keys = RedisKeys(f"membertest{uuid.uuid4().hex[:8]}")
    alone = _instance(redis, keys, "core-0")
    assert await alone.step() is True
    assert alone.withdrawn is False
    assert await redis.get(keys.core_alive("core-0")) == "core-0"
