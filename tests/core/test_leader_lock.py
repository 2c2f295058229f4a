"""The leader lock of the core instances (hotline_core/leader.py) against a real redis-server.

* Only one holder at a time; a second ``acquire`` fails while the first holds.
* Renew and release by the holder only: another instance's renew neither extends nor takes
  the lock, its release does not remove it.
* Takeover after expiry: a holder that stops renewing (killed) loses the lock once its ttl
  has passed, and a follower's loop takes it; before that the follower never leads.
* Two running loops: at every moment sampled, at most one instance leads; a clean stop
  (``resign``) hands over without waiting for the expiry.
* A leader cut off from Redis steps down when its lease ends (a clock the test moves).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from hotline_core.leader import LeaderLock, Leadership, Presence
from hotline_core.redis_keys import RedisKeys
from hotline_core.timeouts import cancel_and_wait


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def keys() -> RedisKeys:
    return RedisKeys(f"leadertest{uuid.uuid4().hex[:8]}")


async def test_one_holder_and_renew_release_by_the_holder_only(
        redis: aioredis.Redis, keys: RedisKeys) -> None:
    a = LeaderLock(redis, keys.core_leader, "core-0", ttl=30)
    b = LeaderLock(redis, keys.core_leader, "core-1", ttl=30)
    assert await a.acquire() is True
    assert await b.acquire() is False
    assert await b.holder_now() == "core-0"

    # Shorten the lock by hand: a's renew must bring it back to 30 s, b's must not touch it.
    await redis.pexpire(keys.core_leader, 5000)
    assert await b.renew() is False
    assert 0 < await redis.pttl(keys.core_leader) <= 5000
    assert await redis.get(keys.core_leader) == b"core-0"
    assert await a.renew() is True
    assert await redis.pttl(keys.core_leader) > 5000

    assert await b.release() is False
    assert await redis.get(keys.core_leader) == b"core-0"
    assert await a.release() is True
    assert await redis.get(keys.core_leader) is None
    assert await a.renew() is False          # released: nothing left to renew
    assert await b.acquire() is True


async def test_follower_takes_over_only_after_the_dead_holders_lock_expired(
        redis: aioredis.Redis, keys: RedisKeys) -> None:
    ttl = 0.6
    dead = Leadership(LeaderLock(redis, keys.core_leader, "core-0", ttl))
    assert await dead.step() is True
    # core-0 is "killed": it renews no more and releases nothing.
    follower = Leadership(LeaderLock(redis, keys.core_leader, "core-1", ttl))
    seen_held = 0
    while not await follower.step():
        # Still core-0's: the follower tried while the lock stood.
        assert await redis.get(keys.core_leader) == b"core-0"
        seen_held += 1
        await asyncio.sleep(0.05)
    assert seen_held > 0                     # it did have to wait for the expiry
    assert await redis.get(keys.core_leader) == b"core-1"
    assert follower.is_leader and follower.terms == 1


async def test_two_running_loops_never_lead_at_once_and_resign_hands_over(
        redis: aioredis.Redis, keys: RedisKeys) -> None:
    ttl = 0.6
    loops = [Leadership(LeaderLock(redis, keys.core_leader, f"core-{i}", ttl),
                        presence=Presence(redis, keys.core_alive(f"core-{i}"), f"core-{i}",
                                          ttl))
             for i in range(2)]
    tasks = [asyncio.create_task(x.run()) for x in loops]
    try:
        leaders: list[int] = []
        for _ in range(40):                  # 2 s of samples, 6 renew rounds each
            now = [i for i, x in enumerate(loops) if x.is_leader]
            assert len(now) <= 1, now
            leaders += now
            await asyncio.sleep(0.05)
        assert leaders, "nobody became the leader"
        first = leaders[0]
        assert set(leaders) == {first}       # renewed all along: no change of leader
        assert await redis.get(keys.core_alive("core-0")) == b"core-0"
        assert await redis.get(keys.core_alive("core-1")) == b"core-1"

        # A clean stop of the leader: the other takes over well before the 0.6 s expiry
        # would have let it (its next try, every 0.2 s).
        # (Stopped as the core stops its tasks: a cancel lost in redis-py's send is repeated.)
        assert await cancel_and_wait([tasks[first]]) == set()
        await loops[first].resign()
        assert await redis.get(keys.core_alive(f"core-{first}")) is None
        other = loops[1 - first]
        await asyncio.wait_for(other.leading.wait(), 5)
        assert other.is_leader and not loops[first].is_leader
    finally:
        await cancel_and_wait(tasks)


async def test_a_leader_cut_off_from_redis_steps_down_when_its_lease_ends(
        redis: aioredis.Redis, keys: RedisKeys) -> None:
    now = [100.0]
    lock = LeaderLock(redis, keys.core_leader, "core-0", ttl=3.0)
    leader = Leadership(lock, every=1.0, clock=lambda: now[0])
    assert await leader.step() is True
    now[0] += 2.9
    assert leader.is_leader                  # inside the lease of the last renew

    async def unreachable(*_: object, **__: object) -> bool:
        raise RedisConnectionError("Redis is unreachable")

    lock.renew = unreachable  # type: ignore[method-assign]
    with pytest.raises(RedisConnectionError):
        await leader.step()
    assert leader.is_leader                  # 2.9 s: the lock may still stand in Redis
    now[0] += 0.1                            # 3.0 s after the renew was sent: lease over
    assert not leader.is_leader
    # Redis back: a stepped-down instance only *acquires* again, and its own old lock,
    # still standing in Redis (real time), is not taken twice.
    assert await leader.step() is False
    assert leader.following.is_set() and not leader.leading.is_set()


def test_settings_refuse_a_renew_interval_not_shorter_than_the_ttl(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    lock = LeaderLock(client, "x", "core-0", ttl=1.0)
    with pytest.raises(ValueError, match="shorter than the lock's ttl"):
        Leadership(lock, every=1.0)
    with pytest.raises(ValueError, match="ttl must be positive"):
        LeaderLock(client, "x", "core-0", ttl=0)
