"""Rebuild the distributor's picture from Asterisk's channels after an AMI (re)connection
or a core restart, so no agent stays stuck ringing or talking and no caller is forgotten.

Asterisk is the truth for who is on the line: a caller channel the core registered
(LiveCalls) is waiting, ringing an agent or talking, depending on the agent leg that shares
its linkedid. Virtual-hold callers have no channel but keep their place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hotline_core.acd import Distributor, LiveChannel
from hotline_core.backoff import Backoff
from hotline_core.call_records import Disposition
from hotline_core.lines import LinePlan
from hotline_core.timeouts import within
from ivr.ami import AmiClient, AmiError
from ivr.call_events import agent_of
from ivr.dialplan import Context, Var
from ivr.live_calls import LiveCall, LiveCalls
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)

# A caller in these contexts with no agent leg is with an emergency centre (ivr/transfer.py):
# not waiting, so never put back in line, and still ours (its hang-up is recorded).
WITH_CENTRE = frozenset({Context.TRANSFER, Context.TRANSFER_DIAL, Context.TRANSFER_HOLD,
                         Context.CONFERENCE})


async def channel_snapshot(ami: AmiClient) -> list[dict[str, str]]:
    replies = await ami.action({"Action": "CoreShowChannels"}, as_list=True, timeout=10)
    return [dict(r) for r in replies if r.get("Event") == "CoreShowChannel"]


def live_channels(channels: list[dict[str, str]], known: dict[str, Any],
                  lines: LinePlan) -> list[LiveChannel]:
    """Asterisk's channels + the calls the core registered → the distributor's view."""
    agent_legs: dict[str, tuple[str, bool]] = {}
    for ch in channels:
        agent = agent_of(ch.get("Channel", ""))
        if agent and ch.get("Linkedid"):
            up = ch.get("ChannelStateDesc") == "Up"
            agent_legs[ch["Linkedid"]] = (agent, up)
    # Callers app_queue holds (the core was judged dead) belong to the fallback now.
    present = {ch.get("Uniqueid", "") for ch in channels if ch.get("Application") != "Queue"}
    out = []
    for call_id, call in known.items():
        if call_id not in present and not call.callback:
            continue   # gone while we were not listening; the CDR reconciliation records it
        line = lines.by_number(call.line)
        agent, answered = agent_legs.get(call_id, (None, False))
        if agent is None and call_id in with_centre(channels):
            continue
        out.append(LiveChannel(call_id=call_id, line=call.line, caller=call.caller,
                               skills=line.skills if line else (), agent_id=agent,
                               answered=answered, department=call.department))
    return out


# A caller channel in these contexts is an inbound call (the core's or the fallback's).
INBOUND_CONTEXTS = frozenset({Context.INBOUND, Context.WAIT, Context.CONNECT})


def fallback_talks(channels: list[dict[str, str]],
                   snapshot: list[LiveChannel]) -> dict[str, tuple[str, bool, str, str]]:
    """Agents on an inbound call the core does not hold: app_queue's (the fallback took
    the caller while the core or Redis was away) → {caller's uniqueid: (agent, answered,
    caller's channel, caller number)}. The distributor must count them busy, or it would
    ring a phone that is on a call."""
    held = {c.call_id for c in snapshot}
    callers = {ch.get("Uniqueid", ""): ch for ch in channels if not agent_of(ch.get("Channel", ""))}
    out: dict[str, tuple[str, bool, str, str]] = {}
    for ch in channels:
        agent, linked = agent_of(ch.get("Channel", "")), ch.get("Linkedid", "")
        caller = callers.get(linked)
        if agent is None or linked in held or caller is None:
            continue
        if caller.get("Application") != "Queue" and caller.get("Context") not in INBOUND_CONTEXTS:
            continue
        out[linked] = (agent, ch.get("ChannelStateDesc") == "Up", caller.get("Channel", ""),
                       caller.get("CallerIDNum", ""))
    return out


async def adopt_fallback_talks(ami: AmiClient, live: LiveCalls, lines: LinePlan,
                               talks: dict[str, tuple[str, bool, str, str]]
                               ) -> list[LiveChannel]:
    """The fallback's conversations as calls the distributor holds (the agent busy until
    the caller hangs up: the hang-up reaches the event bridge through LiveCalls)."""
    out = []
    for call_id, (agent, up, channel, caller) in talks.items():
        try:
            reply = await ami.action({"Action": "Getvar", "Channel": channel,
                                      "Variable": Var.LINE}, timeout=5)
            number = str(reply.get("Value", "") or "")
        except AmiError:
            continue        # gone meanwhile
        line = lines.by_number(number)
        await live.add(LiveCall(call_id=call_id, channel=channel, line=number, caller=caller))
        out.append(LiveChannel(call_id=call_id, line=number, caller=caller,
                               skills=line.skills if line else (), agent_id=agent,
                               answered=up))
        log.warning("resync: agent %s talks with %s, a call the fallback queue connected; "
                    "held as busy until it ends", agent, call_id)
    return out


def with_centre(channels: list[dict[str, str]]) -> set[str]:
    """Callers Asterisk shows in a transfer's contexts (with or ringing a centre)."""
    return {ch.get("Uniqueid", "") for ch in channels if ch.get("Context") in WITH_CENTRE}


