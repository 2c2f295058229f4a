"""Callbacks to citizens who chose virtual hold or whose call was missed (回拨), agent first.

The distributor keeps such a call in its line like a waiting caller; when it assigns the
call to an agent, the connector hands it here and the campaign engine
(:mod:`ivr.campaign`) places the attempt: a database row first, then an Originate that
rings the agent; once the agent answers, the dialplan (``hotline-callback``) dials the
citizen through the carrier trunk with the line's number as caller ID. Agent first, because
a citizen who picks up must hear a live agent at once, never a queue again; if the citizen
does not answer, the agent's time is lost, not the citizen's, and the engine tries again
after the spacing. Only numbers that called in are dialled, and only when the outbound
number policy (:mod:`hotline_core.dial_policy`) allows them: what reaches the
``HOTLINE_CALLBACK_NUMBER`` variable is the policy's national form, digits only.
"""

from __future__ import annotations

import logging
from enum import Enum

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from hotline_core.acd import CallMatch
from ivr.ami import AmiError
from ivr.campaign import CampaignEngine, Placed
from ivr.dialplan import CALLBACK_LEG_PREFIX, Context
from ivr.live_calls import LiveCall

log = logging.getLogger(__name__)

CALLBACK_CONTEXT = Context.CALLBACK


def call_of_leg(uniqueid: str) -> str | None:
    """The citizen's call of an agent-first leg (``cb-<attempt id>-<call id>``), or None."""
    if not uniqueid.startswith(CALLBACK_LEG_PREFIX):
        return None
    attempt, sep, call_id = uniqueid[len(CALLBACK_LEG_PREFIX):].partition("-")
    return call_id if sep and attempt.isdigit() and call_id else None


class Outcome(Enum):
    PLACED = "placed"
    FAILED = "failed"        # not placed: another agent may try
    REFUSED = "refused"      # the number policy refused the number: nobody may dial it


class CallbackDialer:
    def __init__(self, engine: CampaignEngine) -> None:
        self.engine = engine

    async def call_back(self, assignment: CallMatch, call: LiveCall) -> Outcome:
        placed = await self.engine.agent_free(assignment, call)
        if placed is Placed.REFUSED:
            return Outcome.REFUSED
        if placed is Placed.FAILED:
            return Outcome.FAILED
        return Outcome.PLACED     # placed, or deferred (the engine let go of the call)


async def safe_call_back(dialer: CallbackDialer, assignment: CallMatch,
                         call: LiveCall) -> Outcome:
    try:
        return await dialer.call_back(assignment, call)
    except (AmiError, SQLAlchemyError, RedisError, TimeoutError, OSError) as exc:
        # Nothing was sent (the engine ends what it began): another agent may try.
        log.warning("callback for %s not placed: %s", assignment.call_id, exc)
        return Outcome.FAILED
