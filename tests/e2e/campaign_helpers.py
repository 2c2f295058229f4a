"""Shared by the dialer's e2e tests: a campaigns.toml for a stack, the stack's own database
read back, and the SIP messages the citizen's phone logged."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.model import Campaign, CampaignAttempt, CampaignTarget
from hotline_core.db import make_engine, make_sessionmaker
from testkit.stack import HotlineStack

T = TypeVar("T")


def sessions_of(stack: HotlineStack) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(stack.settings.database_url))


def targets(maker: sessionmaker[Session], kind: str | None = None) -> list[CampaignTarget]:
    with maker() as s:
        stmt = select(CampaignTarget).join(Campaign, Campaign.id == CampaignTarget.campaign_id)
        if kind is not None:
            stmt = stmt.where(Campaign.kind == kind)
        return list(s.scalars(stmt.order_by(CampaignTarget.id)))


def attempts(maker: sessionmaker[Session], target_id: int | None = None
             ) -> list[CampaignAttempt]:
    with maker() as s:
        stmt = select(CampaignAttempt)
        if target_id is not None:
            stmt = stmt.where(CampaignAttempt.target_id == target_id)
        return list(s.scalars(stmt.order_by(CampaignAttempt.id)))


async def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """The first truthy value of ``probe`` (read in a thread), waiting for it."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def invites(stack: HotlineStack, pattern: str = r"INVITE to (\d+) from (\d+)"
            ) -> list[tuple[str, str]]:
    """(number called, caller ID shown) of every INVITE the citizen's phone logged."""
    return re.findall(pattern, stack.phone_log("citizen"))
