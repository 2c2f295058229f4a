"""Every name shared between the dialplan (``asterisk_conf/*.conf``) and the Python core.

Asterisk and the core meet on plain strings: the contexts the core sends callers to, the
FastAGI scripts the dialplan calls and the parameters in their URLs, the ``HOTLINE_*``
channel and global variables either side sets for the other, the values of
``HOTLINE_NEXT``, the SIP header the dialplan reads, the endpoint names, the CDR columns
and the values of ``CDR(hotline_route)``. They are defined here once. Python code uses these
names, never a string literal; what ``stack/asterisk.py`` generates (line extensions,
fallback queues, agents' endpoints, the CDR mapping) is built from them; the hand-written
templates keep literal names, and ``tests/ivr/test_dialplan_contract.py`` renders every
template and fails when one uses a name this module does not define, or when this module
defines one that no rendered file uses (after Wazo's ``wazo_agid/dialplan_variables.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Context(StrEnum):
    """Dialplan contexts (``[name]`` in extensions.conf)."""

    FROM_TRUNK = "from-trunk"              # the carrier endpoint's context (pjsip.conf)
    NOT_IN_SERVICE = "hotline-not-in-service"
    INBOUND = "hotline-inbound"            # answer, record, FastAGI ``inbound``
    WAIT = "hotline-wait"                  # music on hold, heartbeat check, ``waiting``
    CONNECT = "hotline-connect"            # AMI Redirect target: exten = agent id
    CALLBACK = "hotline-callback"          # AMI Originate target of the dialer
    CAMPAIGN = "hotline-campaign"          # an answered IVR campaign attempt (ivr/campaign.py)
    FROM_CENTRE = "from-centre"            # the emergency centres' trunks (pjsip.conf)
    TRANSFER = "hotline-transfer"          # AMI Redirect target: exten = 110/119/120/122
    TRANSFER_DIAL = "hotline-transfer-dial"  # dials the centre's trunk, caller ID = citizen
    TRANSFER_BACK = "hotline-transfer-back"  # centre busy/no answer: back to agent or line
    CONFERENCE = "hotline-conference"      # three-way call (三方通话): exten = the call id
    TRANSFER_HOLD = "hotline-transfer-hold"  # attended: the citizen on hold meanwhile
    AGENTS = "agents"                      # agents' phones: may dial nothing
    AGI = "hotline-agi"                    # Gosub: FastAGI on one core, the next if refused


class AgiScript(StrEnum):
    """FastAGI scripts: ``AGI(${HOTLINE_AGI}/<script>)`` ↔ the AgiServer's routes."""

    INBOUND = "inbound"
    WAITING = "waiting"
    CAMPAIGN = "campaign"    # an answered campaign attempt: the kind's flow
    TRANSFER = "transfer"    # a transfer's centre did not take the citizen: what next


class AgiParam(StrEnum):
    """URL parameters the dialplan passes to the ``inbound`` script."""

    LINE = "line"
    REC = "rec"
    LINKEDID = "linkedid"
    ATTEMPT = "attempt"      # ``campaign``: the attempt id
    STATUS = "status"        # ``transfer``: the DIALSTATUS of the centre (or agent-…)


class Next(StrEnum):
    """Values of ``HOTLINE_NEXT``: what the dialplan does after a flow. Anything else (unset:
    the core unreachable or a flow that died half-way) means the fallback queue."""

    WAIT = "wait"            # inbound: music on hold until the core rings an agent
    DONE = "done"            # hang up: the flow dealt with the caller
    FALLBACK = "fallback"    # the core cannot serve the caller: app_queue takes over


class Var(StrEnum):
    """``HOTLINE_*`` channel and global variables."""

    # Globals ([globals], from the instance's settings).
    AGI = "HOTLINE_AGI"                          # agi://127.0.0.1:<port>|… one per core
    AGI_TURN = "HOTLINE_AGI_TURN"                # global: the instance tried first last time
    SOUNDS = "HOTLINE_SOUNDS"
    RECORDINGS = "HOTLINE_RECORDINGS"
    CORE_DEAD_AFTER = "HOTLINE_CORE_DEAD_AFTER"
    RING_TIMEOUT = "HOTLINE_RING_TIMEOUT"
    ANNOUNCE_EVERY = "HOTLINE_ANNOUNCE_EVERY"
    HEARTBEAT = "HOTLINE_HEARTBEAT"              # global, written by the core (AMI Setvar)
    # Channel variables.
    LINE = "HOTLINE_LINE"                        # dialled line number (inherited)
    FALLBACK = "HOTLINE_FALLBACK"                # the line's fallback queue (inherited)
    REC = "HOTLINE_REC"                          # recording name (inherited)
    XFER_RING = "HOTLINE_XFER_RING"              # global: seconds a centre may ring
    XFER_AGENT = "HOTLINE_XFER_AGENT"            # transfer: the agent the citizen returns to
    XFER_TRUNK = "HOTLINE_XFER_TRUNK"            # transfer: the centre's endpoint
    NEXT = "HOTLINE_NEXT"                        # set by the flows: a :class:`Next` value
    WAITED = "HOTLINE_WAITED"                    # seconds on hold since the last announcement
    CALL_ID = "HOTLINE_CALL_ID"                  # callback: the citizen's original call
    CALLBACK_NUMBER = "HOTLINE_CALLBACK_NUMBER"  # callback: digits to dial
    ATTEMPT = "HOTLINE_ATTEMPT"                  # campaign attempt id (Originate variable)


