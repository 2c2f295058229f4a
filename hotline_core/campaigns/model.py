"""Outbound campaigns (外呼任务) as stored rows: campaigns, their targets and every attempt.

A *target* (外呼对象) is one person to reach — a citizen to call back, a unit's liaisons to
remind — with the numbers to try in order. An *attempt* is one dial, written before the
Originate leaves the core, so a dial is never made without a row and a row in flight is
found again after a restart (``ivr/campaign.py`` reconciles it from Asterisk).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline_core.clock import UtcDateTime
from hotline_core.db import Base


class CampaignKind(StrEnum):
    SATISFACTION_CALLBACK = "satisfaction_callback"   # 满意度回访
    REMINDER = "reminder"                             # 催办电话
    MISSED_CALL = "missed_call"                       # 未接来电回拨
    VIRTUAL_HOLD = "virtual_hold"                     # 虚拟排队回呼

    @property
    def agent_first(self) -> bool:
        """An agent rings first and the dialplan then dials the citizen (no IVR)."""
        return self in (CampaignKind.MISSED_CALL, CampaignKind.VIRTUAL_HOLD)


class CampaignState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"


class TargetState(StrEnum):
    PENDING = "pending"        # waits for next_at (and calling hours, and a free channel)
    QUEUED = "queued"          # agent-first: in the distributor's line, waiting for an agent
    DIALING = "dialing"        # an attempt is in flight
    DONE = "done"              # reached (the flow finished, or the citizen talked to an agent)
    WORKLIST = "worklist"      # the last attempt failed: staff call by hand (人工回访)
    REFUSED = "refused"        # the dial policy refused the number
    CANCELLED = "cancelled"    # no longer wanted (order evaluated by hand, caller called again)

    @property
    def open(self) -> bool:
        return self in (TargetState.PENDING, TargetState.QUEUED, TargetState.DIALING)


class AttemptState(StrEnum):
    CREATED = "created"            # row written, Originate not yet sent
    ORIGINATING = "originating"    # Originate sent (or may have been)
    UP = "up"                      # answered
    ENDED = "ended"


class AttemptOutcome(StrEnum):
    COMPLETED = "completed"        # answered and the flow finished (or agent and citizen talked)
    DECLINED = "declined"          # answered, the callee refused (the flow says so): not retried
    HUNG_UP = "hung_up"            # answered, but hung up before the flow finished
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"              # congestion, unreachable, the carrier refused
    REFUSED = "refused"            # the dial policy refused the number
    LOST = "lost"                  # never reached Asterisk (core died, AMI cut): not counted
    AGENT_NO_ANSWER = "agent_no_answer"   # agent-first: the agent's phone did not answer
    OUTSIDE_HOURS = "outside_hours"       # not dialled: calling hours closed meanwhile

    @property
    def retried(self) -> bool:
        """Counts as an attempt, and another may follow after the spacing."""
        return self in (AttemptOutcome.HUNG_UP, AttemptOutcome.NO_ANSWER,
                        AttemptOutcome.BUSY, AttemptOutcome.FAILED)

    @property
    def uncounted(self) -> bool:
        """Nobody was dialled (or the fault was ours): dialled again, no attempt used."""
        return self in (AttemptOutcome.LOST, AttemptOutcome.AGENT_NO_ANSWER,
                        AttemptOutcome.OUTSIDE_HOURS)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(String(20))       # its number is the caller ID shown
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.ACTIVE.value)
    standing: Mapped[bool] = mapped_column(default=False)   # the kind+line's automatic one
    max_channels: Mapped[int | None] = mapped_column(Integer)   # None: the kind's setting
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(100), default="system")

    __table_args__ = (Index("ix_campaigns_kind_line", "kind", "line"),)


class CampaignTarget(Base):
    __tablename__ = "campaign_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=TargetState.PENDING.value)
    # [{"number": "...", "role": "A"}, ...] as given; the policy decides at dial time.
    destinations: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)       # counted attempts made
    dials: Mapped[int] = mapped_column(Integer, default=0)          # attempt rows (seq)
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(32), default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("campaign_id", "key", name="uq_campaign_targets_campaign_key"),
        Index("ix_campaign_targets_state_next", "state", "next_at"),
    )


class CampaignAttempt(Base):
    __tablename__ = "campaign_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("campaign_targets.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32), default="")   # digits the policy passed
    role: Mapped[str] = mapped_column(String(16), default="")
    state: Mapped[str] = mapped_column(String(16), default=AttemptState.CREATED.value)
    outcome: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(200), default="")
    agent_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(80), default="")   # the leg's uniqueid
    recording: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    originated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("target_id", "seq", name="uq_campaign_attempts_target_seq"),
        Index("ix_campaign_attempts_state", "state"),
    )
