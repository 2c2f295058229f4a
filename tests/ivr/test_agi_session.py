"""AgiSession against the scripted fake Asterisk: commands, replies, hangups, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ivr.agi import (
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiResponse,
    AgiServer,
    AgiSession,
    AgiTimeout,
)
from testkit.fake_asterisk import DEAD_511, FakeAsterisk, PeerResult, serve

Flow = Callable[[AgiSession], Awaitable[None]]

USAGE_520 = [
    "520-Invalid command syntax.  Proper usage follows:",
    " Usage: STREAM FILE <filename> <escape digits> [sample offset]",
    "     Send the given file, allowing playback to be interrupted by the given",
    "     digits, if any.",
    "520 End of proper usage.",
]


async def run_call(
    flow: Flow, peer_script: Callable[[FakeAsterisk], FakeAsterisk], **server_kw: Any
) -> tuple[PeerResult, AgiServer]:
    server_kw.setdefault("command_timeout", 2.0)
    async with serve({"inbound": flow}, **server_kw) as server:
        peer = peer_script(FakeAsterisk(server.port, script="inbound",
                                        params={"line": "12345"}, step_timeout=3.0))
        result = await peer.run(timeout=10)
        await _settle(server)
    return result, server


async def _settle(server: AgiServer) -> None:
    for _ in range(200):
        if server.active == 0:
            return
        await asyncio.sleep(0.01)


async def test_env_script_params_args() -> None:
    seen: dict[str, Any] = {}

    async def flow(s: AgiSession) -> None:
        seen.update(env=s.env, script=s.script, params=s.params, args=s.args, hung_up=s.hung_up)

    async with serve({"inbound": flow}) as server:
        result = await FakeAsterisk(server.port, script="inbound",
                                    params={"line": "12345", "x": "y"}, args=["a b", "c"],
                                    callerid="13900001111", uniqueid="1795000000.77").run()
    result.assert_ok()
    assert result.closed_by_server and result.commands == []
    env = seen["env"]
    assert env["callerid"] == "13900001111"
    assert env["dnid"] == "12345" and env["extension"] == "12345"
    assert env["uniqueid"] == "1795000000.77"
    assert env["network"] == "yes"
    assert env["network_script"] == "inbound?line=12345&x=y"
    assert env["channel"].startswith("PJSIP/")
    assert env["arg_1"] == "a b"
    assert "agi_callerid" not in env
    assert seen["script"] == "inbound"
    assert seen["params"] == {"line": "12345", "x": "y"}
    assert seen["args"] == ["a b", "c"]
    assert seen["hung_up"] is False


async def test_convenience_commands_wire_format_and_results() -> None:
    got: dict[str, Any] = {}

    async def flow(s: AgiSession) -> None:
        await s.answer()
        got["var"] = await s.get_variable("CALLERID(num)")
        got["missing"] = await s.get_variable("NOPE")
        await s.set_variable("HOTLINE_LINE", 'line "12345"')
        got["digit"] = await s.stream_file("custom/welcome", "12#")
        got["nodigit"] = await s.stream_file("custom/menu")
        got["exec"] = await s.exec("Dial", "PJSIP/1001", "30", "tT")
        got["exec0"] = await s.exec("Wait", "1")
        await s.verbose("来电 12345", 3)
        got["raw"] = await s.command("GET DATA custom/enter-id 5000 6")
        await s.hangup()
        got["hung_up"] = s.hung_up

    result, server = await run_call(flow, lambda p: (
        p.expect("ANSWER", "200 result=0")
        .expect(r"GET VARIABLE CALLERID\(num\)", "200 result=1 (13800138000)")
        .expect("GET VARIABLE NOPE", "200 result=0")
        .expect('SET VARIABLE HOTLINE_LINE "line \\\\"12345\\\\""', "200 result=1")
        .expect('STREAM FILE custom/welcome "12#"', "200 result=50 endpos=12000")
        .expect('STREAM FILE custom/menu ""', "200 result=0 endpos=24000")
        .expect('EXEC Dial "PJSIP/1001,30,tT"', "200 result=0")
        .expect('EXEC Wait "1"', "200 result=0")
        .expect('VERBOSE "来电 12345" 3', "200 result=1")
        .expect("GET DATA custom/enter-id 5000 6", "200 result=110101 (timeout)")
        .expect("HANGUP", "200 result=1", "HANGUP")
    ))
    result.assert_ok()
    assert got == {
        "var": "13800138000", "missing": None, "digit": "2", "nodigit": "",
        "exec": AgiResponse(200, "0", ""), "exec0": AgiResponse(200, "0", ""),
        "raw": AgiResponse(200, "110101", "timeout"), "hung_up": True,
    }
    assert server.stats["sessions_completed"] == 1 and server.sessions_failed == 0


async def test_crlf_replies_are_accepted() -> None:
    got: list[str | None] = []

    async def flow(s: AgiSession) -> None:
        got.append(await s.get_variable("A"))
        got.append(await s.get_variable("B"))

    async with serve({"inbound": flow}) as server:
        peer = (FakeAsterisk(server.port, line_end="\r\n")
                .expect("GET VARIABLE A", "200 result=1 (x)")
                .expect("GET VARIABLE B", "200 result=1 (y)"))
        result = await peer.run()
    result.assert_ok()
    assert got == ["x", "y"]


# ------------------------------------------------------------------ HANGUP notification


async def test_hangup_line_before_reply_is_not_taken_as_the_reply() -> None:
    """HANGUP, then the in-flight reply: neither may be shifted onto a later command."""
    events: list[str] = []

    async def flow(s: AgiSession) -> None:
        await s.answer()
        try:
            await s.stream_file("custom/welcome")
        except AgiHangup:
            events.append("hangup")
        assert s.hung_up
        with pytest.raises(AgiHangup):
            await s.get_variable("ANYTHING")  # not sent: the channel is gone
        await s.verbose("bye")  # quietly skipped
        await s.hangup()  # quietly skipped

    result, server = await run_call(flow, lambda p: (
        p.expect("ANSWER", "200 result=0")
        # Asterisk sent HANGUP before reading our command, then ran it on the dead channel
        .expect(r"STREAM FILE custom/welcome .*", "HANGUP", DEAD_511)
    ))
    result.assert_ok()
    assert events == ["hangup"]
    assert result.commands == ["ANSWER", 'STREAM FILE custom/welcome ""']
    assert server.hangups == 1 and server.sessions_failed == 0


async def test_hangup_line_then_dead_allowed_reply_is_consumed() -> None:
    """GET VARIABLE is allowed on a dead channel: its real reply arrives after HANGUP and
    must be swallowed, not handed to anyone."""
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        try:
            out.append(await s.get_variable("X"))
        except AgiHangup as exc:
            out.append(type(exc))
        await asyncio.sleep(0.2)  # stay connected while the stale reply arrives

    result, server = await run_call(flow, lambda p: (
        p.expect("GET VARIABLE X", "HANGUP").sleep(0.05).send("200 result=1 (stale)")
    ))
    result.assert_ok()
    assert out == [AgiHangup]
    assert server.malformed == 0  # the stale reply found its slot, it was not "unsolicited"


async def test_hangup_line_between_commands() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        await s.answer()
        await asyncio.wait_for(s.wait_hangup(), 2)
        out.append(s.hung_up)
        try:
            await s.stream_file("x")
        except AgiHangup:
            out.append("raised")

    result, _ = await run_call(flow, lambda p: p.expect("ANSWER", "200 result=0").hangup())
    result.assert_ok()
    assert out == [True, "raised"]
    assert result.commands == ["ANSWER"]  # STREAM FILE never sent


async def test_allow_dead_commands_after_hangup() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        await s.wait_hangup()
        out.append(await s.get_variable("HANGUPCAUSE", allow_dead=True))
        try:
            await s.command("STREAM FILE x \"\"", allow_dead=True)
        except AgiHangup as exc:
            out.append(str(exc))

    result, _ = await run_call(flow, lambda p: (
        p.hangup()
        .expect("GET VARIABLE HANGUPCAUSE", "200 result=1 (16)")
        .expect('STREAM FILE x ""', DEAD_511)
    ))
    result.assert_ok()
    assert out[0] == "16"
    assert "511" in out[1]  # type: ignore[operator]


async def test_result_minus_one_then_hangup_line() -> None:
    """Channel hung up during playback: Asterisk replies -1 first, then HANGUP."""
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        try:
            await s.stream_file("custom/long-prompt", "0123456789")
        except AgiHangup as exc:
            out.append(str(exc))
        with pytest.raises(AgiHangup):
            await s.answer()

    result, server = await run_call(flow, lambda p: p.expect(
        r"STREAM FILE custom/long-prompt .*", "200 result=-1 endpos=4800", "HANGUP"))
    result.assert_ok()
    assert "result=-1" in out[0]  # type: ignore[operator]
    assert server.hangups == 1


async def test_511_alone_is_a_hangup() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        try:
            await s.answer()
        except AgiHangup:
            out.append(s.hung_up)

    result, _ = await run_call(flow, lambda p: p.expect(
        "ANSWER", "511 Command Not Permitted on a dead channel"))
    result.assert_ok()
    assert out == [True]


async def test_replies_stay_aligned_across_many_hangup_races() -> None:
    """Every call ends with HANGUP racing a command; the next call's replies are its own."""
    seen: list[str | None] = []

    async def flow(s: AgiSession) -> None:
        seen.append(await s.get_variable("N"))
        await s.stream_file("x")

    async with serve({"inbound": flow}) as server:
        for i in range(20):
            peer = (FakeAsterisk(server.port)
                    .expect("GET VARIABLE N", f"200 result=1 ({i})")
                    .expect("STREAM FILE x .*", "HANGUP", "200 result=-1 endpos=0"))
            (await peer.run()).assert_ok()
    assert seen == [str(i) for i in range(20)]


