"""Live queue figures (实时监控): ``GET /api/queues`` and the ``/api/live`` web socket.

The web socket pushes a fresh snapshot of the figures whenever the distributor announces a
change on Redis pub/sub (``<namespace>:events``), and forwards speech alerts
(``<namespace>:alerts``) and live transcripts (``<namespace>:transcripts``) as they come,
so the wallboard and agents' clients never poll. The channels are the distributor's
hotline's (``Distributor.names``, ``hotline_core/redis_keys.py``): a socket never sees
another hotline's sharing the same Redis.

Who receives what (the caller's words are personal data):

- a supervisor: the figures, every transcript and every alert (``?agent=<id>`` narrows
  them to one agent's calls);
- an operator (token name = agent id): the figures, and the transcripts and alerts of
  the calls that agent took; ``?agent=`` naming another agent is refused (403);
- dispatcher and callback staff: the figures only;
- a unit: nothing (403).

Operators' and supervisors' sockets also hear that the voice-message inbox changed
(``type: voice_message``: call id, line and, once converted, the order; no number).

A socket that watches one agent (the operator's own, a supervisor's ``?agent=``) also gets
the screen pop (``type: pop``) of the call that rings on that agent, once per call, checked
after every distribution change (``LiveServices.pops``, built by the desktop package).

Transfers to the emergency centres are announced as their rows change (``type: transfer``:
call id, transfer id, outcome; no number), to the same sockets as that call's alerts.

A transcript names its agent (``agent_id``, see :mod:`ivr.live_transcript`); an alert
names only its call, so its agent is the one seen on that call's transcripts or, failing
that, the one the call record names (``call_owner``).

Sockets are capped per token (per person for people signed in by cookie) and in total
(429 beyond). Their pub/sub connections come
from a Redis client of their own (:func:`pubsub_client`), never from the pool that serves
calls, so wallboards left open cannot starve call distribution of connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from typing import Any

from aiohttp import WSMsgType, web

from hotline_core.access import Principal, Role
from hotline_core.timeouts import cancel_and_wait, within
from web.api import Routes, reply
from web.errors import json_error
from web.keys import need
from web.live.schemas import LiveMessage, QueueFiguresOut
from web.live.services import LIVE, REDIS_SECONDS, CallOwner, LiveServices, PopFeed
from web.live.views import snapshot_json
from web.people import signed_in_person
from web.requests import principal

log = logging.getLogger(__name__)
OWNERS_KEPT = 2000           # call → agent entries a socket remembers
_AGENT_ID = re.compile(r"^[0-9A-Za-z_.-]{1,32}$")
MISSING = "live figures are not configured in this process"
routes = Routes(tag="live")


@routes.get("/api/queues", response=QueueFiguresOut)
async def queues(request: web.Request) -> web.Response:
    """Live queue figures per line and skill."""
    svc = need(request, LIVE, MISSING)
    principal(request, svc.access)
    return reply(QueueFiguresOut.model_validate(
        snapshot_json(await svc.distributor.view.figures())))


def _token(request: web.Request) -> str:
    # Browsers cannot set headers on a web socket: the token may come as a query parameter.
    token = request.query.get("token")
    if token:
        return token
    return request.headers.get("Authorization", "").partition(" ")[2].strip()


def _who(request: web.Request, svc: LiveServices) -> Principal:
    if request.query.get("token"):
        who = svc.access.principal_for(request.query["token"])
        if who is None:
            raise json_error(401, "unknown token")
        return who
    return principal(request, svc.access)


def _cap_key(request: web.Request, who: Principal) -> str:
    """Whose sockets a socket counts against: a bearer token's (by its sha256), or, for a
    person signed in by cookie (who sends no token), that person's user id — so two
    people never share one cap, and one person's tabs do."""
    token = _token(request)
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()
    person = signed_in_person(request)
    if person is not None:
        return f"person:{person.user_id}"
    return f"principal:{who.role.value}:{who.name}"   # not reached: no token, no person → 401


def _agent_watched(request: web.Request, who: Principal) -> str | None:
    """Whose calls' words this socket receives: an agent id, ``None`` for every agent's
    (supervisors), ``""`` for nobody's (figures only)."""
    if who.role is Role.UNIT:
        raise json_error(403, "units do not see the call centre's live figures")
    asked = request.query.get("agent")
    if asked is not None and not _AGENT_ID.match(asked):
        raise json_error(422, "agent: must be an agent id (letters, digits, . _ -; 1-32)")
    if who.role is Role.SUPERVISOR:
        return asked
    if who.role is Role.OPERATOR:
        if asked is not None and asked != who.name:
            raise json_error(403, f"agent {who.name} may not receive agent {asked}'s calls")
        return who.name
    if asked is not None:
        raise json_error(403, f"{who.role.value} receives the figures only, no agent's calls")
    return ""


