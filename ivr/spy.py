"""Listen, whisper and barge on a live call (监听/密语/强插) with Asterisk's ChanSpy.

An AMI Originate rings the supervisor's own phone (an endpoint of the agent directory,
``PJSIP/<id>``: never a number, so the dial policy is not involved) and, once it answers,
runs ``ChanSpy`` on the agent's leg of the call. The options: ``q`` no beep or name
announcement, ``E`` end when the agent's leg hangs up, ``S`` end when there is nothing to
spy on; ``w`` whisper (the supervisor talks to the agent only), ``B`` barge (to both).

Spy legs carry the ChannelId ``spy-<hex>`` (:data:`ivr.dialplan.SPY_LEG_PREFIX`): the event
bridge does not take them for calls, and stopping finds a phone's spy legs in
``CoreShowChannels`` without any state in the core (a restarted core can still stop them).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from hotline_core.spy import SpyMode, SpyRefused, SpyUnavailable
from ivr.ami import AmiClient, AmiError
from ivr.call_events import agent_of
from ivr.dialplan import SPY_LEG_PREFIX, TECH
from ivr.live_calls import LiveCalls

log = logging.getLogger(__name__)

CHANSPY = "ChanSpy"
CHANSPY_OPTIONS: dict[SpyMode, str] = {
    SpyMode.LISTEN: "qES",
    SpyMode.WHISPER: "qESw",
    SpyMode.BARGE: "qESB",
}
RING_SECONDS = 30          # how long the supervisor's phone may ring
AMI_SECONDS = 10.0
_UP = "6"                  # AST_STATE_UP in CoreShowChannel's ChannelState


def spy_data(agent_channel: str, mode: SpyMode) -> str:
    """ChanSpy's arguments: the agent's channel (a full name, so only that leg matches)
    and the mode's options."""
    return f"{agent_channel},{CHANSPY_OPTIONS[mode]}"


class ChanSpy:
    """Starts and stops supervisors' spy legs through AMI."""

    def __init__(self, ami: AmiClient, live: LiveCalls) -> None:
        self._ami = ami
        self._live = live

    async def _channels(self) -> list[Any]:
        try:
            replies = await self._ami.action({"Action": "CoreShowChannels"}, as_list=True,
                                             timeout=AMI_SECONDS)
        except AmiError as exc:
            raise SpyUnavailable(f"telephony not reachable: {exc}") from exc
        return [r for r in replies if r.get("Event") == "CoreShowChannel"]

    async def agent_leg(self, call_id: str, agent_id: str) -> str:
        """The agent's channel on the call, answered; else :class:`SpyRefused`."""
        call = await self._live.get(call_id)
        if call is None:
            raise SpyRefused(f"call {call_id} is not live")
        rows = await self._channels()
        caller = next((r for r in rows if r.get("Channel") == call.channel), None)
        if caller is None:
            raise SpyRefused(f"call {call_id} is not live")
        linkedid = caller.get("Linkedid") or call_id
        for r in rows:
            if (agent_of(r.get("Channel", "")) == agent_id and r.get("Linkedid") == linkedid
                    and r.get("ChannelState") == _UP):
                return str(r["Channel"])
        raise SpyRefused(f"agent {agent_id} is not talking on call {call_id}")

    async def start(self, call_id: str, agent_id: str, phone: str, mode: SpyMode) -> str:
        """Ring ``phone`` and spy on ``agent_id``'s leg of ``call_id``; returns the spy
        leg's id. An earlier spy leg of the same phone is hung up first (changing mode)."""
        if phone == agent_id:
            raise SpyRefused("the supervisor's phone is the agent's own phone")
        agent_channel = await self.agent_leg(call_id, agent_id)
        await self.stop(phone)
        leg = f"{SPY_LEG_PREFIX}{secrets.token_hex(8)}"
        try:
            await self._ami.action({
                "Action": "Originate", "Channel": f"{TECH}/{phone}",
                "Application": CHANSPY, "Data": spy_data(agent_channel, mode),
                "Timeout": str(RING_SECONDS * 1000), "CallerID": f'"{mode.value}" <{agent_id}>',
                "ChannelId": leg, "Async": "true",
            }, timeout=AMI_SECONDS)
        except AmiError as exc:
            raise SpyUnavailable(f"could not ring phone {phone}: {exc}") from exc
        log.info("phone %s spies on %s (call %s, %s), leg %s", phone, agent_channel, call_id,
                 mode.value, leg)
        return leg

    async def stop(self, phone: str) -> int:
        """Hang up every spy leg of ``phone``; returns how many there were."""
        legs = [str(r["Channel"]) for r in await self._channels()
                if agent_of(r.get("Channel", "")) == phone
                and str(r.get("Uniqueid", "")).startswith(SPY_LEG_PREFIX)]
        for channel in legs:
            try:
                await self._ami.action({"Action": "Hangup", "Channel": channel},
                                       timeout=AMI_SECONDS)
            except AmiError as exc:
                if "No such channel" not in str(exc):
                    raise SpyUnavailable(f"could not hang up {channel}: {exc}") from exc
        return len(legs)
