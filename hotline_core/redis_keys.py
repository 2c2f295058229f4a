"""Every Redis key and pub/sub channel the hotline uses, all under one namespace.

One hotline is one namespace (``[redis] namespace`` in ``config/hotline.toml``, default
``hotline``); two hotlines sharing one Redis see none of each other's state, events, alerts
or transcripts. Producers and consumers take their names from here and nowhere else
(``tests/core/test_redis_keys.py`` scans the packages for keys built from literals).

Keys built inside Lua scripts are built from a prefix given here: the distributor's script
(``hotline_core/acd/assign.lua``) from :attr:`AcdKeys.prefix`, the speech queue's reaper
(``speech/jobs.py``) from :attr:`SpeechJobKeys.prefix`; their suffixes are the ones the
classes below name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_NAMESPACE = "hotline"

# A namespace is one key segment: no ":" (it would read as a deeper level), no spaces.
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_namespace(namespace: str) -> str | None:
    """Why ``namespace`` cannot name a hotline in Redis, or None when it can."""
    if not _NAMESPACE.fullmatch(namespace):
        return ("must be 1 to 64 letters, digits, '_', '.' or '-' "
                f"(one key segment), got {namespace!r}")
    return None


@dataclass(frozen=True)
class AcdKeys:
    """The call distributor's state (see the key list at the top of ``assign.lua``)."""

    prefix: str

    @property
    def agents(self) -> str:
        """Set of agent ids ever logged in."""
        return f"{self.prefix}:agents"

    def agent(self, agent_id: str) -> str:
        return f"{self.prefix}:a:{agent_id}"

    @property
    def calls(self) -> str:
        """Set of every call held (waiting, ringing, talking)."""
        return f"{self.prefix}:calls"

    def call(self, call_id: str) -> str:
        return f"{self.prefix}:c:{call_id}"

    @property
    def waiting(self) -> str:
        """Zset of all waiting calls by enqueue time."""
        return f"{self.prefix}:waiting"

    def ready(self, skill: str) -> str:
        """Zset of the READY agents of a skill queue (built by the script only)."""
        return f"{self.prefix}:r:{skill}"

    def queue(self, skill: str, priority: int) -> str:
        """Zset of the waiting calls of a skill queue and priority (the script only)."""
        return f"{self.prefix}:w:{skill}:{priority}"

    def priorities(self, skill: str) -> str:
        """Zset of the priorities present in a skill queue (the script only)."""
        return f"{self.prefix}:wl:{skill}"

    def first_skill_queue(self, skill: str, priority: int) -> str:
        """Zset of the waiting calls whose first skill is ``skill`` (no overflow), by
        effective priority, score place in line: a caller's rank (``place.lua``)."""
        return f"{self.prefix}:wp:{skill}:{priority}"

    def first_skill_priorities(self, skill: str) -> str:
        """Zset of the priorities present in :meth:`first_skill_queue`."""
        return f"{self.prefix}:wpl:{skill}"

    def serving(self, skill: str) -> str:
        """Set of the agents with ``skill`` neither logged out nor paused (the estimated
        wait's divisor; the script keeps it)."""
        return f"{self.prefix}:sv:{skill}"

    def logged_in(self, skill: str) -> str:
        """Set of the agents with ``skill`` logged in, paused or not (the script keeps it)."""
        return f"{self.prefix}:li:{skill}"

    @property
    def starving(self) -> str:
        """Zset of waiting calls by starvation due time (the script only)."""
        return f"{self.prefix}:starve"

    @property
    def wrap(self) -> str:
        return f"{self.prefix}:wrap"

    @property
    def overflow(self) -> str:
        return f"{self.prefix}:ovf"

    @property
    def ringing(self) -> str:
        return f"{self.prefix}:ring"

    @property
    def figure_lines(self) -> str:
        return f"{self.prefix}:flines"

    @property
    def figure_skills(self) -> str:
        return f"{self.prefix}:fskills"

    def line_figures(self, line: str) -> str:
        return f"{self.prefix}:fl:{line}"

    def skill_figures(self, skill: str) -> str:
        return f"{self.prefix}:fs:{skill}"

    def talk_times(self, skill: str) -> str:
        """Recent talk seconds of a skill (estimated wait)."""
        return f"{self.prefix}:ht:{skill}"

    @property
    def figures_day(self) -> str:
        """The call-centre day the live figures were last reset for."""
        return f"{self.prefix}:figures-day"


