"""Which Asterisk channel carries which call, shared by every core instance through Redis.

The distributor knows calls by id; redirecting a caller to an agent needs the channel
name, which only the FastAGI request carried. Keeping it in Redis lets any core instance
act on an assignment, and lets a restarted core find its waiting callers again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

from hotline_core.redis_batch import RedisBatch, Slot
from hotline_core.redis_keys import DEFAULT_NAMESPACE, RedisKeys


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    channel: str
    line: str
    caller: str
    department: str = ""
    callback: bool = False      # the caller chose a callback (virtual hold) and hung up
    # The core instance whose AMI event bridge handles this call's events (stack/cluster.py):
    # the one that registered it; empty with one instance (every event is its own).
    owner: str = ""


# KEYS[1] = the hash, ARGV = call id, dead owner, new owner: the entry's owner changes only
# if it still is the dead one (two survivors adopting at once: one wins).
_ADOPT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local call = cjson.decode(raw)
if (call['owner'] or '') ~= ARGV[2] then return 0 end
call['owner'] = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(call))
return 1
"""


class LiveCalls:
    def __init__(self, redis: aioredis.Redis, namespace: str = DEFAULT_NAMESPACE,
                 owner: str = "") -> None:
        self._redis = redis
        self._key = RedisKeys(namespace).live_calls
        self.owner = owner          # stamped on the calls this instance registers
        self._adopt = redis.register_script(_ADOPT)

    async def add(self, call: LiveCall) -> None:
        await self._redis.hset(self._key, call.call_id, self._entry(call))

    def add_in(self, batch: RedisBatch, call: LiveCall) -> None:
        """:meth:`add`, queued on a call's arrival batch (one round trip for all)."""
        batch.pipe.hset(self._key, call.call_id, self._entry(call))
        batch.add(1, lambda replies: None)

    def batch(self, timeout: float) -> RedisBatch:
        """A batch on the Redis holding the live calls, for one call's arrival commands."""
        return RedisBatch(self._redis, timeout)

    def _entry(self, call: LiveCall) -> str:
        if not call.owner and self.owner:
            call = LiveCall(**{**asdict(call), "owner": self.owner})
        return json.dumps(asdict(call))

    async def adopt(self, call_id: str, dead: str, owner: str) -> bool:
        """Make ``owner`` the owner of a call whose owner ``dead`` has died (atomic)."""
        return bool(await self._adopt(keys=[self._key], args=[call_id, dead, owner]))

    async def get(self, call_id: str) -> LiveCall | None:
        raw = await self._redis.hget(self._key, call_id)
        return LiveCall(**json.loads(raw)) if raw else None

    async def mark_callback(self, call_id: str) -> None:
        call = await self.get(call_id)
        if call is not None:
            await self.add(LiveCall(**{**asdict(call), "callback": True}))

    async def remove(self, call_id: str) -> bool:
        return bool(await self._redis.hdel(self._key, call_id))

    def remove_in(self, batch: RedisBatch, call_id: str) -> Slot[bool]:
        """:meth:`remove`, queued on ``batch`` (a hang-up's commands in one round trip)."""
        batch.pipe.hdel(self._key, call_id)
        return batch.add(1, lambda replies: bool(replies[0]))

    async def all(self) -> list[LiveCall]:
        raw = await self._redis.hgetall(self._key)
        return [LiveCall(**json.loads(v)) for v in raw.values()]
