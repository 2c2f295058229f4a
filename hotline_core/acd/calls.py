"""Calls in the waiting line (排队) and the matches (call → agent) the distributor makes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WaitingCall:
    """A caller waiting for an agent (排队来电).

    ``skills``: the agent must have every one (the first is the skill queue the call waits in
    and whose strategy and overflow rule apply). ``line``: the number dialled, by its line
    name (12345, 12351 ...). ``department``: set for dual-number department lines (双号并行).
    ``enqueued_at``: 0 means "now" (the distributor's clock). ``callback``: virtual hold
    (虚拟排队/回呼) was requested — the caller is no longer on the line.
    """

    call_id: str
    line: str
    skills: tuple[str, ...]
    caller: str
    priority: int = 0
    enqueued_at: float = 0.0
    department: str = ""
    callback: bool = False
    effective_priority: int = 0  # priority after the starvation bound (read-only, from Redis)


@dataclass(frozen=True)
class CallMatch:
    """The distributor's decision (话务分配): ring ``agent_id`` for ``call_id``.

    Not to be confused with a work order's assignment to a unit (派单): this one pairs a
    waiting call with an agent.

    ``callback=True`` (virtual hold): the caller has hung up and kept their place; the dialer
    calls the AGENT first and, once the agent has answered, the caller — so a citizen who
    picks up always has a live agent on the line and is never put back into a queue; if the
    caller cannot be reached the agent's time is lost, not the citizen's.
    """

    call_id: str
    agent_id: str
    line: str
    caller: str
    department: str = ""
    callback: bool = False
    priority: int = 0


@dataclass(frozen=True)
class LiveChannel:
    """One call as Asterisk reports it now (for :meth:`Distributor.rebuild`).

    ``agent_id`` set and ``answered``: the agent is talking to the caller; ``agent_id`` set
    and not answered: the agent's phone is ringing; no ``agent_id``: the caller is waiting.
    """

    call_id: str
    line: str
    caller: str
    skills: tuple[str, ...] = ()
    agent_id: str | None = None
    answered: bool = False
    waiting_since: float = 0.0
    priority: int = 0
    department: str = ""
