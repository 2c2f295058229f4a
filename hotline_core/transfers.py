"""Transfers to the emergency centres (紧急转接: 110 police, 119 fire, 120 ambulance,
122 traffic accidents) and calls in from them: what is stored.

A :class:`CallTransfer` row is written when an agent asks for a transfer and completed as
the centre answers, refuses or the transfer ends, so the call record keeps target, mode,
times and outcome (R-EMERG: the citizen is never dropped, and the row says what happened).
A :class:`CentreCall` row keeps the reference a centre gave for a call it passed to 12345.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from hotline_core.config_schema import ConfigModel, parse_toml, setting_error, validate_data
from hotline_core.db import Base

# The emergency numbers (R-EMERG): the only destinations of a transfer.
EMERGENCY_NUMBERS = ("110", "119", "120", "122")
EmergencyNumber = Literal["110", "119", "120", "122"]


class TransferError(Exception):
    """A transfer request refused before anything changed on the call; ``status`` is the
    HTTP status that fits, ``field`` the request field at fault (if any)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class TransferMode(StrEnum):
    BLIND = "blind"            # 直接转接: the citizen goes to the centre
    ATTENDED = "attended"      # 咨询转接: the agent talks to the centre first
    THREE_WAY = "three-way"    # 三方通话: citizen, agent and centre together


class TransferOutcome(StrEnum):
    REQUESTED = "requested"    # asked for, the centre not reached yet
    CONSULTING = "consulting"  # attended: agent and centre talk, citizen on hold
    CONNECTED = "connected"    # the citizen talks with the centre (blind/attended/three-way)
    COMPLETED = "completed"    # the transfer ended with the citizen connected to the centre
    CANCELLED = "cancelled"    # attended: the agent cancelled, the citizen came back
    BUSY = "busy"              # the centre was busy: the citizen came back
    NO_ANSWER = "no-answer"    # the centre did not answer: the citizen came back
    FAILED = "failed"          # the centre could not be reached: the citizen came back
    REFUSED = "refused"        # refused before dialling (policy), nothing changed


class CallTransfer(Base):
    """One transfer of a call to an emergency centre (转接记录)."""

    __tablename__ = "call_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_record_id: Mapped[str] = mapped_column(String(64), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    target: Mapped[str] = mapped_column(String(8))          # 110 | 119 | 120 | 122
    mode: Mapped[str] = mapped_column(String(16))           # TransferMode
    requested_by: Mapped[str] = mapped_column(String(32))   # the agent (or supervisor)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16), default=TransferOutcome.REQUESTED.value)
    detail: Mapped[str] = mapped_column(String(200), default="")


class CentreCall(Base):
    """A call an emergency centre passed to 12345 over its own trunk (转入来电), with the
    centre's reference for the matter when its trunk sends one."""

    __tablename__ = "centre_calls"

    call_record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    centre: Mapped[str] = mapped_column(String(8))          # 110 | 119 | 120 | 122
    reference: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- configuration: the centres' trunks ------------------------------------------------------

class CentreEntry(ConfigModel):
    """One ``[[centre]]`` of ``centres.toml``: an emergency centre's trunk."""

    number: EmergencyNumber = Field(description="110, 119, 120 or 122")
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    addresses: list[str] = Field(
        min_length=1, description="source IP addresses of the centre's trunk: a call from "
        "one of them is the centre's (pjsip identify), whatever its headers say")
    uri: Annotated[str, StringConstraints(pattern=r"^sip:[0-9A-Za-z.-]+(:[0-9]{1,5})?$")] = \
        Field(description="where transfers to this centre are sent, e.g. sip:10.0.0.5:5060")
    reference_header: Annotated[str, StringConstraints(
        pattern=r"^(X-[A-Za-z0-9-]{1,60})?$")] = Field(
        "", description="the SIP header (X-…) in which the centre sends its reference for a "
        "call it passes in; empty: none")

    @field_validator("addresses")
    @classmethod
    def _ip_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return value