# Between the core instances' addresses in ``HOTLINE_AGI`` (read with ``CUT``/``FIELDQTY``).
AGI_ADDRESS_SEPARATOR = "|"


def agi_addresses(ports: tuple[int, ...]) -> str:
    """The value of ``HOTLINE_AGI``: every core instance's FastAGI address, in order; the
    ``[hotline-agi]`` subroutine starts each call at the next one in turn
    (``HOTLINE_AGI_TURN``) and tries the one after on refusal."""
    return AGI_ADDRESS_SEPARATOR.join(f"agi://127.0.0.1:{p}" for p in ports)


def inherited(var: Var) -> str:
    """The name that makes ``Set()`` pass the variable on to every channel the call creates."""
    return f"__{var}"


class Header(StrEnum):
    """SIP headers the dialplan reads (``PJSIP_HEADER(read,…)``). None today: a header any
    caller can set decides nothing (a call from an emergency centre is known by the trunk
    it arrives on, i.e. its source address; a centre's reference header is configured per
    centre and read by the core only on that centre's calls)."""


def read_header(header: str) -> str:
    """The dialplan function that reads ``header`` (for an AGI ``GET VARIABLE``): a
    :class:`Header`, or a centre's configured reference header."""
    return f"PJSIP_HEADER(read,{header})"


class Endpoint(StrEnum):
    """PJSIP endpoints named by the dialplan and the event bridge (agents' are their ids)."""

    CARRIER = "carrier"


CENTRE_ENDPOINT_PREFIX = "centre-"


def centre_endpoint(number: str) -> str:
    """The PJSIP endpoint of an emergency centre's trunk: ``centre-119``."""
    return f"{CENTRE_ENDPOINT_PREFIX}{number}"


def centre_of_channel(channel: str) -> str | None:
    """``PJSIP/centre-119-0000002a`` → ``119`` (a call that came in on a centre's trunk)."""
    prefix = f"{TECH}/{CENTRE_ENDPOINT_PREFIX}"
    if not channel.startswith(prefix):
        return None
    number = channel[len(prefix):].split("-", 1)[0]
    return number if number.isdigit() else None


TECH = "PJSIP"   # channel technology of every endpoint: ``PJSIP/<endpoint>-<seq>``


def fallback_queue(skill: str) -> str:
    """The app_queue queue (queues.conf) that serves ``skill`` when the core is down."""
    return f"fallback-{skill}"


class CdrVar(StrEnum):
    """The hotline's own CDR fields (``Set(CDR(hotline_…)=…)``)."""

    LINE = "hotline_line"
    RECORDING = "hotline_recording"
    ROUTE = "hotline_route"


class CdrRoute(StrEnum):
    """Values of ``CDR(hotline_route)``."""

    CORE = "core"
    FALLBACK = "fallback"
    CALLBACK = "callback"
    CAMPAIGN = "campaign"
    NOT_IN_SERVICE = "not-in-service"


@dataclass(frozen=True)
class CdrColumn:
    name: str          # the key ``ivr/reconcile.py`` reads
    field: str         # ``CDR(<field>)``
    option: str = ""   # ``u``: epoch seconds


# The columns of hotline-cdr.csv, in file order (cdr_custom.conf is rendered from this).
CDR_COLUMNS: tuple[CdrColumn, ...] = (
    CdrColumn("uniqueid", "uniqueid"),
    CdrColumn("linkedid", "linkedid"),
    CdrColumn("src", "src"),
    CdrColumn("dst", "dst"),
    CdrColumn("dcontext", "dcontext"),
    CdrColumn("channel", "channel"),
    CdrColumn("dstchannel", "dstchannel"),
    CdrColumn("start", "start", "u"),
    CdrColumn("answer", "answer", "u"),
    CdrColumn("end", "end", "u"),
    CdrColumn("disposition", "disposition"),
    CdrColumn("line", CdrVar.LINE),
    CdrColumn("recording", CdrVar.RECORDING),
    CdrColumn("route", CdrVar.ROUTE),
)
CDR_FILE = "hotline-cdr.csv"   # under the instance's log/cdr-custom/


def cdr_mapping() -> str:
    """The ``cdr_custom.conf`` mapping value: every column CSV-quoted, in order."""
    def one(c: CdrColumn) -> str:
        arg = f"{c.field},{c.option}" if c.option else c.field
        return f"${{CSV_QUOTE(${{CDR({arg})}})}}"
    return ",".join(one(c) for c in CDR_COLUMNS)


# Originate's ChannelId of the dialer's agent-first leg: ``cb-<call id>`` (AMI only; the
# event bridge recognises the leg's events by it).
CALLBACK_LEG_PREFIX = "cb-"
# Originate's ChannelId of an IVR campaign attempt: ``at-<attempt id>``; an agent-first
# attempt (virtual hold, missed call) is ``cb-<attempt id>-<call id>`` (AMI and CDR only).
ATTEMPT_LEG_PREFIX = "at-"
# Originate's ChannelId of a supervisor's listen/whisper/barge leg: ``spy-<hex>`` (AMI only;
# ivr/spy.py finds a phone's spy legs by it, the event bridge ignores them).
SPY_LEG_PREFIX = "spy-"
