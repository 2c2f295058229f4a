"""``/api/live``: an agent's socket carries the transcripts, alerts and transfer news of its
own calls only, supervisors' all, units' none; sockets are capped; their pub/sub connections come
from a Redis client of their own, never from the pool that serves calls.

Transcripts, alerts and transfer news are published by the real producers
(``ivr.live_transcript``, ``speech.alerts``, ``ivr.transfer.TransferNews``) on the real
redis-server, and travel through real pub/sub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import redis
import redis.asyncio as aioredis

from hotline_core.redis_keys import RedisKeys
from hotline_core.transfers import TransferOutcome
from ivr.live_transcript import LiveTranscripts
from ivr.transfer import TransferNews
from speech.alerts import publish_alerts, publish_alerts_async
from speech.engine import Word
from speech.keywords import AlertRule, KeywordLists, spot
from speech.live import LiveTranscriber
from speech.settings import SpeechSettings
from tests.security.composed import TOKENS, Composed, composed
from web.live import services as live_api

FIRE = KeywordLists(alerts=(AlertRule("fire", "119", ("着火",)),))
WAIT = 30  # seconds a socket may take to deliver one message on a loaded machine


def _heard(call_id: str, source: str) -> Any:
    """The alert the keyword spotter raises for a caller who says 着火了."""
    alerts, _ = spot(FIRE, [Word("着火", 1.0, 1.4, 0.9), Word("了", 1.4, 1.5, 0.9)],
                     call_id=call_id, leg="caller", source=source)
    assert [a.call_id for a in alerts] == [call_id]
    return alerts


@asynccontextmanager
async def _socket(app: Composed, query: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    ws = await app.client.ws_connect(f"/api/live?{query}")
    try:
        first = json.loads((await ws.receive(timeout=WAIT)).data)
        assert first["type"] == "figures"  # sent once the socket is subscribed
        yield ws
    finally:
        await ws.close()


async def _words_until_figures(ws: aiohttp.ClientWebSocketResponse) -> list[tuple[str, str]]:
    """(kind, call id) of every transcript, alert and transfer, up to the next figures
    message."""
    seen: list[tuple[str, str]] = []
    while True:
        msg = json.loads((await ws.receive(timeout=WAIT)).data)
        if msg["type"] == "figures":
            return seen
        seen.append((msg["type"], msg[msg["type"]]["call_id"]))


async def _next_word(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, str]:
    while True:
        msg = json.loads((await ws.receive(timeout=WAIT)).data)
        if msg["type"] != "figures":
            return msg["type"], msg[msg["type"]]["call_id"]


async def test_an_agent_receives_its_own_calls_only(tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 every non-unit socket received every transcript and every alert:
    agent 1001's desktop showed what agent 1002's caller said."""
    async with composed(tmp_path, redis_url) as app, AsyncExitStack() as stack:
        at = datetime(2026, 6, 8, 1, 0, tzinfo=UTC)
        for call_id, agent in (("call-A", "1001"), ("call-B", "1002"), ("call-C", "1001")):
            app.call_log.offered(call_id, line="12345", caller="13800138000", at=at)
            app.call_log.answered(call_id, agent, at)
        await app.distributor.agent_login("1002", {"general": 1})
        sockets = {who: await stack.enter_async_context(_socket(app, f"token={TOKENS[who]}"))
                   for who in ("supervisor", "1001", "1002", "dispatcher")}
        # The live transcript producer, with its CPU budget at 0 streams: for every
        # answered call it publishes "live: false" naming the call and its agent.
        transcriber = LiveTranscriber(SpeechSettings(model_dir=tmp_path, max_live_streams=0))
        stack.callback(transcriber.close)
        producer = LiveTranscripts(transcriber, app.redis, tmp_path, namespace=app.namespace)
        alerts = RedisKeys(app.namespace).alerts
        sync_redis = redis.Redis.from_url(redis_url)
        stack.callback(sync_redis.close)
        sup = sockets["supervisor"]
        # Published one after the other (the supervisor's socket confirms each):
        producer.answered("call-B", "1002", "20260608/call-B.wav")
        assert await _next_word(sup) == ("transcript", "call-B")
        producer.answered("call-A", "1001", "20260608/call-A.wav")
        assert await _next_word(sup) == ("transcript", "call-A")
        await publish_alerts_async(app.redis, _heard("call-B", "live"), alerts)
        assert await _next_word(sup) == ("alert", "call-B")
        # A batch alert after the call: no transcript named its agent, the record does.
        await asyncio.to_thread(publish_alerts, sync_redis, _heard("call-C", "batch"), alerts)
        assert await _next_word(sup) == ("alert", "call-C")
        await publish_alerts_async(app.redis, _heard("call-A", "live"), alerts)
        assert await _next_word(sup) == ("alert", "call-A")
        # 1002 transferred call-B to 120: the centre answered.
        news = TransferNews(app.redis, RedisKeys(app.namespace).transfers)
        await news.changed("call-B", 7, TransferOutcome.CONNECTED)
        assert await _next_word(sup) == ("transfer", "call-B")
        # A change of figures after all of it: each socket reads up to it.
        await app.distributor.agent_login("1001", {"general": 1})
        assert await _words_until_figures(sockets["1001"]) == [
            ("transcript", "call-A"), ("alert", "call-C"), ("alert", "call-A")]
        assert await _words_until_figures(sockets["1002"]) == [
            ("transcript", "call-B"), ("alert", "call-B"), ("transfer", "call-B")]
        assert await _words_until_figures(sockets["dispatcher"]) == []