@routes.get("/api/live", response=LiveMessage, status=101)
async def live(request: web.Request) -> web.WebSocketResponse:
    """Web socket: figures on every change; transcripts and alerts of the calls one may see."""
    svc = need(request, LIVE, MISSING)
    who = _who(request, svc)
    watched = _agent_watched(request, who)
    token_key = _cap_key(request, who)
    refused = svc.sockets.take(token_key, svc.max_sockets, svc.max_sockets_per_token)
    if refused is not None:
        raise json_error(429, refused)
    try:
        pops = _Pops(svc.pops, watched, svc.access.sees_full_number(who))
        return await _serve(request, svc, _Filter(watched, svc.call_owner), pops)
    finally:
        svc.sockets.give_back(token_key)


async def _serve(request: web.Request, svc: LiveServices,
                 words: _Filter, pops: _Pops) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    pubsub = svc.redis.pubsub()
    names = svc.distributor.names       # this hotline's channels only
    try:
        async with asyncio.timeout(REDIS_SECONDS):
            await pubsub.subscribe(svc.distributor.events_channel, names.alerts,
                                   names.transcripts, names.voice_messages,
                                   names.transfers)
        pump = asyncio.create_task(_pump(ws, pubsub, svc, words, pops))
        try:
            await ws.send_str(await svc.figures.message(svc.distributor.view,
                                                        time.monotonic()))
            await pops.send_new(ws)   # a page opened while the phone rings pops at once
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            await cancel_and_wait([pump])
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    return ws


class _Filter:
    """Which transcripts and alerts one socket forwards (see the module's docstring)."""

    def __init__(self, watched: str | None, call_owner: CallOwner | None) -> None:
        self.watched = watched
        self._call_owner = call_owner
        self._owners: dict[str, str | None] = {}  # call id → agent id, newest last

    def _remember(self, call_id: str, agent_id: str | None) -> None:
        self._owners[call_id] = agent_id
        if len(self._owners) > OWNERS_KEPT:
            del self._owners[next(iter(self._owners))]

    async def _owner(self, call_id: str) -> str | None:
        if call_id in self._owners:
            return self._owners[call_id]
        owner = None
        if self._call_owner is not None:
            try:
                owner = await within(self._call_owner(call_id), REDIS_SECONDS)
            except Exception:  # unknown owner: only those who see every call get it
                log.warning("live: could not tell which agent took call %s", call_id)
                return None
        self._remember(call_id, owner)
        return owner

    async def passes(self, kind: str, payload: Any) -> bool:
        if not isinstance(payload, dict):
            return self.watched is None
        call_id = str(payload.get("call_id", ""))
        if kind == "transcript":
            agent = payload.get("agent_id")
            owner = str(agent) if agent is not None else None
            if call_id:
                self._remember(call_id, owner)
        elif self.watched == "":
            return False
        else:
            owner = await self._owner(call_id) if call_id else None
        if self.watched is None:
            return True
        return self.watched != "" and owner == self.watched


async def _pump(ws: web.WebSocketResponse, pubsub: Any, svc: LiveServices,
                words: _Filter, pops: _Pops) -> None:
    names = svc.distributor.names
    while not ws.closed:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            continue
        received = time.monotonic()
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        data = message["data"]
        data = data.decode() if isinstance(data, bytes) else data
        if channel == names.voice_messages:
            # Only that the inbox changed (call id, line, order): the page reads the inbox
            # over HTTP, where the lines the agent serves are checked.
            if words.watched != "":
                await ws.send_json({"type": "voice_message",
                                    "voice_message": _voice_message(data)})
        elif channel in (names.alerts, names.transcripts, names.transfers):
            try:
                payload = json.loads(data)
            except ValueError:
                payload = {"raw": data}
            kind = {names.alerts: "alert", names.transcripts: "transcript"}.get(
                channel, "transfer")
            if await words.passes(kind, payload):
                await ws.send_json({"type": kind, kind: payload})
        else:
            # A distribution change. The pop first: an agent waits for it, and it does not
            # wait for the figures; these are one read shared by every socket this change
            # woke (LiveServices.figures), not one per socket.
            await pops.send_new(ws)
            await ws.send_str(await svc.figures.message(svc.distributor.view, received))


def _voice_message(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return {}
    return {k: payload.get(k) for k in ("call_id", "line", "order_id")}


class _Pops:
    """Screen pops of one socket: after every distribution change, the call now ringing on
    (or talking to) the socket's one agent is popped, once per call. Only a socket that
    watches one agent gets pops (an operator's own socket, a supervisor's ``?agent=``)."""

    def __init__(self, feed: PopFeed | None, watched: str | None, reveal: bool) -> None:
        self._feed = feed if watched else None
        self._agent = watched or ""
        self._reveal = reveal
        self._last: str | None = None

    async def send_new(self, ws: web.WebSocketResponse) -> None:
        if self._feed is None:
            return
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                call_id = await self._feed.current_call(self._agent)
        except Exception:  # the figures go on; the page can still fetch the pop itself
            log.warning("live: no screen pop for agent %s", self._agent, exc_info=True)
            return
        if call_id is None or call_id == self._last:
            return
        self._last = call_id   # before the next await: the pump and the opening never both send
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                pop = await self._feed.pop(call_id, self._agent, self._reveal)
        except Exception:
            log.warning("live: no screen pop for call %s", call_id, exc_info=True)
            pop = None
        if pop is None:
            self._last = None  # try again on the next change
            return
        await ws.send_json({"type": "pop", "pop": pop})


register = routes.register
