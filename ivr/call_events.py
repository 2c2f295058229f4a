"""AMI events → call records and distributor state (the event bridge).

Events are handled one at a time in arrival order (a Hangup must not overtake the
DialEnd before it). Only calls the core offered (known in LiveCalls) are acted on; calls
that went through the fallback queue are picked up later from the CDR file.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from hotline_core.acd import Distributor
from hotline_core.backoff import Backoff
from hotline_core.call_records import CallRecord
from ivr.ami import AmiClient
from ivr.dialer import call_of_leg
from ivr.dialplan import TECH
from ivr.live_calls import LiveCall, LiveCalls
from ivr.live_transcript import LiveTranscripts
from ivr.records import AsyncCallLog

log = logging.getLogger(__name__)

# Dial statuses of an agent's phone that did not take the call → the pause reason.
RING_FAILURES = {"NOANSWER": "no answer", "BUSY": "busy", "CHANUNAVAIL": "unreachable",
                 "CONGESTION": "unreachable"}


def agent_of(channel: str) -> str | None:
    """``PJSIP/1001-0000002a`` → ``1001``."""
    prefix = f"{TECH}/"
    if not channel.startswith(prefix):
        return None
    name = channel[len(prefix):]
    endpoint = name.rsplit("-", 1)[0] if "-" in name else name
    # Agent ids are digits (the agent directory enforces it); Endpoint.CARRIER is the trunk.
    return endpoint if endpoint.isdigit() else None


class CallEventBridge:
    def __init__(self, ami: AmiClient, live: LiveCalls, calls: AsyncCallLog,
                 distributor: Distributor,
                 on_ended: Callable[[CallRecord], None] | None = None,
                 live_transcripts: LiveTranscripts | None = None,
                 observers: tuple[Callable[[Any], Awaitable[None]], ...] = (),
                 owns: Callable[[LiveCall], Awaitable[bool]] | None = None,
                 leads: Callable[[], bool] | None = None) -> None:
        self._ami = ami
        # Several core instances (stack/cluster.py) all receive every AMI event: ``owns``
        # says whether this one handles a call's events (the others skip them), ``leads``
        # whether it runs the dialer, whose agent-first legs' events it alone handles.
        self._owns = owns
        self._leads = leads
        # Also given every event, after the bridge (transfers: ivr/transfer.py).
        self._observers = observers
        self._live_transcripts = live_transcripts
        self._on_ended = on_ended
        self._live = live
        self._calls = calls
        self._distributor = distributor
        self._answered: dict[str, str] = {}   # call id → agent id, while talking
        self._callback_agent: dict[str, str] = {}   # call id → agent whose callback leg is up
        self.handled = 0

    async def run(self) -> None:
        # Redis away: every event would fail the same way; say so once, not per event (the
        # CDR file completes the records of calls it made us miss).
        redis_lost = Backoff(log, "AMI event bridge (Redis)")
        while True:
            event = await self._ami.events.get()
            try:
                await self.handle(event)
                if _reads_redis_first(event):   # so Redis answered
                    redis_lost.succeeded()
            except (RedisError, TimeoutError, OSError) as exc:
                redis_lost.failed(exc)
            except Exception:  # one bad event must not stop the bridge
                log.exception("failed to handle AMI event %s", event.get("Event"))
            self.handled += 1

    async def handle(self, event: Any) -> None:
        name = event.get("Event")
        leg_of = call_of_leg(event.get("Uniqueid", ""))
        if leg_of is not None:
            if self._leads is None or self._leads():
                await self._callback_event(name, leg_of, event)
        elif name == "DialEnd":
            await self._dial_end(event)
        elif name == "Hangup":
            await self._hangup(event)
        elif name == "QueueCallerJoin":
            await self._left_for_fallback(event)
        for observer in self._observers:
            await observer(event)

    async def _dial_end(self, event: Any) -> None:
        call_id = event.get("Uniqueid", "")
        if not await self._mine(await self._live.get(call_id)):
            return
        agent = agent_of(event.get("DestChannel", ""))
        status = event.get("DialStatus", "")
        if agent is None:
            return
        if status == "ANSWER":
            self._answered[call_id] = agent
            await self._calls.answered(call_id, agent)
            await self._distributor.agent_answered(call_id, agent)
            if self._live_transcripts is not None:
                record = await self._calls.get(call_id)
                self._live_transcripts.answered(call_id, agent,
                                                record.recording if record else None)
        elif status in RING_FAILURES:
            log.info("agent %s did not take call %s (%s)", agent, call_id, status)
            await self._distributor.ring_no_answer(call_id, agent, cause=RING_FAILURES[status])

    async def _hangup(self, event: Any) -> None:
        call_id = event.get("Uniqueid", "")
        call = await self._live.get(call_id)
        if call is None or not await self._mine(call):
            return
        cause = _int(event.get("Cause"))
        if call.callback:
            # Virtual hold: the citizen hung up keeping the place; the call stays in line.
            await self._calls.ended(call_id, cause)
            return
        # The entry's removal and, for a call answered where this bridge did not see it
        # (another core, or a fallback-queue conversation the resync adopted), the
        # distributor's held call, which names the agent: one round trip (issue 14 item 3).
        # Ringing, not answered: call_ended abandons it, as abandon does.
        agent = self._answered.pop(call_id, None)
        batch = self._live.batch(self._distributor.config.redis_timeout_seconds)
        self._live.remove_in(batch, call_id)
        held = self._distributor.view.held_call_in(batch, call_id) if agent is None else None
        await batch.run()
        if held is not None and held.value is not None:
            agent = held.value.agent_id
        await self._calls.ended(call_id, cause)
        if self._live_transcripts is not None:
            self._live_transcripts.ended(call_id)
        await self._finished(call_id)
        if agent is not None:
            await self._distributor.call_ended(call_id, agent)
        else:
            await self._distributor.abandon(call_id)


    async def _mine(self, call: LiveCall | None) -> bool:
        """A call the core registered whose events this instance handles."""
        return call is not None and (self._owns is None or await self._owns(call))

    async def _finished(self, call_id: str) -> None:
        if self._on_ended is not None:
            record = await self._calls.get(call_id)
            if record is not None:
                self._on_ended(record)

    async def _left_for_fallback(self, event: Any) -> None:
        """The dialplan judged the core dead (stale heartbeat) and queued the caller in
        app_queue: stop offering the call to agents, or both would ring them."""
        call_id = event.get("Uniqueid", "")
        call = await self._live.get(call_id)
        if call is None or call.callback or not await self._mine(call):
            return
        log.warning("call %s went to the fallback queue %s; the core lets go of it",
                    call_id, event.get("Queue"))
        await self._live.remove(call_id)
        await self._distributor.abandon(call_id)

    async def _callback_event(self, name: str, call_id: str, event: Any) -> None:
        """Events of the dialer's agent-first leg (uniqueid ``cb-<call id>``)."""
        agent = agent_of(event.get("Channel", ""))
        if name == "DialBegin" and agent is not None:
            # The agent answered; the dialplan is now ringing the citizen.
            self._callback_agent[call_id] = agent
            await self._distributor.agent_answered(call_id, agent)
        elif name == "DialEnd":
            agent = self._callback_agent.get(call_id)
            status = event.get("DialStatus", "")
            if agent is not None and status == "ANSWER":
                await self._calls.callback_connected(call_id, agent)
            # Not answered: the campaign engine (ivr/campaign.py) tries again after the
            # spacing, or closes the record after its last attempt.
        elif name == "Hangup":
            up = self._callback_agent.pop(call_id, None)
            if up is not None:
                await self._live.remove(call_id)
                await self._calls.ended(call_id, _int(event.get("Cause")))
                await self._finished(call_id)
                await self._distributor.call_ended(call_id, up)
            elif agent is not None:
                # The agent's phone never answered the callback: next agent, same place.
                await self._distributor.ring_no_answer(call_id, agent, "no answer")


def _reads_redis_first(event: Any) -> bool:
    """Events of a caller's own leg that :meth:`CallEventBridge.handle` starts with a
    LiveCalls look-up."""
    return (event.get("Event") in ("DialEnd", "Hangup", "QueueCallerJoin")
            and call_of_leg(event.get("Uniqueid", "")) is None)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


