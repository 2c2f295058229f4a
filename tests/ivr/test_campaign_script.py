"""The ``campaign`` FastAGI script (ivr/campaign_flow.py) over a real FastAGI server, with a
scripted peer playing Asterisk and a migrated SQLite store: it runs a kind's flow only for
the attempt the channel itself carries — another attempt's id, a hostile parameter, an
ended attempt or an agent-first leg are hung up and no flow runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.config import KindSettings
from hotline_core.campaigns.model import (
    AttemptOutcome,
    AttemptState,
    CampaignKind,
    TargetState,
)
from hotline_core.campaigns.store import AttemptInfo, CampaignStore, Destination
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from ivr.agi import AgiSession
from ivr.campaign import attempt_leg
from ivr.campaign_flow import CampaignCall, CampaignFlow, FlowResult
from ivr.dialplan import AgiScript
from testkit.fake_asterisk import FakeAsterisk, serve


@pytest.fixture
def store(tmp_path: Path) -> CampaignStore:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    maker: sessionmaker[Session] = make_sessionmaker(make_engine(url))
    return CampaignStore(maker)


def _placed(store: CampaignStore, key: str, kind: CampaignKind = CampaignKind.REMINDER,
            agent: str | None = None) -> AttemptInfo:
    target_id, _ = store.enqueue(kind, "12345", [Destination("13800000101", "A")], key,
                                 call_id="1.1" if agent else None)
    info = store.begin_attempt(target_id, "13800000101", "A", agent, leg=attempt_leg)
    assert info is not None
    store.mark_originating(info.id)
    return info


class Recorder:
    def __init__(self) -> None:
        self.calls: list[CampaignCall] = []

    async def __call__(self, session: AgiSession, call: CampaignCall) -> FlowResult:
        self.calls.append(call)
        return FlowResult(AttemptOutcome.COMPLETED, {"confirmed": True})


def _peer(port: int, attempt: str, uniqueid: str) -> FakeAsterisk:
    return FakeAsterisk(port, script=AgiScript.CAMPAIGN.value, params={"attempt": attempt},
                        uniqueid=uniqueid, callerid="12345")


async def test_the_channels_own_attempt_runs_its_kinds_flow(store: CampaignStore) -> None:
    info = _placed(store, "reminder:1")
    flow = Recorder()
    async with serve({AgiScript.CAMPAIGN: CampaignFlow(store, {CampaignKind.REMINDER: flow})}
                     ) as server:
        result = await _peer(server.port, str(info.id), info.channel).run()
    result.assert_ok()
    [call] = flow.calls
    assert (call.attempt_id, call.role, call.number, call.line) == (
        info.id, "A", "13800000101", "12345")
    assert call.recording.endswith(f"/attempt-{info.id}.wav")
    after = store.attempt(info.id)
    assert after is not None and after.state is AttemptState.UP
    # The result is kept until the leg hangs up; then the attempt ends as the flow said.
    assert store.end_attempt(info.id, None, "hangup", KindSettings()) is TargetState.DONE
    ended = store.attempt(info.id)
    assert ended is not None and ended.state is AttemptState.ENDED


@pytest.mark.parametrize("case", ["other attempt", "hostile", "ended", "agent leg",
                                  "no flow"])
async def test_anything_else_is_hung_up_and_no_flow_runs(store: CampaignStore,
                                                         case: str) -> None:
    mine = _placed(store, "reminder:1")
    other = _placed(store, "reminder:2")
    flow = Recorder()
    flows = {CampaignKind.REMINDER: flow}
    attempt, uniqueid = str(mine.id), mine.channel
    if case == "other attempt":        # a channel asking for someone else's attempt
        attempt = str(other.id)
    elif case == "hostile":
        attempt = f"{mine.id} OR 1=1"
    elif case == "ended":
        store.end_attempt(mine.id, AttemptOutcome.NO_ANSWER, "", KindSettings())
    elif case == "agent leg":          # virtual hold legs never run an IVR flow
        agent = _placed(store, "call:1.1", CampaignKind.VIRTUAL_HOLD, agent="1001")
        attempt, uniqueid = str(agent.id), agent.channel
    elif case == "no flow":
        flows = {}
    async with serve({AgiScript.CAMPAIGN: CampaignFlow(store, flows)}) as server:
        peer = _peer(server.port, attempt, uniqueid).expect("HANGUP", "200 result=1")
        result = await peer.run()
    result.assert_ok()
    assert flow.calls == []
    for info in (mine, other):
        after = store.attempt(info.id)
        assert after is not None and after.state is not AttemptState.UP