async def test_who_may_open_whose_stream(tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 there was no per-agent stream: any operator token received every
    agent's calls, so asking for another agent's was not even needed."""
    async with composed(tmp_path, redis_url) as app:
        async def status(query: str, headers: dict[str, str] | None = None) -> int:
            resp = await app.client.get(f"/api/live?{query}", headers=headers or {})
            return resp.status

        # No token; an unknown one; a unit's.
        assert await status("") == 401
        assert await status("token=guessed") == 401
        assert await status(f"token={TOKENS['town-chengguan']}") == 403
        # Spoofed identity: agent 1001's token asking for agent 1002's stream.
        assert await status(f"token={TOKENS['1001']}&agent=1002") == 403
        assert await status("agent=1002", {"Authorization": f"Bearer {TOKENS['1001']}"}) == 403
        # Figures-only roles cannot ask for an agent's calls either.
        assert await status(f"token={TOKENS['dispatcher']}&agent=1001") == 403
        # Hostile agent ids are named, not looked up.
        for bad in ("1001%0d%0aX", "x" * 200, "%2A"):
            assert await status(f"token={TOKENS['supervisor']}&agent={bad}") == 422, bad
        # The happy paths: an agent names itself; a supervisor picks an agent.
        async with _socket(app, f"token={TOKENS['1001']}&agent=1001"):
            pass
        async with _socket(app, f"token={TOKENS['supervisor']}&agent=1002"):
            pass


async def test_sockets_are_capped_per_token_and_in_total(tmp_path: Path,
                                                         redis_url: str) -> None:
    """On main 4b97079 one token could open sockets without limit, each holding a Redis
    connection of the pool that serves calls."""
    async with composed(tmp_path, redis_url, max_sockets=3, max_sockets_per_token=2) as app:
        async with _socket(app, f"token={TOKENS['1001']}"), \
                _socket(app, f"token={TOKENS['1001']}"):
            resp = await app.client.get(f"/api/live?token={TOKENS['1001']}")
            assert resp.status == 429 and "this token" in (await resp.json())["error"]
            async with _socket(app, f"token={TOKENS['supervisor']}"):
                resp = await app.client.get(f"/api/live?token={TOKENS['1002']}")
                assert resp.status == 429 and "too many" in (await resp.json())["error"]
        await _until_closed(app.live)
        # Closed sockets give their slots back.
        async with _socket(app, f"token={TOKENS['1001']}"), \
                _socket(app, f"token={TOKENS['1002']}"):
            pass


async def _until_closed(live: live_api.LiveServices) -> None:
    # The server gives a slot back after the client's close handshake, once it has closed
    # the socket's pub/sub connection; nothing announces it, so look until it is done.
    async with asyncio.timeout(WAIT):
        while live.sockets.total:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.05)


async def _subscribed_clients(client: aioredis.Redis) -> list[tuple[str, int]]:
    info = await client.client_list()
    return sorted((c["name"], int(c["sub"])) for c in info if int(c.get("sub", 0)) > 0)


async def test_pubsub_connections_do_not_come_from_the_calls_pool(
        tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 each socket subscribed with the core's own client, taking a
    connection from the pool that serves calls for as long as the socket stayed open."""
    sockets = 3
    async with composed(tmp_path, redis_url) as app, AsyncExitStack() as stack:
        for _ in range(sockets):
            await stack.enter_async_context(_socket(app, f"token={TOKENS['supervisor']}"))
        subscribed = await _subscribed_clients(app.redis)
        # Every subscribed connection on the server is one of the live client's (five
        # channels each: events, alerts, transcripts, voice messages, transfers); none is
        # named as the calls' client.
        mine = [s for s in subscribed if s[0] == live_api.PUBSUB_CLIENT_NAME]
        assert mine == [(live_api.PUBSUB_CLIENT_NAME, 5)] * sockets
        assert all(name != "hotline-calls" for name, _ in subscribed)
