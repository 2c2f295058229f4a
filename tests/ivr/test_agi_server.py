"""AgiServer robustness: bad peers never stall good ones; routing; errors; stop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import pytest

from ivr.agi import AgiHangup, AgiServer, AgiSession, AgiTimeout
from testkit.fake_asterisk import FakeAsterisk, agi_headers, serve


async def _ok_flow(s: AgiSession) -> None:
    await s.answer()
    value = await s.get_variable("X")
    await s.set_variable("SEEN", value or "")


def _ok_peer(port: int, value: str = "v") -> FakeAsterisk:
    return (FakeAsterisk(port)
            .expect("ANSWER", "200 result=0")
            .expect("GET VARIABLE X", f"200 result=1 ({value})")
            .expect(f'SET VARIABLE SEEN "{value}"', "200 result=1"))


async def _eventually(cond: Any, timeout: float = 3.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_port_zero_binds_a_real_port_and_stop_closes_listener() -> None:
    server = AgiServer({"inbound": _ok_flow}, port=0)
    await server.start()
    assert server.port > 0 and server.serving
    (await _ok_peer(server.port).run()).assert_ok()
    await server.stop()
    assert not server.serving
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_unknown_script_flags_variable_and_closes() -> None:
    async with serve({"inbound": _ok_flow}) as server:
        peer = (FakeAsterisk(server.port, script="nosuch", params={"line": "12345"})
                .expect('SET VARIABLE HOTLINE_AGI_ERROR "unknown-script"', "200 result=1"))
        result = await peer.run()
        (await _ok_peer(server.port).run()).assert_ok()
    result.assert_ok()
    assert result.closed_by_server
    assert server.unknown_script == 1 and server.sessions_failed == 1
    assert server.sessions_started == 1 and server.sessions_completed == 1


async def test_unknown_script_without_error_variable_just_closes() -> None:
    async with serve({"inbound": _ok_flow}, error_variable=None) as server:
        result = await FakeAsterisk(server.port, script="other").run()
    result.assert_ok()
    assert result.commands == [] and result.closed_by_server


async def test_routes_with_slashes_and_no_script() -> None:
    hits: list[str] = []

    async def a(s: AgiSession) -> None:
        hits.append("a:" + s.script)

    async def root(s: AgiSession) -> None:
        hits.append("root")

    async with serve({"/callback/survey": a, "": root}) as server:
        (await FakeAsterisk(server.port, script="callback/survey").run()).assert_ok()
        (await FakeAsterisk(server.port, script="").run()).assert_ok()
    assert hits == ["a:callback/survey", "root"]


async def test_flow_exception_is_logged_reported_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[tuple[str, BaseException]] = []

    async def broken(s: AgiSession) -> None:
        await s.answer()
        raise KeyError("no such line")

    def on_error(script: str, exc: BaseException) -> None:
        errors.append((script, exc))
        raise RuntimeError("a broken on_error must not hurt either")

    caplog.set_level(logging.WARNING, logger="ivr.agi")
    async with serve({"inbound": _ok_flow, "broken": broken}, on_error=on_error) as server:
        peer = (FakeAsterisk(server.port, script="broken")
                .expect("ANSWER", "200 result=0")
                .expect('SET VARIABLE HOTLINE_AGI_ERROR "flow-error"', "200 result=1"))
        (await peer.run()).assert_ok()
        for i in range(3):
            (await _ok_peer(server.port, str(i)).run()).assert_ok()
    assert [(s, type(e)) for s, e in errors] == [("broken", KeyError)]
    assert server.sessions_failed == 1 and server.sessions_completed == 3
    assert "flow 'broken' failed" in caplog.text
    assert "on_error callback failed" in caplog.text


async def test_sync_handler_does_not_crash_the_server() -> None:
    calls: list[str] = []

    def sync_flow(s: AgiSession) -> None:
        calls.append(s.env["callerid"])

    async with serve({"inbound": sync_flow}) as server:  # type: ignore[dict-item]
        for _ in range(2):
            (await FakeAsterisk(server.port).run()).assert_ok()
    assert calls == ["13800138000"] * 2
    assert server.sessions_completed == 2


async def test_silent_and_half_open_peers_do_not_stall_others() -> None:
    async with serve({"inbound": _ok_flow}, header_timeout=1.0) as server:
        port = server.port
        # a peer that connects and says nothing
        silent_r, silent_w = await asyncio.open_connection("127.0.0.1", port)
        # a peer that sends half a header block and then sits there
        half_r, half_w = await asyncio.open_connection("127.0.0.1", port)
        half_w.write(b"agi_network: yes\nagi_request: agi://127.0.0.1/inbound\nagi_chan")
        await half_w.drain()
        # a peer that sends part of the headers then closes (EOF before the blank line)
        eof_peer = FakeAsterisk(port, raw_headers=b"agi_network: yes\nagi_channel: PJ")
        eof_peer.close()

        t0 = time.monotonic()
        results = await asyncio.gather(eof_peer.run(),
                                       *(_ok_peer(port, str(i)).run() for i in range(30)))
        elapsed = time.monotonic() - t0
        for r in results[1:]:
            r.assert_ok()
        assert elapsed < 0.8, f"good sessions were held up ({elapsed:.2f}s)"
        assert server.sessions_completed == 30

        # the stuck ones are dropped after header_timeout
        assert await asyncio.wait_for(silent_r.read(), 3) == b""
        assert await asyncio.wait_for(half_r.read(), 3) == b""
        silent_w.close()
        half_w.close()
        await _eventually(lambda: server.header_timeouts == 2)
    assert server.sessions_failed == 3  # two timeouts + one early close
    assert server.malformed == 0


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"agi_network: yes\nthis is not a header\n\n", "no ':'"),
        (b"agi_network: yes\nagi_calleridname: \xcd\xf5\xd0\xa1\xc3\xf7\n\n", "not UTF-8"),
        (b"agi_network: yes\nagi_arg_1: " + b"x" * 9000 + b"\n\n", "longer than"),
        (b"agi_network: yes\nagi_arg_1: " + b"x" * 70000 + b"\n\n", "longer than"),
        (b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", "no ':'"),
        (b"".join(b"agi_arg_%d: 1\n" % i for i in range(400)) + b"\n", "header lines"),
    ],
)
async def test_malformed_headers_are_rejected_counted_and_server_keeps_serving(
    raw: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[BaseException] = []
    caplog.set_level(logging.WARNING, logger="ivr.agi")
    async with serve({"inbound": _ok_flow}, on_error=lambda s, e: errors.append(e)) as server:
        bad = await FakeAsterisk(server.port, raw_headers=raw).run()
        good = await _ok_peer(server.port).run()
    assert bad.closed_by_server and bad.commands == []
    good.assert_ok()
    assert server.malformed == 1 and server.sessions_failed == 1
    assert server.sessions_completed == 1
    assert why in caplog.text and why in str(errors[0])


async def test_peer_that_never_answers_does_not_block_others() -> None:
    async with serve({"inbound": _ok_flow}, command_timeout=1.0) as server:
        stuck = FakeAsterisk(server.port).expect("ANSWER").sleep(2.0)
        stuck_task = asyncio.ensure_future(stuck.run())
        await _eventually(lambda: server.active == 1)
        t0 = time.monotonic()
        for r in await asyncio.gather(*(_ok_peer(server.port, str(i)).run() for i in range(20))):
            r.assert_ok()
        assert time.monotonic() - t0 < 0.8
        stuck_result = await stuck_task
    assert stuck_result.commands == ["ANSWER"]
    assert stuck_result.closed_by_server  # the server gave up on it after command_timeout
    assert server.sessions_failed == 1 and server.sessions_completed == 20


async def test_two_hundred_interleaved_sessions() -> None:
    rng = random.Random(12345)
    seen: dict[str, str | None] = {}

    async def flow(s: AgiSession) -> None:
        await s.answer()
        seen[s.env["uniqueid"]] = await s.get_variable("CALLER_TOKEN")
        await asyncio.sleep(rng.random() * 0.02)
        digit = await s.stream_file("custom/welcome", "0123456789")
        await s.set_variable("PICKED", digit)

    async with serve({"inbound": flow}) as server:
        peers = []
        for i in range(200):
            digit = str(i % 10)
            peers.append(
                FakeAsterisk(server.port, uniqueid=f"1795000000.{i}", step_timeout=10)
                .expect("ANSWER", "200 result=0", delay=rng.random() * 0.02)
                .expect("GET VARIABLE CALLER_TOKEN", f"200 result=1 (token-{i})")
                .expect(r'STREAM FILE custom/welcome "0123456789"',
                        f"200 result={ord(digit)} endpos=800", delay=rng.random() * 0.02)
                .expect(f'SET VARIABLE PICKED "{digit}"', "200 result=1")
            )
        results = await asyncio.gather(*(p.run(timeout=30) for p in peers))
    for r in results:
        r.assert_ok()
    assert seen == {f"1795000000.{i}": f"token-{i}" for i in range(200)}
    assert server.sessions_completed == 200 and server.sessions_failed == 0
    assert server.active == 0


async def test_stop_cancels_live_sessions_and_awaits_them() -> None:
    unwound: list[str] = []

    async def flow(s: AgiSession) -> None:
        try:
            await s.command("EXEC Queue hotline", timeout=60)
        finally:
            unwound.append("finally")

    server = AgiServer({"inbound": flow}, port=0)
    await server.start()
    peers = [asyncio.ensure_future(FakeAsterisk(server.port, step_timeout=10)
                                   .expect("EXEC Queue hotline").sleep(30).run())
             for _ in range(5)]
    await _eventually(lambda: server.active == 5)
    before = time.monotonic()
    await server.stop()
    assert time.monotonic() - before < 2
    assert unwound == ["finally"] * 5
    assert server.active == 0
    for p in peers:
        p.cancel()
    await asyncio.gather(*peers, return_exceptions=True)


async def test_stop_with_grace_lets_short_sessions_finish() -> None:
    done: list[str] = []

    async def flow(s: AgiSession) -> None:
        await s.answer()
        done.append("ok")

    server = AgiServer({"inbound": flow}, port=0)
    await server.start()
    peer = asyncio.ensure_future(
        FakeAsterisk(server.port).expect("ANSWER", "200 result=0", delay=0.3).run())
    await _eventually(lambda: server.active == 1)
    await server.stop(grace=2.0)
    (await peer).assert_ok()
    assert done == ["ok"]


async def test_header_block_may_arrive_in_pieces() -> None:
    async with serve({"inbound": _ok_flow}) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        block = "".join(f"{ln}\n" for ln in [*agi_headers(), ""]).encode()
        for i in range(0, len(block), 7):
            writer.write(block[i:i + 7])
            await writer.drain()
            await asyncio.sleep(0.001)
        assert await asyncio.wait_for(reader.readline(), 2) == b"ANSWER\n"
        writer.write(b"HANGUP\n511 Command Not Permitted on a dead channel\n")
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    assert server.hangups == 1


async def test_timeout_in_flow_counts_as_failure_not_hangup() -> None:
    async def flow(s: AgiSession) -> None:
        await s.command("ANSWER", timeout=0.1)

    async with serve({"inbound": flow}) as server:
        result = await FakeAsterisk(server.port).expect("ANSWER").sleep(0.3).run()
    result.assert_ok()
    assert server.sessions_failed == 1 and server.hangups == 0
    assert issubclass(AgiTimeout, Exception) and not issubclass(AgiTimeout, AgiHangup)