# ------------------------------------------------------------------ 5xx replies


async def test_520_multiline_usage_then_next_reply_is_not_shifted() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        with pytest.raises(AgiCommandError) as info:
            await s.command("STREAM FILE")
        out.append(info.value.code)
        out.append(info.value.response.data)
        out.append(await s.get_variable("AFTER"))

    result, _ = await run_call(flow, lambda p: (
        p.expect("STREAM FILE", *USAGE_520).expect("GET VARIABLE AFTER", "200 result=1 (ok)")
    ))
    result.assert_ok()
    assert out[0] == 520
    assert "Usage: STREAM FILE" in out[1]  # type: ignore[operator]
    assert out[2] == "ok"


async def test_510_and_exec_unknown_app_raise_command_errors_session_stays_usable() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        for call in (lambda: s.command("FROB NICATE"), lambda: s.exec("NoSuchApp", "x")):
            try:
                await call()
            except AgiCommandError as exc:
                out.append((exc.code, str(exc)))
        await s.answer()
        out.append(s.usable)

    result, server = await run_call(flow, lambda p: (
        p.expect("FROB NICATE", "510 Invalid or unknown command")
        .expect('EXEC NoSuchApp "x"', "200 result=-2")
        .expect("ANSWER", "200 result=0")
    ))
    result.assert_ok()
    assert out[0][0] == 510 and "Invalid or unknown command" in out[0][1]  # type: ignore[index]
    assert out[1][0] == 200 and "NoSuchApp" in out[1][1]  # type: ignore[index]
    assert out[2] is True
    assert server.sessions_completed == 1