class CentresFile(ConfigModel):
    """``centres.toml``: the emergency centres (110/119/120/122) this hotline exchanges
    calls with (R-EMERG)."""

    line: Annotated[str, StringConstraints(pattern=r"^[0-9]{3,20}$")] = Field(
        description="the line (config/lines.toml) that calls passed in by a centre land on")
    ring_seconds: int = Field(30, ge=5, le=120,
                              description="how long a centre may ring before the citizen "
                                          "comes back")
    centre: list[CentreEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Centre:
    number: str
    name: str
    addresses: tuple[str, ...]
    uri: str
    reference_header: str = ""


@dataclass(frozen=True)
class Centres:
    """The configured centres, looked up by number (empty: transfers refused)."""

    line: str
    ring_seconds: int
    centres: tuple[Centre, ...] = ()

    def get(self, number: str) -> Centre | None:
        return next((c for c in self.centres if c.number == number), None)


def load_centres(path: Path, missing_ok: bool = False) -> Centres:
    """``missing_ok``: a missing file means no centres (every transfer refused, no trunk)."""
    if missing_ok and not path.exists():
        return Centres(line="", ring_seconds=30)
    text, data = parse_toml(path, "paths.centres_file")
    parsed = validate_data(path, text, data, CentresFile)
    seen: dict[str, int] = {}
    addresses: set[str] = set()
    for index, entry in enumerate(parsed.centre):
        if entry.number in seen:
            raise setting_error(path, text, ["centre", index, "number"],
                                f"centre {entry.number} configured twice")
        seen[entry.number] = index
        for address in entry.addresses:
            if address in addresses:
                raise setting_error(path, text, ["centre", index, "addresses"],
                                    f"{address} belongs to two centres")
            addresses.add(address)
    return Centres(line=parsed.line, ring_seconds=parsed.ring_seconds, centres=tuple(
        Centre(number=e.number, name=e.name, addresses=tuple(e.addresses), uri=e.uri,
               reference_header=e.reference_header) for e in parsed.centre))


# -- storage ---------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(UTC)


class TransferStore:
    """Transfer rows and centres' references (synchronous: call from a worker thread)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def requested(self, call_id: str, target: str, mode: TransferMode, agent: str,
                  work_order_id: int | None = None) -> int:
        with self._sessions() as s, s.begin():
            row = CallTransfer(call_record_id=call_id, work_order_id=work_order_id,
                               target=target, mode=mode.value, requested_by=agent,
                               requested_at=_now(), outcome=TransferOutcome.REQUESTED.value,
                               detail="")
            s.add(row)
            s.flush()
            return row.id

    def outcome(self, transfer_id: int, outcome: TransferOutcome, detail: str = "",
                answered: bool = False, ended: bool = False) -> None:
        """Write what happened; when the transfer ends, the work orders made from the call
        get a ``transferred`` event (and the row names the first of them)."""
        with self._sessions() as s, s.begin():
            row = s.get(CallTransfer, transfer_id)
            if row is None:
                return
            row.outcome = outcome.value
            if detail:
                row.detail = detail[:200]
            if answered and row.answered_at is None:
                row.answered_at = _now()
            if ended and row.ended_at is None:
                row.ended_at = _now()
                _order_events(s, row)

    def of_call(self, call_id: str) -> list[CallTransfer]:
        with self._sessions() as s:
            return list(s.scalars(select(CallTransfer)
                                  .where(CallTransfer.call_record_id == call_id)
                                  .order_by(CallTransfer.id)))

    def get(self, transfer_id: int) -> CallTransfer | None:
        with self._sessions() as s:
            return s.get(CallTransfer, transfer_id)

    def centre_call(self, call_id: str, centre: str, reference: str) -> None:
        with self._sessions() as s, s.begin():
            if s.get(CentreCall, call_id) is None:
                s.add(CentreCall(call_record_id=call_id, centre=centre,
                                 reference=reference[:64], received_at=_now()))

    def centre_of_call(self, call_id: str) -> CentreCall | None:
        with self._sessions() as s:
            return s.get(CentreCall, call_id)


def _order_events(session: Session, row: CallTransfer) -> None:
    # Imported here: the work-order package is large and most users of this module (the
    # configuration, the dialplan renderer) never need it.
    from hotline_core.access import Principal, Role
    from hotline_core.workorders.desk import _append
    from hotline_core.workorders.lifecycle import EventKind
    from hotline_core.workorders.model import WorkOrder

    orders = list(session.scalars(select(WorkOrder)
                                  .where(WorkOrder.call_record_id == row.call_record_id)
                                  .order_by(WorkOrder.id)))
    if orders and row.work_order_id is None:
        row.work_order_id = orders[0].id
    agent = Principal(name=row.requested_by, role=Role.OPERATOR)
    for order in orders:
        _append(session, order, EventKind.TRANSFERRED, agent, row.ended_at or _now(), {
            "transfer": row.id, "target": row.target, "mode": row.mode,
            "outcome": row.outcome, "detail": row.detail,
            "requested_at": row.requested_at.isoformat(),
            "answered_at": row.answered_at.isoformat() if row.answered_at else None,
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        })


# -- the two-way transfer list (双向转办清单) -------------------------------------------------

class OutboundCategory(ConfigModel):
    """Matters 12345 transfers to a centre at once (12345 → 110/119/120/122)."""

    category: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    target: EmergencyNumber = Field(description="the centre the matters go to")
    items: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=1)


class InboundCategory(ConfigModel):
    """Matters a centre passes to 12345 (110/119/120/122 → 12345, 非警务 / non-emergency)."""

    category: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    source: EmergencyNumber = Field(description="the centre that passes the matters on")
    items: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=1)


class TransferListFile(ConfigModel):
    """``transfer_list.toml``: which matters go from 12345 to each centre and back."""

    outbound: list[OutboundCategory] = Field(default_factory=list)
    inbound: list[InboundCategory] = Field(default_factory=list)


@dataclass(frozen=True)
class TransferList:
    outbound: tuple[OutboundCategory, ...] = ()
    inbound: tuple[InboundCategory, ...] = ()

    def target_of(self, item: str) -> str | None:
        """The centre an item of the list goes to (exact item text), or None."""
        return next((c.target for c in self.outbound if item in c.items), None)

    def targets(self) -> frozenset[str]:
        return frozenset(c.target for c in self.outbound)


def load_transfer_list(path: Path, missing_ok: bool = False) -> TransferList:
    """``missing_ok``: a missing file means an empty list."""
    if missing_ok and not path.exists():
        return TransferList()
    text, data = parse_toml(path, "paths.transfer_list_file")
    parsed = validate_data(path, text, data, TransferListFile)
    lists: tuple[tuple[str, list[list[str]]], ...] = (
        ("outbound", [c.items for c in parsed.outbound]),
        ("inbound", [c.items for c in parsed.inbound]))
    for direction, categories in lists:
        seen: set[str] = set()
        for index, items in enumerate(categories):
            for item in items:
                if item in seen:
                    raise setting_error(path, text, [direction, index, "items"],
                                        f"{item!r} is listed twice in {direction}")
                seen.add(item)
    return TransferList(tuple(parsed.outbound), tuple(parsed.inbound))
