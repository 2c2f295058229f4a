"""A hostile FastAGI peer: repeated ``agi_*`` keys, control characters, repeated URL
parameters. The server rejects the request before any flow runs, and says so in its log.

On the main this work started from (4b97079) every one of these requests was accepted: a
repeated ``agi_callerid`` silently replaced the first (the later line won), and a caller ID
holding a newline or an escape reached the flow, its records and its logs.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from ivr.agi import AgiServer, AgiSession

GOOD = [
    b"agi_network: yes",
    b"agi_network_script: inbound?line=12345",
    b"agi_request: agi://127.0.0.1/inbound?line=12345",
    b"agi_channel: PJSIP/carrier-00000001",
    b"agi_uniqueid: 1700000000.1",
    b"agi_callerid: 13800138000",
]


async def _send(port: int, lines: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\n".join(lines) + b"\n\n")
    await writer.drain()
    try:
        got = await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()
    return got


async def _run(lines: list[bytes]) -> tuple[list[str], bytes]:
    seen: list[str] = []

    async def flow(session: AgiSession) -> None:
        seen.append(session.env.get("callerid", ""))
        await session.set_variable("HOTLINE_NEXT", "done")

    server = AgiServer({"inbound": flow}, host="127.0.0.1", port=0)
    await server.start()
    try:
        reply = await _send(server.port, lines)
    finally:
        await server.stop()
    return seen, reply


async def test_a_well_formed_request_runs_the_flow() -> None:
    """The control case: the same peer without the hostile line reaches the flow."""
    seen, reply = await _run(GOOD)
    assert seen == ["13800138000"]
    assert b"SET VARIABLE HOTLINE_NEXT" in reply


@pytest.mark.parametrize(("hostile", "why"), [
    (b"agi_callerid: 110", "agi_callerid repeated"),
    (b"agi_calleridname: x\x1b[2Jcleared", "control character"),
    (b"agi_dnid: 12345\rinjected", "control character"),
    (b"agi_accountcode: \x00", "control character"),
])
async def test_hostile_header_is_rejected_and_logged(
        hostile: bytes, why: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.agi")
    seen, reply = await _run([*GOOD, hostile])
    assert seen == [], "the flow must never run for a hostile request"
    assert b"SET VARIABLE" not in reply
    assert any(why in r.getMessage() and "rejected" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("script", [
    b"agi_network_script: inbound?line=12345&line=12366",
    b"agi_network_script: inbound?line=12345&rec=a%0Ab.wav",
])
async def test_hostile_url_parameters_are_rejected(
        script: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.agi")
    lines = [script if line.startswith(b"agi_network_script") else line for line in GOOD]
    seen, _reply = await _run(lines)
    assert seen == []
    assert any("rejected" in r.getMessage() for r in caplog.records)