async def test_garbage_reply_is_a_protocol_error() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        try:
            await s.answer()
        except AgiProtocolError as exc:
            out.append(str(exc))
        with pytest.raises(AgiProtocolError):
            await s.answer()  # not sent: nothing can be trusted any more

    result, server = await run_call(flow, lambda p: p.expect("ANSWER", "OK then"))
    result.assert_ok()
    assert "OK then" in out[0]  # type: ignore[operator]
    assert server.malformed == 1
    assert result.commands == ["ANSWER"]


# ------------------------------------------------------------------ timeouts / closing


async def test_command_timeout_poisons_session_and_late_reply_is_not_shifted() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            await s.command("STREAM FILE custom/long \"\"", timeout=0.2)
        except AgiTimeout:
            out.append(round(loop.time() - t0, 1))
        assert not s.usable
        with pytest.raises(AgiTimeout):
            await s.get_variable("X")  # refused locally, the late reply cannot land on it
        raise AgiTimeout("flow gives up")

    result, server = await run_call(flow, lambda p: (
        p.expect("STREAM FILE custom/long .*").sleep(0.4).send("200 result=0 endpos=1")
    ))
    result.assert_ok()
    assert out == [0.2]
    assert result.commands == ['STREAM FILE custom/long ""']
    assert server.sessions_failed == 1


