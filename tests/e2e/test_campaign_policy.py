"""Every number the platform dials passes the one outbound policy — shown on real Asterisk
from the three places a dial can start: the dialer (a target with a hostile number), an
agent's phone dialling out, and an API request that would originate a call (a transfer to
a centre the policy does not allow). Each is refused, logged, and nothing reaches the
carrier."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.model import (
    AttemptOutcome,
    CampaignKind,
    CampaignTarget,
    TargetState,
)
from hotline_core.campaigns.store import CampaignStore, Destination
from testkit.stack import Agent, HotlineStack
from tests.e2e.campaign_helpers import attempts, invites, sessions_of, targets, wait_for

pytestmark = pytest.mark.e2e

CAMPAIGNS = """
tick_seconds = 0.5
[kinds.satisfaction_callback]
hours = ["00:00-24:00"]
[missed_call]
enabled = false
"""
ANY_INVITE = r"INVITE to (\d+) from (\d+)"


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(
        agents=[Agent("1001", {"general": 1}, registers=True), Agent("1002", {"general": 1})],
        citizen_phone=True, campaigns=CAMPAIGNS,
        dialing='emergency_numbers = ["110", "119", "120"]').start()
    try:
        yield stack
    finally:
        stack.stop()


async def test_the_dialer_refuses_a_hostile_number(hotline: HotlineStack) -> None:
    db = sessions_of(hotline)
    store = CampaignStore(db)
    ids = [store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345", [Destination(raw)],
                         f"hostile:{i}")[0]
           for i, raw in enumerate(["13800138&PJSIP/1001", "+442079460000", "13700137000"])]
    closed = await wait_for("all three closed", lambda: _all_closed(db, ids))
    assert [t.state for t in closed] == [TargetState.REFUSED.value] * 3
    for target_id in ids:
        [attempt] = attempts(db, target_id)
        assert attempt.outcome == AttemptOutcome.REFUSED.value
        assert attempt.number == ""          # nothing the policy refused was kept to dial
    details = sorted(a.detail for a in attempts(db))
    assert details == sorted([
        "not a phone number", "not a mainland number (country code +44)",
        "this number has not called the hotline in the last 30 days (dialing.called_in_days)"])
    log = hotline.core_log()
    assert log.count("refused (called_in)") >= 3
    assert "13700137000" not in log and "442079460000" not in log     # masked
    assert invites(hotline, ANY_INVITE) == []


def _all_closed(db: sessionmaker[Session], ids: list[int]) -> list[CampaignTarget] | None:
    rows = [t for t in targets(db) if t.id in ids]
    return rows if len(rows) == len(ids) and not any(
        TargetState(t.state).open for t in rows) else None


async def test_an_agent_phone_cannot_dial_out(hotline: HotlineStack) -> None:
    password = next(p.password for p in hotline.spec.phones if p.agent.id == "1001")
    text = (hotline.sipp.work / "agent_dials_out.xml").read_text()
    (hotline.sipp.work / "agent_dials_out-403.xml").write_text(text.replace("[expect]", "403"))
    for number in ("13800138000", "0044207946000", "119"):
        argv = hotline.sipp._argv(   # noqa: SLF001 - one scenario of this test only
            "agent_dials_out-403.xml", "-s", number, "-key", "agent", "1001",
            "-au", "1001", "-ap", password, "-i", "127.0.0.2", "-p", "0",
            "-m", "1", "-l", "1", "-nostdin", "-timeout", "30s", "-timeout_error")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        # The authenticated INVITE reached the agents' context and was refused (403).
        assert proc.returncode == 0, out.decode(errors="replace")[-1500:]
    assert invites(hotline, ANY_INVITE) == []


async def test_an_api_transfer_to_a_centre_outside_the_policy_is_refused(
        hotline: HotlineStack) -> None:
    hotline.login("1002")
    citizen = asyncio.create_task(hotline.call("12345", "13800138950", talk_ms=8000))
    call = await hotline.wait_call(lambda c: c["caller"].endswith("8950") and c["answered_at"])
    # 122 is a centre the API knows, but this deployment's policy allows 110/119/120 only.
    out = await hotline.aapi("POST", f"/api/calls/{call['id']}/transfer",
                             {"target": "122", "mode": "blind"}, as_="1002")
    assert out["status"] == 403 and "outbound number policy" in out["error"], out
    # Any other number is not a target at all.
    out = await hotline.aapi("POST", f"/api/calls/{call['id']}/transfer",
                             {"target": "13800138000", "mode": "blind"}, as_="1002")
    assert out["status"] == 422 and out["field"] == "target", out
    assert "refused (emergency)" in hotline.core_log()
    assert (await citizen).ok                    # the citizen stayed with the agent
    transfers = await hotline.aapi("GET", f"/api/calls/{call['id']}/transfers")
    assert transfers == {"transfers": []}, transfers
    assert invites(hotline, ANY_INVITE) == []
