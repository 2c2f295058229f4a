"""Publishing keyword alerts and category hints on Redis pub/sub (``<namespace>:alerts``,
``RedisKeys.alerts``: the channel is the caller's to give).

Each message is one JSON object; the dashboard web socket forwards it to the agent::

    {"type": "keyword_alert", "keyword": "着火", "topic": "fire", "line": "119",
     "call_id": "1700000000.42", "leg": "caller", "at_seconds": 12.3,
     "source": "live", "raised_at": "2026-11-22T10:00:00+00:00"}
    {"type": "category_hint", "category": "complaint", "word": "投诉", ...}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import asdict

import redis
import redis.asyncio as aioredis

from speech.keywords import CategoryHint, KeywordAlert


def alert_json(item: KeywordAlert | CategoryHint) -> str:
    data = asdict(item)
    data["raised_at"] = item.raised_at.isoformat()
    kind = "keyword_alert" if isinstance(item, KeywordAlert) else "category_hint"
    return json.dumps({"type": kind, **data}, ensure_ascii=False)


def publish_alerts(
    client: redis.Redis, items: Iterable[KeywordAlert | CategoryHint], channel: str,
) -> int:
    """Publish from a worker process (sync client); returns how many were published."""
    count = 0
    for item in items:
        client.publish(channel, alert_json(item))
        count += 1
    return count


async def publish_alerts_async(
    client: aioredis.Redis, items: Iterable[KeywordAlert | CategoryHint],
    channel: str, limit_seconds: float = 2.0,
) -> int:
    """Publish from async services (live transcript); bounded in time."""
    count = 0
    async with asyncio.timeout(limit_seconds):
        for item in items:
            await client.publish(channel, alert_json(item))
            count += 1
    return count
