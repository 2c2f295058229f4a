"""The dialer's rules (外呼规则) per campaign kind: calling hours, attempts, spacing, caps.

Read from ``config/campaigns.toml`` (setting ``[paths] campaigns_file``) into
:class:`CampaignsConfig`; a bad value stops start-up with the file, the setting and its
line (:func:`hotline_core.config_schema.load_toml`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from hotline_core.campaigns.hours import CallingHours
from hotline_core.campaigns.model import CampaignKind
from hotline_core.config_schema import ConfigModel, load_toml


class KindSettings(ConfigModel):
    """How one kind of campaign dials."""

    # Wall-clock windows in the hotline's zone ([workorders] time_zone), e.g. "09:00-12:00".
    hours: list[str] = ["09:00-12:00", "14:00-20:00"]
    max_attempts: int = Field(default=3, ge=1, le=20)
    # Pause after a whole round of destinations (A then B) before the next attempt.
    retry_spacing_seconds: int = Field(default=1800, ge=1, le=7 * 86400)
    # Outbound channels one campaign of this kind may hold at once.
    max_channels: int = Field(default=5, ge=1, le=1000)
    # How long the callee's phone rings before the attempt counts as unanswered.
    ring_seconds: int = Field(default=30, ge=5, le=120)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        CallingHours.parse(value)      # raises ValueError naming the bad window
        return value

    def calling_hours(self) -> CallingHours:
        return CallingHours.parse(self.hours)


class MissedCallSettings(ConfigModel):
    """Which abandoned calls are called back (未接来电回拨)."""

    enabled: bool = True
    # The caller waited at least this long before hanging up.
    min_wait_seconds: int = Field(default=30, ge=0, le=3600)
    # Only calls that ended this recently (older ones are left to the caller).
    lookback_hours: int = Field(default=4, ge=1, le=72)


class KindsTable(ConfigModel):
    """``[kinds.<kind>]``: one table per campaign kind; a kind left out keeps its defaults
    (a table given replaces them: unlisted keys take :class:`KindSettings`' defaults)."""

    satisfaction_callback: KindSettings = KindSettings()
    reminder: KindSettings = KindSettings(hours=["08:30-12:00", "14:00-18:00"],
                                          max_attempts=4, retry_spacing_seconds=1800)
    missed_call: KindSettings = KindSettings(hours=["08:00-21:00"], max_attempts=1)
    virtual_hold: KindSettings = KindSettings(hours=["00:00-24:00"], max_attempts=3,
                                              retry_spacing_seconds=300)


class CampaignsConfig(ConfigModel):
    """``config/campaigns.toml``."""

    # Outbound channels of every campaign together (the carrier's share for outbound).
    max_channels: int = Field(default=10, ge=1, le=10000)
    # How often the scheduler looks for due attempts.
    tick_seconds: float = Field(default=2.0, gt=0, le=60)
    kinds: KindsTable = KindsTable()
    missed_call: MissedCallSettings = MissedCallSettings()

    def kind(self, kind: CampaignKind) -> KindSettings:
        settings: KindSettings = getattr(self.kinds, kind.value)
        return settings


def load_campaigns_config(path: Path) -> CampaignsConfig:
    """The file, or the defaults when it does not exist (no campaign is configured)."""
    if not path.exists():
        return CampaignsConfig()
    return load_toml(path, CampaignsConfig, "paths.campaigns_file")
