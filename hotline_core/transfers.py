"""Transfers to the emergency centres (紧急转接: 110 police, 119 fire, 120 ambulance,
122 traffic accidents) and calls in from them: what is stored.

A :class:`CallTransfer` row is written when an agent asks for a transfer and completed as
the centre answers, refuses or the transfer ends, so the call record keeps target, mode,
times and outcome (R-EMERG: the citizen is never dropped, and the row says what happened).
A :class:`CentreCall` row keeps the reference a centre gave for a call it passed to 12345.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline_core.db import Base


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
