"""Live queue figures (实时监控): ``GET /api/queues`` and the ``/api/live`` web socket.

The web socket pushes a fresh snapshot of the figures whenever the distributor announces a
change on Redis pub/sub (``<namespace>:events``), and forwards speech alerts
(``hotline:alerts``) and live transcripts (``hotline:transcripts``) as they come, so
wallboards and agent desktops never poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from enum import Enum
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from hotline_core.acd import Distributor
from hotline_core.acd.figures import Figures, QueueFigures
from hotline_core.workorders.access import AccessPolicy, Role
from web import keys
from web.errors import json_error
from web.workorders_requests import principal

log = logging.getLogger(__name__)
ALERTS_CHANNEL = "hotline:alerts"
TRANSCRIPTS_CHANNEL = "hotline:transcripts"


@dataclasses.dataclass(frozen=True)
class LiveServices:
    distributor: Distributor
    redis: aioredis.Redis
    access: AccessPolicy


def _services(request: web.Request) -> LiveServices:
    svc = request.app[keys.SERVICES].get("live")
    if not isinstance(svc, LiveServices):
        raise json_error(503, "live figures are not configured in this process")
    return svc


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return str(value.value).lower()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def figures_json(fig: Figures) -> dict[str, Any]:
    data = {k: _plain(v) for k, v in dataclasses.asdict(fig).items()}
    data["service_level"] = fig.service_level
    data["average_speed_of_answer"] = fig.average_speed_of_answer
    return data


def snapshot_json(snap: QueueFigures) -> dict[str, Any]:
    return {
        "at": snap.at,
        "service_level_seconds": snap.service_level_seconds,
        "lines": {k: figures_json(v) for k, v in snap.lines.items()},
        "skills": {k: figures_json(v) for k, v in snap.skills.items()},
        "agents_by_state": _plain(snap.agents_by_state),
        "agents_by_group": snap.agents_by_group,
    }


async def queues(request: web.Request) -> web.Response:
    """Live queue figures per line and skill."""
    svc = _services(request)
    principal(request, svc.access)
    return web.json_response(snapshot_json(await svc.distributor.figures()))


async def live(request: web.Request) -> web.WebSocketResponse:
    """Web socket: figures on every change, and speech alerts."""
    svc = _services(request)
    # Browsers cannot set headers on a web socket: the token may come as a query parameter.
    token = request.query.get("token")
    if token:
        who = svc.access.principal_for(token)
        if who is None:
            raise json_error(401, "unknown token")
    else:
        who = principal(request, svc.access)
    if who.role is Role.UNIT:
        raise json_error(403, "units do not see the call centre's live figures")
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    pubsub = svc.redis.pubsub()
    await pubsub.subscribe(svc.distributor.events_channel, ALERTS_CHANNEL,
                           TRANSCRIPTS_CHANNEL)
    pump = asyncio.create_task(_pump(ws, pubsub, svc))
    try:
        await ws.send_json({"type": "figures", "figures":
                            snapshot_json(await svc.distributor.figures())})
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await pubsub.aclose()
    return ws


async def _pump(ws: web.WebSocketResponse, pubsub: Any, svc: LiveServices) -> None:
    while not ws.closed:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            continue
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = message["data"]
        data = data.decode() if isinstance(data, bytes) else data
        if channel in (ALERTS_CHANNEL, TRANSCRIPTS_CHANNEL):
            try:
                payload = json.loads(data)
            except ValueError:
                payload = {"raw": data}
            kind = "alert" if channel == ALERTS_CHANNEL else "transcript"
            await ws.send_json({"type": kind, kind: payload})
        else:
            await ws.send_json({"type": "figures", "figures":
                                snapshot_json(await svc.distributor.figures())})


def register(app: web.Application) -> None:
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/live", live)
