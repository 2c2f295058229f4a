"""One masking rule (脱敏) for every view, export and log of a citizen's number."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline_core.acd import CallMatch, WaitingCall
from hotline_core.masking import mask_phone
from tests.security.composed import composed

MOBILE, LANDLINE = "13800138000", "12345678"


@pytest.mark.parametrize(("number", "masked"), [
    # 11 digits: first 3 and last 4 kept, 4 hidden.
    ("13800138000", "138****8000"),
    # A landline with its area code (12 digits): first 3, last 4, 5 hidden.
    ("075512345678", "075*****5678"),
    # 8 digits: keeping 3 + 4 would hide 1; only the last 4 are kept.
    ("12345678", "****5678"),
    ("0105551234", "******1234"),
    # Fewer than 8: nothing kept.
    ("95588", "*****"),
    ("1234567", "*******"),
    (" 13800138000 ", "138****8000"),
    ("", ""),
])
def test_the_rule(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


async def test_call_records_and_work_orders_mask_alike(tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 the call record showed 12345678 as ``123*5678`` (7 of 8 digits, call
    records' own rule) while the work order showed ``****5678``."""
    async with composed(tmp_path, redis_url) as app:
        app.call_log.offered("call-8", line="12345", caller=LANDLINE,
                             at=datetime(2026, 6, 8, 1, 0, tzinfo=UTC))
        status, call = await app.json("GET", "/api/calls/call-8", "1001")
        assert status == 200
        status, order = await app.json("POST", "/api/workorders", "1001", {
            "channel": "web", "category": "consult", "description": "咨询公积金提取",
            "caller_number": LANDLINE})
        assert status == 201
        assert call["caller"] == "****5678"
        assert order["order"]["caller_number"] == "****5678"
        status, listing = await app.json("GET", "/api/calls", "supervisor")
        assert [c["caller"] for c in listing["calls"]] == ["****5678"]


async def test_restriction_audit_is_masked_for_supervisors(tmp_path: Path,
                                                           redis_url: str) -> None:
    """On main 4b97079 the supervisor's audit, the restrict answer and the lift answer all
    carried the full number ``13500135000``."""
    async with composed(tmp_path, redis_url) as app:
        status, made = await app.json("POST", "/api/restrictions", "supervisor",
                                      {"number": "13500135000", "reason": "threatened staff"})
        assert status == 201 and made["number"] == "135****5000"
        assert await app.restrictions.is_restricted("13500135000") is not None
        status, audit = await app.json("GET", "/api/restrictions/audit", "supervisor")
        assert status == 200
        assert [e["number"] for e in audit["audit"]] == ["135****5000"]
        assert [h["number"] for h in audit["hits"]] == ["135****5000"]
        status, lifted = await app.json("POST", "/api/restrictions/13500135000/lift",
                                        "supervisor", {"reason": "apologised"})
        assert status == 200 and lifted["number"] == "135****5000"
        # The audit still holds the real number: lifting by it worked, and it is listed.
        status, audit = await app.json("GET", "/api/restrictions/audit", "supervisor")
        assert [(e["action"], e["number"]) for e in audit["audit"]] == [
            ("restrict", "135****5000"), ("lift", "135****5000")]


async def test_restriction_audit_refuses_other_roles_and_no_token(tmp_path: Path,
                                                                  redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        await app.restrictions.restrict("13500135000", "threats", by="s1")
        assert (await app.json("GET", "/api/restrictions/audit"))[0] == 401
        for who in ("1001", "dispatcher", "callback", "town-chengguan"):
            status, body = await app.json("GET", "/api/restrictions/audit", who)
            assert status == 403 and "13500135000" not in str(body), who
        # Hostile input: a number with a line break is refused, nothing restricted.
        status, body = await app.json("POST", "/api/restrictions", "supervisor",
                                      {"number": "1350013\n5001", "reason": "x"})
        assert status == 422 and "number" in body["error"]
        assert await app.restrictions.is_restricted("13500135001") is None


async def test_full_numbers_never_reach_the_logs(tmp_path: Path, redis_url: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """On main 4b97079 ``restricted 13500135000 until …``, ``restricted caller 13500135000
    refused`` (INFO) and ``on_assignment failed for Assignment(… caller='13800138000' …)``
    (ERROR) wrote the full numbers into the core log."""
    caplog.set_level(logging.INFO)
    async with composed(tmp_path, redis_url) as app:
        await app.json("POST", "/api/restrictions", "supervisor",
                       {"number": "13500135000", "reason": "threatened staff"})
        assert await app.restrictions.is_restricted("13500135000") is not None

        async def broken(_: CallMatch) -> None:
            raise RuntimeError("AMI gone")

        app.distributor.on_assignment = broken
        await app.distributor.agent_login("1001", {"general": 1})
        await app.distributor.enqueue(WaitingCall(call_id="call-9", line="12345",
                                                  skills=("general",), caller=MOBILE))
        await app.json("PUT", f"/api/callers/{MOBILE}/needs-help", "1001",
                       {"reason": "elderly"})
    logged = caplog.text
    assert "135****5000" in logged and "call-9" in logged  # the lines were written …
    assert "13500135000" not in logged and MOBILE not in logged  # … masked
