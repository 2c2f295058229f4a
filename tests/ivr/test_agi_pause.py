"""AgiServer pause/resume (暂停接入): while paused a connect is *refused* — Asterisk's
``[hotline-agi]`` then tries the next core instance at once (``AGISTATUS=FAILURE``) — and
what was accepted before goes on. Both event loops the core may run on (asyncio, uvloop).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from hotline_core.timeouts import cancel_and_wait
from ivr.agi import AgiServer, AgiSession
from testkit.fake_asterisk import FakeAsterisk, agi_headers

LOOPS = pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
Run = Callable[[Coroutine[Any, Any, None]], None]


async def _quick(s: AgiSession) -> None:
    await s.set_variable("HOTLINE_NEXT", "wait")


def _quick_peer(port: int) -> FakeAsterisk:
    return FakeAsterisk(port).expect('SET VARIABLE HOTLINE_NEXT "wait"', "200 result=1")


async def _connect_errno(port: int) -> int | None:
    """None if a connection to 127.0.0.1:port is accepted, else the error number."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except OSError as exc:
        return exc.errno
    writer.close()
    return None


async def _pause_refuses_running_sessions_finish() -> None:
    release = asyncio.Event()

    async def slow(s: AgiSession) -> None:      # a caller in the flow when the pause comes
        await release.wait()
        await s.set_variable("HOTLINE_NEXT", "wait")

    server = AgiServer({"inbound": _quick, "slow": slow}, port=0)
    await server.start()
    port = server.port
    try:
        running = asyncio.ensure_future(
            FakeAsterisk(port, script="slow")
            .expect('SET VARIABLE HOTLINE_NEXT "wait"', "200 result=1").run())
        # A second peer connected but still in its header block when the pause comes.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            while server.active < 1 or server.connections < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        server.pause("test")
        server.pause("test")                     # idempotent: one log line, still paused
        assert server.paused and not server.serving
        assert await _connect_errno(port) == errno.ECONNREFUSED
        assert server.connections == 2           # the refused connect never reached us

        release.set()                            # the running flow finishes normally
        (await running).assert_ok()
        headers = agi_headers(port=port, script="inbound")
        writer.write("".join(f"{h}\n" for h in headers).encode() + b"\n")
        assert await asyncio.wait_for(reader.readline(), 5) == \
            b'SET VARIABLE HOTLINE_NEXT "wait"\n'
        writer.write(b"200 result=1\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""   # flow done, closed
        writer.close()
        assert server.sessions_completed == 2 and server.sessions_failed == 0

        await server.resume()
        await server.resume()                    # idempotent
        assert server.serving and not server.paused and server.port == port
        (await _quick_peer(port).run()).assert_ok()
        assert server.sessions_completed == 3
    finally:
        await server.stop()


@LOOPS
def test_paused_refuses_connects_and_lets_sessions_finish(
        run: Run, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.agi")
    run(_pause_refuses_running_sessions_finish())
    pauses = [r for r in caplog.records if "FastAGI paused (test)" in r.getMessage()]
    resumes = [r for r in caplog.records if "FastAGI listening again" in r.getMessage()]
    assert (len(pauses), len(resumes)) == (1, 1), caplog.text
    assert "127.0.0.1" in pauses[0].getMessage()


async def _stop_while_paused() -> None:
    hold = asyncio.Event()

    async def held(s: AgiSession) -> None:
        await hold.wait()

    server = AgiServer({"held": held}, port=0)
    await server.start()
    port = server.port
    peer = asyncio.ensure_future(FakeAsterisk(port, script="held").run())
    async with asyncio.timeout(5):
        while server.active < 1:                 # noqa: ASYNC110
            await asyncio.sleep(0.01)
    server.pause("test")
    await asyncio.wait_for(server.stop(), 5)     # cancels the held flow, closes its peer
    assert not server.paused and not server.serving and server.active == 0
    (await peer).assert_ok()
    # Stopped: a later resume (the gate still running, say) does not listen again.
    await server.resume()
    server.pause("test")
    assert not server.serving
    assert await _connect_errno(port) == errno.ECONNREFUSED


@LOOPS
def test_stop_while_paused(run: Run) -> None:
    run(_stop_while_paused())


async def _follow_the_gate(log_text: Callable[[], str]) -> None:
    state = {"open": True, "fail": False}
    asked = 0

    async def accepting() -> bool:
        nonlocal asked
        asked += 1
        if state["fail"]:
            raise ConnectionError("redis gone")
        return state["open"]

    async def until(cond: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not cond():                    # noqa: ASYNC110
                await asyncio.sleep(0.01)

    server = AgiServer({"inbound": _quick}, port=0)
    await server.start()
    port = server.port
    gate = asyncio.ensure_future(server.follow(accepting, "AMI link cut off", every=0.01))
    try:
        state["open"] = False
        await until(lambda: server.paused)
        assert await _connect_errno(port) == errno.ECONNREFUSED
        # The question failing while paused: stays paused, tries again with backoff.
        state["fail"] = True
        seen = asked
        await until(lambda: asked >= seen + 3)
        assert server.paused
        state["fail"], state["open"] = False, True
        await until(lambda: server.serving)
        (await _quick_peer(port).run()).assert_ok()
        text = log_text()
        assert text.count("FastAGI paused (AMI link cut off)") == 1, text
        assert text.count("FastAGI listening again") == 1, text
        assert text.count("dependency lost") == 1, text     # the failing question, once
    finally:
        await cancel_and_wait([gate])
        await server.stop()


@LOOPS
def test_follow_pauses_and_resumes_with_the_condition(
        run: Run, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.agi")
    run(_follow_the_gate(lambda: caplog.text))


async def _rebind_fails_then_backs_off(log_text: Callable[[], str]) -> None:
    server = AgiServer({"inbound": _quick}, port=0)
    await server.start()
    port = server.port
    server.pause("test")
    # Someone else took the port meanwhile: the re-bind fails, is retried with backoff.
    squatter = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    gate = asyncio.ensure_future(server.follow(_always, "test", every=0.01))
    try:
        async with asyncio.timeout(5):
            while "dependency lost" not in log_text():   # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert server.paused
        squatter.close()
        await squatter.wait_closed()
        async with asyncio.timeout(10):
            while not server.serving:            # noqa: ASYNC110
                await asyncio.sleep(0.01)
        (await _quick_peer(port).run()).assert_ok()
    finally:
        await cancel_and_wait([gate])
        await server.stop()


async def _always() -> bool:
    return True


def test_rebind_failure_backs_off_until_the_port_is_free(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.agi")
    uvloop.run(_rebind_fails_then_backs_off(lambda: caplog.text))
    assert caplog.text.count("FastAGI listening again") == 1, caplog.text