@dataclass(frozen=True)
class SpeechJobKeys:
    """The transcription job queue (see ``speech/jobs.py``)."""

    prefix: str

    @property
    def queue(self) -> str:
        return f"{self.prefix}:queue"

    @property
    def delayed(self) -> str:
        return f"{self.prefix}:delayed"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def failed(self) -> str:
        return f"{self.prefix}:failed"

    @property
    def events(self) -> str:
        """Pub/sub channel of job progress."""
        return f"{self.prefix}:events"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def processing(self, worker: str) -> str:
        return f"{self.prefix}:processing:{worker}"

    def alive(self, worker: str) -> str:
        return f"{self.prefix}:alive:{worker}"


@dataclass(frozen=True)
class RestrictionKeys:
    """The restriction list (``hotline_core/acd/restriction.py``)."""

    prefix: str

    def number(self, number: str) -> str:
        return f"{self.prefix}:n:{number}"

    @property
    def audit(self) -> str:
        """Stream of every restriction set or lifted."""
        return f"{self.prefix}:audit"

    @property
    def hits(self) -> str:
        """Stream of calls a restriction turned away."""
        return f"{self.prefix}:hits"


@dataclass(frozen=True)
class DialKeys:
    """The outbound number policy's rate counters (``hotline_core/dial_policy.py``)."""

    prefix: str

    def per_number(self, digits: str) -> str:
        """Sorted set: the calls to ``digits`` of the last hour (score = when)."""
        return f"{self.prefix}:n:{digits}"

    def overall(self) -> str:
        """Sorted set: every call of the last minute (score = when)."""
        return f"{self.prefix}:all"


@dataclass(frozen=True)
class SigninKeys:
    """Sign-in throttles of people (``hotline_core/signin_guard.py``)."""

    prefix: str

    def attempts(self, address: str, minute: int) -> str:
        """Counter: sign-in attempts from one client address in one clock minute."""
        return f"{self.prefix}:addr:{address}:{minute}"

    def unknown_name(self, digest: str) -> str:
        """Hash failures/locked_until of a user name that does not exist (by its digest)."""
        return f"{self.prefix}:unknown:{digest}"


@dataclass(frozen=True)
class RedisKeys:
    """The names of one hotline's keys and channels in a shared Redis."""

    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        problem = check_namespace(self.namespace)
        if problem is not None:
            raise ValueError(f"Redis namespace {problem}")

    # -- pub/sub channels ---------------------------------------------------------------
    @property
    def events(self) -> str:
        """Channel: a distribution change happened (figures changed, wake the distribution loop)."""
        return f"{self.namespace}:events"

    @property
    def alerts(self) -> str:
        """Channel: speech keyword alerts and category hints (``speech/alerts.py``)."""
        return f"{self.namespace}:alerts"

    @property
    def transcripts(self) -> str:
        """Channel: live transcript text of calls in progress (``ivr/live_transcript.py``)."""
        return f"{self.namespace}:transcripts"

    @property
    def voice_messages(self) -> str:
        """Channel: a voice message was left, or turned into an order
        (``hotline_core/voice_messages.py``)."""
        return f"{self.namespace}:voice-messages"

    @property
    def transfers(self) -> str:
        """Channel: a transfer's row changed — requested, the centre's answer, the end
        (``ivr/transfer.py``; call id, transfer id and outcome, no number)."""
        return f"{self.namespace}:transfers"

    # -- key families -------------------------------------------------------------------
    @property
    def acd(self) -> AcdKeys:
        return AcdKeys(f"{self.namespace}:acd")

    @property
    def speech(self) -> SpeechJobKeys:
        return SpeechJobKeys(f"{self.namespace}:speech")

    @property
    def restrictions(self) -> RestrictionKeys:
        return RestrictionKeys(f"{self.namespace}:restrict")

    @property
    def dialing(self) -> DialKeys:
        return DialKeys(f"{self.namespace}:dial")

    @property
    def signin(self) -> SigninKeys:
        return SigninKeys(f"{self.namespace}:signin")

    # -- single keys --------------------------------------------------------------------
    @property
    def live_calls(self) -> str:
        """Hash call id -> the Asterisk channel carrying it (``ivr/live_calls.py``)."""
        return f"{self.namespace}:live-calls"

    @property
    def core_leader(self) -> str:
        """String with an expiry: the core instance that runs the periodic jobs now
        (``hotline_core/leader.py``, ``stack/cluster.py``)."""
        return f"{self.namespace}:core:leader"

    def core_alive(self, name: str) -> str:
        """String with an expiry: core instance ``name`` is running (``hotline_core/leader.py``)."""
        return f"{self.namespace}:core:alive:{name}"

    @property
    def callers_needing_help(self) -> str:
        """Hash caller number -> reason the caller is served first
        (``hotline_core/acd/caller_flags.py``)."""
        return f"{self.namespace}:callers:needs-help"
