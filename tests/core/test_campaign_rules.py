"""The dialer's rules without telephony (migrated SQLite, the store the engine uses):
destinations tried in order with the spacing after a whole round, the worklist after the
last attempt, what is not counted, one attempt in flight per target, an attempt ended once;
calling hours; the configuration file's errors name the setting and its line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallRecord
from hotline_core.campaigns.config import KindSettings, MissedCallSettings, load_campaigns_config
from hotline_core.campaigns.hours import CallingHours
from hotline_core.campaigns.missed import missed_calls, missed_key
from hotline_core.campaigns.model import AttemptOutcome, CampaignKind, TargetState
from hotline_core.campaigns.store import CampaignStore, Destination, enqueue_in
from hotline_core.config_errors import ConfigError
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)      # 10:00 in Shanghai


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def maker(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    return make_sessionmaker(make_engine(url))


def _dial(store: CampaignStore, target_id: int, outcome: AttemptOutcome,
          rules: KindSettings) -> tuple[str, TargetState | None]:
    [due] = [t for t in store.due(store._clock(), 10, list(CampaignKind))  # noqa: SLF001
             if t.id == target_id]
    info = store.begin_attempt(target_id, due.destination.number, due.destination.role)
    assert info is not None
    return due.destination.role, store.end_attempt(info.id, outcome, "", rules)


def test_a_then_b_at_once_then_the_spacing_then_the_worklist(
        maker: sessionmaker[Session]) -> None:
    clock = Clock()
    store = CampaignStore(maker, clock=clock)
    rules = KindSettings(max_attempts=4, retry_spacing_seconds=1800)
    target_id, created = store.enqueue(
        CampaignKind.REMINDER, "12345",
        [Destination("13800000101", "A"), Destination("13800000102", "B")], "reminder:9")
    assert created
    assert store.enqueue(CampaignKind.REMINDER, "12345", [Destination("1", "A")],
                         "reminder:9") == (target_id, False)          # same key: same target
    seen = [_dial(store, target_id, AttemptOutcome.NO_ANSWER, rules)]   # A
    seen.append(_dial(store, target_id, AttemptOutcome.BUSY, rules))    # B, at once
    # A whole round unanswered: nothing is due until the spacing has passed.
    assert store.due(clock(), 10, [CampaignKind.REMINDER]) == []
    clock.now += timedelta(seconds=1799)
    assert store.due(clock(), 10, [CampaignKind.REMINDER]) == []
    clock.now += timedelta(seconds=1)
    seen.append(_dial(store, target_id, AttemptOutcome.NO_ANSWER, rules))   # A again
    seen.append(_dial(store, target_id, AttemptOutcome.NO_ANSWER, rules))   # B: the 4th
    assert seen == [("A", TargetState.PENDING), ("B", TargetState.PENDING),
                    ("A", TargetState.PENDING), ("B", TargetState.WORKLIST)]
    assert store.due(clock() + timedelta(days=1), 10, [CampaignKind.REMINDER]) == []


def test_lost_and_agent_no_answer_use_no_attempt(maker: sessionmaker[Session]) -> None:
    clock = Clock()
    store = CampaignStore(maker, clock=clock)
    rules = KindSettings(max_attempts=1)
    ivr, _ = store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345",
                           [Destination("13800138000")], "order:1:round:1")
    assert _dial(store, ivr, AttemptOutcome.LOST, rules)[1] is TargetState.PENDING
    clock.now += timedelta(seconds=10)       # a lost dial is tried again 10 s later
    assert _dial(store, ivr, AttemptOutcome.COMPLETED, rules)[1] is TargetState.DONE
    held, _ = store.enqueue(CampaignKind.VIRTUAL_HOLD, "12345", [Destination("13800138001")],
                            "call:1.1", call_id="1.1")
    info = store.begin_attempt(held, "13800138001", "citizen", agent_id="1001")
    assert info is not None
    # The agent's phone did not answer: back in the distributor's line, no attempt used.
    assert store.end_attempt(info.id, AttemptOutcome.AGENT_NO_ANSWER, "", rules) \
        is TargetState.QUEUED
    info = store.begin_attempt(held, "13800138001", "citizen", agent_id="1002")
    assert info is not None and info.seq == 2
    assert store.end_attempt(info.id, AttemptOutcome.NO_ANSWER, "", rules) \
        is TargetState.WORKLIST


def test_one_attempt_in_flight_and_an_attempt_ends_once(
        maker: sessionmaker[Session]) -> None:
    store = CampaignStore(maker, clock=Clock())
    rules = KindSettings(max_attempts=3)
    target_id, _ = store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345",
                                 [Destination("13800138000")], "order:2:round:1")
    first = store.begin_attempt(target_id, "13800138000", "citizen")
    assert first is not None
    assert store.begin_attempt(target_id, "13800138000", "citizen") is None
    assert store.in_flight() == (1, {first.campaign_id: 1})
    assert store.end_attempt(first.id, AttemptOutcome.NO_ANSWER, "", rules) \
        is TargetState.PENDING
    assert store.end_attempt(first.id, AttemptOutcome.COMPLETED, "", rules) is None
    assert store.in_flight() == (0, {})
    # A refused number with no other destination ends the target at once.
    refused, _ = store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345",
                               [Destination("+442079460000")], "order:3:round:1")
    info = store.begin_attempt(refused, "", "citizen")
    assert info is not None
    assert store.end_attempt(info.id, AttemptOutcome.REFUSED, "not mainland", rules) \
        is TargetState.REFUSED


def test_a_flow_that_did_not_finish_is_retried(maker: sessionmaker[Session]) -> None:
    store = CampaignStore(maker, clock=Clock())
    rules = KindSettings(max_attempts=2)
    target_id, _ = store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345",
                                 [Destination("13800138000")], "order:4:round:1")
    info = store.begin_attempt(target_id, "13800138000", "citizen")
    assert info is not None
    store.mark_up(info.id)
    store.flow_result(info.id, AttemptOutcome.COMPLETED, {"rating": None}, finished=False)
    # The leg hangs up: the flow's word (not finished → hung_up) decides, retried.
    assert store.end_attempt(info.id, None, "hangup", rules) is TargetState.PENDING


@pytest.mark.parametrize(("windows", "at_local", "opens_local"), [
    (["09:00-12:00", "14:00-20:00"], "2026-11-30 10:00", "2026-11-30 10:00"),
    (["09:00-12:00", "14:00-20:00"], "2026-11-30 12:00", "2026-11-30 14:00"),
    (["09:00-12:00", "14:00-20:00"], "2026-11-30 20:00", "2026-12-01 09:00"),
    (["09:00-12:00", "14:00-20:00"], "2026-11-30 08:59", "2026-11-30 09:00"),
    (["00:00-24:00"], "2026-11-30 23:59", "2026-11-30 23:59"),
])
def test_calling_hours_in_the_hotlines_zone(windows: list[str], at_local: str,
                                            opens_local: str) -> None:
    hours = CallingHours.parse(windows)
    at = datetime.fromisoformat(at_local).replace(tzinfo=SHANGHAI).astimezone(UTC)
    expected = datetime.fromisoformat(opens_local).replace(tzinfo=SHANGHAI)
    assert hours.next_open(at, SHANGHAI) == expected
    assert hours.open_at(at, SHANGHAI) == (at_local == opens_local)


@pytest.mark.parametrize(("text", "setting", "line"), [
    ('[kinds.reminder]\nhours = ["9-12"]\n', "kinds.reminder.hours", 2),
    ('[kinds.reminder]\nhours = ["12:00-09:00"]\n', "kinds.reminder.hours", 2),
    ('[kinds.reminder]\nhours = ["09:00-24:30"]\n', "kinds.reminder.hours", 2),
    ('[kinds.reminder]\nmax_attempts = 0\n', "kinds.reminder.max_attempts", 2),
    ('[kinds.robocall]\nmax_attempts = 1\n', "kinds.robocall", 1),
    ('max_channels = 0\n', "max_channels", 1),
    ('[missed_call]\nmin_wait = 3\n', "missed_call.min_wait", 2),
])
def test_a_bad_setting_is_named_with_its_line(tmp_path: Path, text: str, setting: str,
                                              line: int) -> None:
    path = tmp_path / "campaigns.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_campaigns_config(path)
    assert err.value.setting == setting
    assert err.value.line == line


def test_the_shipped_file_and_a_missing_one(tmp_path: Path) -> None:
    shipped = load_campaigns_config(Path(__file__).parents[2] / "config" / "campaigns.toml")
    assert shipped.kind(CampaignKind.MISSED_CALL).max_attempts == 1
    assert shipped.kind(CampaignKind.REMINDER).max_attempts == 4
    defaults = load_campaigns_config(tmp_path / "none.toml")
    assert defaults.max_channels == 10


def test_missed_calls_from_the_call_records(maker: sessionmaker[Session]) -> None:
    """Waited 40 s and hung up → missed; waited 10 s → not (threshold 30 s); hung up but
    called again → not; answered → not; already targeted → not; ``ended_after`` reads only
    calls that ended since."""
    def call(cid: str, caller: str, offered: int, waited: int, disposition: str) -> CallRecord:
        at = T0 + timedelta(seconds=offered)
        return CallRecord(id=cid, linkedid=cid, line="12345", caller=caller, offered_at=at,
                          ended_at=at + timedelta(seconds=waited), disposition=disposition,
                          route="core")
    with maker() as s, s.begin():
        s.add_all([call("a", "13800000001", 0, 40, "abandoned"),
                   call("b", "13800000002", 0, 10, "abandoned"),
                   call("c", "13800000003", 0, 40, "abandoned"),
                   call("c2", "13800000003", 100, 20, "answered"),
                   call("d", "13800000004", 0, 40, "answered"),
                   call("e", "13800000005", 0, 40, "abandoned"),
                   call("f", "13800000006", 600, 40, "abandoned")])
        enqueue_in(s, CampaignKind.MISSED_CALL, "12345", [Destination("13800000005")],
                   f"{missed_key('13800000005')}:e", call_id="e", now=T0 + timedelta(hours=1))
    rules = MissedCallSettings(min_wait_seconds=30, lookback_hours=4)
    now = T0 + timedelta(hours=1)
    with maker() as s:
        assert sorted(m.call_id for m in missed_calls(s, rules, now)) == ["a", "f"]
        later = T0 + timedelta(seconds=300)
        assert [m.call_id for m in missed_calls(s, rules, now, ended_after=later)] == ["f"]
        # Out of the lookback: nothing.
        assert missed_calls(s, rules, T0 + timedelta(hours=5)) == []
