"""Issue 9 item 5: a work order made from a call takes line, department, caller and
recording from the call record on the server.

On the starting main (4b97079) the order took whatever the client sent: an order naming
the dual-number call ``call-dual-1`` was stored with the line and caller number the client
typed, no department, and any ``recording`` path the client liked (another call's
recording was attached and later served to staff); an unknown ``call_record_id`` was
accepted (201) and the order pointed at no call.

The call records are seeded by ``conftest.load_sample_dispatch_data`` (``SAMPLE_CALLS``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.workorders.model import WorkOrder, WorkOrderEvent
from tests.workorders.conftest import Api
from tests.workorders.test_lifecycle_api import NEW, complaint


def _counts(maker: sessionmaker[Session]) -> tuple[int, int]:
    with maker() as s:
        return (s.scalar(select(func.count()).select_from(WorkOrder)) or 0,
                s.scalar(select(func.count()).select_from(WorkOrderEvent)) or 0)


async def test_line_department_caller_and_recording_come_from_the_call_record(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    status, out = await api.post(NEW, "operator", complaint(
        call_record_id="call-dual-1", line="12345", caller_number="13000000000"))
    assert status == 201, out
    oid = out["order"]["id"]
    with seeded() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        # SAMPLE_CALLS: call-dual-1 came in on the dual-number line 88880001 of 县住建局
        # from 13712345678, recorded as 20260608/call-dual-1.wav.
        assert (order.line, order.department, order.caller_number, order.recording) == (
            "88880001", "县住建局", "13712345678", "20260608/call-dual-1.wav")
    _, detail = await api.get(f"{NEW}/{oid}", "callback")
    assert detail["department"] == "县住建局" and detail["caller_number"] == "13712345678"


async def test_an_unknown_call_is_refused_naming_it(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    before = _counts(seeded)
    status, out = await api.post(NEW, "operator", complaint(call_record_id="call-nope"))
    assert status == 422 and out["field"] == "call_record_id" and "call-nope" in out["error"]
    assert _counts(seeded) == before


async def test_another_calls_recording_cannot_be_attached(
    api: Api, seeded: sessionmaker[Session],
) -> None:
    before = _counts(seeded)
    status, out = await api.post(NEW, "operator", complaint(
        call_record_id="call-0001", recording="20260608/call-0002.wav"))
    assert status == 422 and out["field"] == "recording" and "call-0001" in out["error"]
    # Without a call there is no recording to attach at all.
    status, out = await api.post(NEW, "operator", complaint(
        channel="web", call_record_id=None, recording="20260608/call-0002.wav"))
    assert status == 422 and out["field"] == "recording"
    assert _counts(seeded) == before
    # The call's own recording named by the client is fine (it is the same file).
    status, out = await api.post(NEW, "operator", complaint(
        call_record_id="call-0001", recording="20260608/call-0001.wav"))
    assert status == 201, out
    _, detail = await api.get(f"{NEW}/{out['order']['id']}", "operator")
    assert detail["recording"] == "20260608/call-0001.wav"
