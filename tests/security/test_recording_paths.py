"""Every file path built from call data stays in its directory.

On the main this work started from (4b97079) the inbound flow took the recording name from
the AGI URL (``rec=``) as it came and built the voice message's ``RECORD FILE`` path from it:
``rec=../../../../etc/cron.d/x.wav`` made Asterisk record to ``/etc/cron.d/x-message.wav``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import Distributor, load_distribution_config
from hotline_core.call_records import CallLog
from hotline_core.db import Base, make_engine, make_sessionmaker
from hotline_core.lines import load_lines
from hotline_core.recording_names import confined, recording_name
from ivr.flows.inbound import InboundContext, InboundFlow
from ivr.live_calls import LiveCalls
from ivr.records import AsyncCallLog
from stack.settings import REPO_ROOT
from testkit.fake_asterisk import FakeAsterisk, serve

RECORDINGS = "/srv/hotline/t/recordings"


@pytest.mark.parametrize("name", [
    "../x.wav", "20261130/../../x.wav", "/etc/passwd.wav", "a/b/c.wav", "x.wav\x00.wav",
    'x".wav', "x .wav", "x.wav\n", "", "20261130/", ".wav", "x.WAV.sh",
])
def test_names_that_leave_or_smuggle_are_not_recording_names(
        tmp_path: Path, name: str) -> None:
    assert recording_name(name) is None
    with pytest.raises(ValueError):
        confined(tmp_path, name)


@pytest.mark.parametrize("name", ["20261130/1796041768.0.wav", "1796041768.0-in.wav"])
def test_plain_names_stay_inside(tmp_path: Path, name: str) -> None:
    assert recording_name(name) == name
    assert tmp_path.resolve() in confined(tmp_path, name).parents


@pytest.fixture
async def flow(tmp_path: Path, redis_url: str) -> AsyncIterator[InboundFlow]:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    Base.metadata.create_all(engine)
    calls = AsyncCallLog(CallLog(make_sessionmaker(engine)))
    redis = aioredis.Redis.from_url(redis_url)
    ns = f"paths-{tmp_path.name}"
    yield InboundFlow(InboundContext(
        lines=load_lines(REPO_ROOT / "config" / "lines.toml"), calls=calls,
        distributor=Distributor(redis, load_distribution_config(
            REPO_ROOT / "config" / "distribution.toml"), namespace=ns),
        live=LiveCalls(redis, namespace=ns), sounds_dir="/s", recordings_dir=RECORDINGS))
    calls.close()
    await redis.aclose()


@pytest.mark.parametrize("rec", ["../../../../etc/cron.d/x.wav", '20261130/x" 1 BEEP.wav'])
async def test_a_hostile_recording_name_never_reaches_record_file(
        flow: InboundFlow, rec: str) -> None:
    # Nobody is logged in, so the flow takes a voice message: its file name is built from
    # the recording's name; a hostile one is replaced by the call's own id.
    async with serve({"inbound": flow}) as server:
        result = await FakeAsterisk(server.port, script="inbound",
                                    params={"line": "12345", "rec": rec},
                                    uniqueid="1796041768.7").auto_reply().run()
    records = [c for c in result.commands if c.startswith("RECORD FILE")]
    assert records == [f'RECORD FILE "{RECORDINGS}/1796041768.7-message" wav "#" '
                       "120000 0 BEEP s=5"], result.commands


async def test_a_plain_recording_name_is_used(flow: InboundFlow) -> None:
    """The control: a name as the dialplan makes it gives the message its name."""
    async with serve({"inbound": flow}) as server:
        result = await FakeAsterisk(server.port, script="inbound",
                                    params={"line": "12345", "rec": "20261130/1796041768.8.wav"},
                                    uniqueid="1796041768.8").auto_reply().run()
    assert f'RECORD FILE "{RECORDINGS}/20261130/1796041768.8-message" wav "#" ' \
           "120000 0 BEEP s=5" in result.commands, result.commands
