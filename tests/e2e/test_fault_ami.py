"""The AMI connection cut mid-originate, through a real TCP proxy the test controls
(testkit/tcp_proxy.py between the core and Asterisk's AMI port), under a modest load:
two callers talking with agents, one waiting (issue 14, item 4).

The dialer places a satisfaction callback (an answered attempt runs a one-second test flow,
testkit/campaign_core.py). The proxy drops the core's AMI connection when the Originate
passes through it:

* ``before``: the Originate never reaches Asterisk. The core cannot know that (it wrote the
  action to its socket); after the reconnect it finds no channel and no CDR row for the
  attempt, writes it off as lost and dials again.
* ``after``: Asterisk gets the Originate and dials; its answer never reaches the core. The
  core finds the attempt again after the reconnect and never writes it off.

Either way the citizen's phone gets one INVITE per attempt that left the core (the rules
may retry an attempt that was hung up, never repeat one) and the target ends completed.

Meanwhile the inbound calls are untouched: the talking callers talk to the end, the waiting
caller reaches an agent, every record is complete, no agent takes two calls at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallRecord
from hotline_core.campaigns.model import AttemptOutcome, CampaignKind, TargetState
from hotline_core.campaigns.store import CampaignStore, Destination
from testkit.faults import (
    answered,
    assert_one_call_per_phone_at_a_time,
    ended,
    place,
    trace_phones,
    wait_agents,
    wait_in_line,
    wait_records,
)
from testkit.stack import Agent, HotlineStack
from testkit.tcp_proxy import TcpProxy
from tests.e2e.campaign_helpers import attempts, invites, sessions_of, targets, wait_for

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002")
ANSWERED = r"callback INVITE to (\d+) from (\d+)"
CAMPAIGNS = """
tick_seconds = 0.5
max_channels = 2
[kinds.satisfaction_callback]
hours = ["00:00-24:00"]
max_attempts = 2
retry_spacing_seconds = 2
max_channels = 2
ring_seconds = 5
[missed_call]
enabled = false
"""


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent(a, {"general": 1}) for a in AGENTS],
                         citizen_phone=True, campaigns=CAMPAIGNS,
                         core_module="testkit.campaign_core", ami_proxy=TcpProxy()).start()
    trace_phones(stack, AGENTS)
    try:
        yield stack
    finally:
        stack.stop()


def _enqueue(db: sessionmaker[Session], number: str) -> int:
    # The number policy dials only numbers that called the hotline: one call an hour ago.
    at = datetime.now(UTC) - timedelta(hours=1)
    with db() as s, s.begin():
        s.add(CallRecord(id=f"history-{number}", linkedid=f"history-{number}", line="12345",
                         caller=number, offered_at=at, answered_at=at, ended_at=at,
                         agent_id="1001", disposition="answered", route="core"))
    target_id, created = CampaignStore(db).enqueue(
        CampaignKind.SATISFACTION_CALLBACK, "12345", [Destination(number, "citizen")],
        f"test:{number}")
    assert created
    return target_id


@pytest.mark.parametrize(("cut", "number", "lost"), [
    ("before", "13940001000", True),      # never reached Asterisk: written off, dialled again
    ("after", "13940002000", False),      # reached it: found again, never written off
])
async def test_ami_cut_mid_originate_dials_once(
        hotline: HotlineStack, cut: str, number: str, lost: bool) -> None:
    proxy = hotline.ami_proxy
    assert proxy is not None
    for a in AGENTS:
        hotline.login(a)
    tag = number[3:5]
    # SIPp's talk time starts at the dialplan's Answer: the waiting caller's 40 s cover its
    # wait (until a talking call ends) and its conversation.
    talking = place(hotline, [f"139{tag}00300{i}" for i in range(2)], talk_ms=20000)
    await wait_records(hotline, talking, "answered", answered)
    waiting = place(hotline, [f"139{tag}004000"], talk_ms=40000)
    await wait_in_line(hotline, "12345", 1)
    cuts = proxy.cuts
    connections = proxy.connections

    proxy.cut_on(b"Action: Originate", cut)
    db = sessions_of(hotline)
    target_id = _enqueue(db, number)
    [target] = await wait_for("the target is done", lambda: [
        t for t in targets(db) if t.id == target_id and t.state == TargetState.DONE.value],
        timeout=120)
    assert proxy.cuts == cuts + 1                  # the fault did happen
    assert proxy.connections > connections         # and the core reconnected through it
    outcomes = [a.outcome for a in attempts(db, target.id)]
    assert (outcomes[0] == AttemptOutcome.LOST.value) is lost, outcomes
    assert outcomes[-1] == AttemptOutcome.COMPLETED.value, outcomes
    # No duplicate call: one INVITE at the citizen's phone per attempt that left the core
    # (a later attempt is a retry by the rules, e.g. after a hang-up on a loaded machine).
    placed = [o for o in outcomes if o != AttemptOutcome.LOST.value]
    assert [n for n, _ in invites(hotline, ANSWERED) if n == number] == [number] * len(placed)

    for c in talking + waiting:
        result = await c.result()
        assert result.ok, result.output[-1500:]
    records = await wait_records(hotline, talking + waiting, "answered and ended",
                                 lambda r: answered(r) and ended(r), timeout=60)
    for r in records.values():
        assert (r["disposition"], r["line"]) == ("answered", "12345"), r
        assert r["agent_id"] in AGENTS, r
    assert_one_call_per_phone_at_a_time(hotline, AGENTS, least=3)
    await wait_agents(hotline, AGENTS, "ready")