async def test_default_timeout_is_the_servers_command_timeout() -> None:
    out: list[type[BaseException]] = []

    async def flow(s: AgiSession) -> None:
        try:
            await s.answer()
        except AgiError as exc:
            out.append(type(exc))

    result, _ = await run_call(flow, lambda p: p.expect("ANSWER").sleep(0.6),
                               command_timeout=0.3)
    result.assert_ok()
    assert out == [AgiTimeout]


async def test_connection_closed_mid_command_unwinds_handler_without_task_leak() -> None:
    reached: list[str] = []
    before = len(asyncio.all_tasks())

    async def flow(s: AgiSession) -> None:
        try:
            await s.stream_file("custom/welcome")
        except AgiHangup:
            reached.append("hangup")
            raise
        finally:
            reached.append("finally")

    result, server = await run_call(flow, lambda p: p.expect("STREAM FILE .*").close())
    assert result.ok and not result.closed_by_server
    assert reached == ["hangup", "finally"]
    assert server.hangups == 1 and server.active == 0
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) == before


async def test_half_close_mid_command_is_a_hangup() -> None:
    out: list[str] = []

    async def flow(s: AgiSession) -> None:
        try:
            await s.answer()
        except AgiHangup as exc:
            out.append(str(exc))

    result, _ = await run_call(flow, lambda p: p.expect("ANSWER").close(half=True))
    result.assert_ok()
    assert out == ["connection closed"]
    assert result.closed_by_server


async def test_cancelled_command_poisons_session() -> None:
    out: list[object] = []

    async def flow(s: AgiSession) -> None:
        task = asyncio.ensure_future(s.stream_file("custom/hold-music"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        out.append(s.usable)
        with pytest.raises(AgiError, match="cancelled"):
            await s.answer()

    result, _ = await run_call(flow, lambda p: p.expect("STREAM FILE .*").sleep(0.3))
    result.assert_ok()
    assert out == [False]


async def test_concurrent_commands_in_one_session_are_serialised() -> None:
    got: list[str | None] = []

    async def flow(s: AgiSession) -> None:
        got.extend(await asyncio.gather(*(s.get_variable(f"V{i}") for i in range(5))))

    script = lambda p: p  # noqa: E731
    result, _ = await run_call(flow, lambda p: (
        script(p)
        .expect("GET VARIABLE V0", "200 result=1 (0)", delay=0.02)
        .expect("GET VARIABLE V1", "200 result=1 (1)")
        .expect("GET VARIABLE V2", "200 result=1 (2)", delay=0.02)
        .expect("GET VARIABLE V3", "200 result=1 (3)")
        .expect("GET VARIABLE V4", "200 result=1 (4)")
    ))
    result.assert_ok()
    assert got == ["0", "1", "2", "3", "4"]


async def test_newline_in_command_is_rejected_before_sending() -> None:
    async def flow(s: AgiSession) -> None:
        with pytest.raises(ValueError):
            await s.set_variable("X", "a\nHANGUP")
        await s.answer()

    result, _ = await run_call(flow, lambda p: p.expect("ANSWER", "200 result=0"))
    result.assert_ok()
    assert result.commands == ["ANSWER"]
