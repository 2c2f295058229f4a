"""The voice-message inbox (语音留言箱) on the composed API (real redis-server, migrated
SQLite, the core's route list): who may read it, the lines an agent serves (12345:
skill general, agents 1001/1002; 96119: fire-hazard, nobody), the message's file, the
order made in one step from the message's call record, and one order for two agents.

Messages are hand-written call records below (as the inbound flow leaves them); every
expected value is written out by hand from those rows."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from hotline_core.call_records import CallRecord
from hotline_core.transcripts import Transcript
from hotline_core.workorders.model import WorkOrder
from tests.security.composed import TOKENS, Composed, bearer, composed

WAIT = 10.0
CALLER = "13800138000"              # masked 138****8000
OTHER = "13900139000"               # masked 139****9000
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)   # any bytes: the route serves the file


def _at(hour: int) -> datetime:
    return datetime(2026, 6, 8, hour, 0, tzinfo=UTC)


def seed(app: Composed, tmp_path: Path) -> None:
    """vm-1 (12345, transcribed), vm-2 (12345, no transcript yet), vm-fire (96119: nobody
    serves it), ans-1 (12345, an answered call: no message)."""
    def message(call_id: str, line: str, caller: str, hour: int) -> CallRecord:
        return CallRecord(id=call_id, linkedid=call_id, line=line, caller=caller,
                          offered_at=_at(hour), ended_at=_at(hour), disposition="voice-message",
                          message=f"20260608/{call_id}-message.wav")
    with app.maker() as s, s.begin():
        s.add_all([
            message("vm-1", "12345", CALLER, 1), message("vm-2", "12345", OTHER, 2),
            message("vm-fire", "96119", CALLER, 3),
            CallRecord(id="ans-1", linkedid="ans-1", line="12345", caller=CALLER,
                       offered_at=_at(4), agent_id="1001", disposition="answered"),
            Transcript(call_id="vm-1", leg="voicemail", audio_path="x", text="楼下路灯坏了",
                       status="done"),
            Transcript(call_id="vm-2", leg="mixed", audio_path="x", text="不是留言的转写",
                       status="done"),
        ])
    folder = tmp_path / "recordings" / "20260608"
    folder.mkdir(parents=True)
    for call_id in ("vm-1", "vm-2", "vm-fire"):
        (folder / f"{call_id}-message.wav").write_bytes(WAV + call_id.encode())


def _orders_of(app: Composed, call_id: str) -> list[WorkOrder]:
    with app.maker() as s:
        return list(s.scalars(select(WorkOrder).where(WorkOrder.call_record_id == call_id)))


async def _status(app: Composed, method: str, path: str, headers: dict[str, str],
                  body: object = None) -> int:
    resp = await app.client.request(method, path, json=body, headers=headers)
    return resp.status


async def test_who_reads_the_inbox_and_what_they_see(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        seed(app, tmp_path)
        path = "/api/desk/voice-messages"
        assert await _status(app, "GET", path, {}) == 401
        assert await _status(app, "GET", path, {"Authorization": "Bearer guessed"}) == 401
        for role in ("supervisor", "dispatcher", "callback", "town-chengguan"):
            assert await _status(app, "GET", path, bearer(role)) == 403, role
        status, body = await app.json("GET", path, "1001")
        assert status == 200, body
        # Oldest first; 96119's message and the answered call are not 1001's.
        assert [(m["call_id"], m["line"], m["caller"], m["transcript"])
                for m in body["messages"]] == [
            ("vm-1", "12345", "138****8000", "楼下路灯坏了"),
            ("vm-2", "12345", "139****9000", None)]
        assert body["messages"][0]["left_at"] == "2026-06-08T01:00:00+00:00"
        assert body["messages"][0]["recording_url"] == path + "/vm-1/recording"
        assert CALLER not in json.dumps(body) and OTHER not in json.dumps(body)


async def test_the_message_file_is_served_to_the_lines_agents_only(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        seed(app, tmp_path)
        resp = await app.client.get("/api/desk/voice-messages/vm-1/recording",
                                    headers=bearer("1002"))
        assert resp.status == 200 and resp.content_type == "audio/wav"
        assert await resp.read() == WAV + b"vm-1"
        rec = "/api/desk/voice-messages/{}/recording"
        assert await _status(app, "GET", rec.format("vm-1"), {}) == 401
        assert await _status(app, "GET", rec.format("vm-1"), bearer("supervisor")) == 403
        # Another line's message, a call that left none, an unknown or hostile id.
        for call_id in ("vm-fire", "ans-1", "nope", "..%2F..%2Fetc%2Fpasswd", "x" * 65,
                        "vm-1'--"):
            assert await _status(app, "GET", rec.format(call_id), bearer("1001")) == 404, \
                call_id
        # A message whose file is gone: named, not a 500.
        (tmp_path / "recordings" / "20260608" / "vm-2-message.wav").unlink()
        assert await _status(app, "GET", rec.format("vm-2"), bearer("1001")) == 404


async def test_a_message_becomes_one_order_in_one_step(tmp_path: Path,
                                                       redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        seed(app, tmp_path)
        order = "/api/desk/voice-messages/{}/order"
        assert await _status(app, "POST", order.format("vm-1"), {}, {}) == 401
        assert await _status(app, "POST", order.format("vm-1"), bearer("supervisor"),
                             {}) == 403
        # Hostile input: a bad category, an over-long description, a hostile id.
        status, body = await app.json("POST", order.format("vm-1"), "1001",
                                      {"category": "bogus"})
        assert status == 422 and "category" in json.dumps(body)
        status, body = await app.json("POST", order.format("vm-1"), "1001",
                                      {"description": "x" * 2001})
        assert status == 422 and "description" in json.dumps(body)
        for call_id in ("vm-fire", "ans-1", "nope", "x" * 65):
            status, body = await app.json("POST", order.format(call_id), "1001", {})
            assert status == 404, (call_id, body)
        assert _orders_of(app, "vm-1") == [] and _orders_of(app, "vm-fire") == []

        async with aiohttp.ClientSession() as http:
            url = str(app.client.make_url(f"/api/live?token={TOKENS['1002']}"))
            async with http.ws_connect(url) as ws:
                assert json.loads((await ws.receive(timeout=WAIT)).data)["type"] == "figures"
                # One step: no description typed, the transcript is the order's; line,
                # caller and recording sent by the client are not read.
                status, made = await app.json("POST", order.format("vm-1"), "1001", {
                    "category": "complaint", "line": "99999", "caller_number": "110",
                    "recording": "../../etc/passwd"})
                assert status == 201, made
                # 1002's desk hears the message left the inbox (sent by the server).
                while True:
                    msg = json.loads((await ws.receive(timeout=WAIT)).data)
                    if msg["type"] == "voice_message":
                        break
                assert msg["voice_message"] == {"call_id": "vm-1", "line": "12345",
                                                "order_id": made["order_id"]}
        [row] = _orders_of(app, "vm-1")
        assert (row.id, row.line, row.caller_number, row.recording, row.description,
                row.category) == (made["order_id"], "12345", CALLER,
                                  "20260608/vm-1-message.wav", "楼下路灯坏了", "complaint")
        # Gone from the inbox; a second conversion is refused, naming the order.
        _, body = await app.json("GET", "/api/desk/voice-messages", "1002")
        assert [m["call_id"] for m in body["messages"]] == ["vm-2"]
        status, body = await app.json("POST", order.format("vm-1"), "1002", {})
        assert status == 409 and f"#{made['order_id']}" in body["error"]
        assert len(_orders_of(app, "vm-1")) == 1


async def test_two_agents_converting_at_once_make_one_order(tmp_path: Path,
                                                            redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        seed(app, tmp_path)
        path = "/api/desk/voice-messages/vm-2/order"
        results = await asyncio.gather(
            app.json("POST", path, "1001", {"description": "留言：噪音扰民"}),
            app.json("POST", path, "1002", {"description": "留言：噪音扰民"}))
        assert sorted(status for status, _ in results) == [201, 409]
        [row] = _orders_of(app, "vm-2")
        assert row.description == "留言：噪音扰民"
        with app.maker() as s:
            assert s.scalar(select(func.count()).select_from(WorkOrder)) == 1