# The reason on the record of a call that ended while the core was not listening.
GONE_REASON = "ended while the core was not connected to Asterisk (restart or AMI down)"


async def resync(ami: AmiClient, live: LiveCalls, distributor: Distributor,
                 lines: LinePlan, calls: AsyncCallLog | None = None) -> int:
    """``calls``: the records of calls that ended unseen (no channel any more; Asterisk
    restarted or crashed) are closed with :data:`GONE_REASON`; the CDR file completes them
    later where Asterisk wrote one."""
    channels = await channel_snapshot(ami)
    known = {c.call_id: c for c in await live.all()}
    snapshot = live_channels(channels, known, lines)
    anywhere = {ch.get("Uniqueid", "") for ch in channels}
    for call_id in set(known) - {c.call_id for c in snapshot} - with_centre(channels):
        await live.remove(call_id)
        if calls is not None and call_id not in anywhere and not known[call_id].callback:
            await _close_gone(calls, call_id)
    snapshot += await adopt_fallback_talks(ami, live, lines, fallback_talks(channels, snapshot))
    assignments = await distributor.rebuild(snapshot)
    log.info("resync: %d call(s) on the line, %d assignment(s) made", len(snapshot),
             len(assignments))
    return len(snapshot)


async def watch_redis(redis: Redis, on_back: Callable[[], Awaitable[object]],
                      every: float = 1.0) -> None:
    """Re-sync when Redis comes back (Redis 重连后重新同步).

    While Redis is away the AMI events of the calls that end (an agent's hang-up, a caller
    leaving) cannot reach the distributor, so its agents would stay "on call" for good.
    Every ``every`` seconds Redis is asked for its ``run_id``; after a failed check, or when
    the ``run_id`` changed (restarted between two checks), ``on_back`` runs (the resync
    from Asterisk's channels). A failed ``on_back`` is tried again at the next check; the
    outage is logged once when it starts and once when it ends (:class:`Backoff`).
    """
    outage = Backoff(log, "Redis watch", first=every, cap=max(every, 5.0))
    known = ""
    behind = False           # an outage (or a failed re-sync) not yet followed by a re-sync
    while True:
        try:
            info = await within(redis.info("server"), every + 2.0)
            run_id = str(info.get("run_id", ""))
            if behind or (known and run_id != known):
                behind = True
                await on_back()
                log.info("Redis back (run_id %s): re-synced from Asterisk's channels",
                         run_id[:8])
            known, behind = run_id, False
            outage.succeeded()
            await asyncio.sleep(every)
        except (RedisError, OSError, TimeoutError, AmiError) as exc:
            behind = True
            await asyncio.sleep(outage.failed(exc))


async def _close_gone(calls: AsyncCallLog, call_id: str) -> None:
    record = await calls.get(call_id)
    if record is None or record.ended_at is not None:
        return
    answered = record.answered_at is not None
    await calls.closed(call_id, Disposition.ANSWERED if answered else Disposition.ABANDONED,
                       GONE_REASON)
