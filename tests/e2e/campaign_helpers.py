"""Shared by the dialer's e2e tests: a campaigns.toml for a stack, the stack's own database
read back, the SIP messages the citizen's phone logged, and what the order-campaign tests
(reminder calls, satisfaction callback) set up alike: the sample unit directory, the desk's
people who carry an order to its reply, the phone behind the carrier trunk."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.access import Principal, Role
from hotline_core.campaigns.model import Campaign, CampaignAttempt, CampaignTarget
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.workorders.csv_import import import_units
from stack.settings import REPO_ROOT
from testkit import processes
from testkit.stack import HotlineStack

T = TypeVar("T")

# Who takes, dispatches and handles a test order (承办单位 县交通运输局 of the sample units).
OPERATOR = Principal("1001", Role.OPERATOR)
DISPATCHER = Principal("dispatcher", Role.DISPATCHER)
TRANSPORT = Principal("transport", Role.UNIT, "dept-transport")


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


def import_sample_units(stack: HotlineStack) -> None:
    """The unit directory of config/units.sample.csv into the stack's database."""
    with sessions_of(stack).begin() as s:
        import_units(s, (REPO_ROOT / "config" / "units.sample.csv").read_text("utf-8"))


def carrier_phone(stack: HotlineStack, scenario: str, edit: dict[str, str],
                  name: str = "citizen") -> None:
    """From now on the phone behind the carrier trunk (the citizen's port) answers with
    ``scenario``, each ``edit`` (placeholder -> value) applied; its log is ``name``'s."""
    text = (stack.sipp.work / scenario).read_text()
    for old, new in edit.items():
        assert old in text, old
        text = text.replace(old, new)
    run = f"run-{scenario}"
    (stack.sipp.work / run).write_text(text)
    for old_name in {"citizen", name}:
        processes.stop(stack.phones.pop(old_name, None), grace=5)
    stack.phones[name] = stack.sipp.phone(
        name, port=stack.citizen_port, media_port=stack._media_port(), ring_ms=0,
        scenario=run, rtp_echo=False)


async def api_until(stack: HotlineStack, path: str, done: Callable[[Any], bool],
                    timeout: float) -> Any:
    """The stack's answer to GET ``path`` once ``done`` holds for it, waiting for that."""
    deadline = time.monotonic() + timeout
    answer: Any = None
    while time.monotonic() < deadline:
        answer = await stack.aapi("GET", path)
        if done(answer):
            return answer
        await asyncio.sleep(0.5)
    raise AssertionError(f"GET {path} not as expected within {timeout}s: {answer}\n"
                         f"{stack.core_log()[-3000:]}")
