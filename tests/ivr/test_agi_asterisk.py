"""AgiServer against a real Asterisk 22 (the provisioned chroot): wire format as it really is.

A minimal Asterisk instance (no SIP) originates Local channels whose dialplan half runs
``AGI(agi://127.0.0.1:P/<script>?line=12345,first,second arg)``; the other half runs
``Wait(n)`` and hangs up after n seconds, which is the caller hanging up. Skipped when the
chroot is not there (``stack/provision.sh`` builds it) or without root (chroot needs it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr.agi import AgiCommandError, AgiHangup, AgiServer, AgiSession
from testkit.redis_server import free_port

CHROOT = Path(os.environ.get("HOTLINE_CHROOT", "/var/cache/hotline/asterisk-sid"))
BEEP = "/usr/share/asterisk/sounds/en_US_f_Allison/beep"
LONG = "/usr/share/asterisk/moh/macroform-cold_day"

# `make test` provisions the chroot and runs as root: these tests never skip.
pytestmark = [pytest.mark.e2e]

MODULES = """res_timing_timerfd pbx_config res_speech res_agi res_clioriginate func_channel
func_strings func_global format_wav format_pcm format_sln codec_ulaw codec_alaw codec_resample
app_playback""".split()


@dataclass
class Asterisk:
    inst: str  # instance dir as seen inside the chroot
    agi_port: int

    def cli(self, command: str) -> str:
        out = subprocess.run(
            ["chroot", str(CHROOT), "/usr/sbin/asterisk", "-C", f"{self.inst}/etc/asterisk.conf",
             "-rx", command], capture_output=True, text=True, timeout=20)
        return out.stdout

    def originate(self, script: str, caller_wait: float) -> None:
        self.cli(f"channel originate Local/{script}@agitest application Wait {caller_wait}")

    def globals(self) -> dict[str, str]:
        out = self.cli("dialplan show globals")
        result = {}
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("STATUS_") and "=" in line:
                key, _, value = line.partition("=")
                result[key.strip()] = value.strip()
        return result


@pytest.fixture(scope="module")
def asterisk() -> Iterator[Asterisk]:
    name = f"agitest-{uuid.uuid4().hex[:8]}"
    inst = f"/srv/{name}"
    root = CHROOT / inst.lstrip("/")
    port = free_port()
    for d in ("etc", "lib", "spool", "run", "log"):
        (root / d).mkdir(parents=True)
    moddir = next(p for p in (CHROOT / "usr/lib").glob("*/asterisk/modules"))
    (root / "etc/asterisk.conf").write_text(f"""[directories]
astetcdir => {inst}/etc
astmoddir => /{moddir.relative_to(CHROOT)}
astvarlibdir => /var/lib/asterisk
astdbdir => {inst}/lib
astkeydir => {inst}/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {inst}/spool
astrundir => {inst}/run
astlogdir => {inst}/log
astsbindir => /usr/sbin
[options]
verbose = 3
nocolor = yes
""")
    (root / "etc/modules.conf").write_text(
        "[modules]\nautoload = no\n" + "".join(f"load => {m}.so\n" for m in MODULES))
    (root / "etc/logger.conf").write_text("[logfiles]\nmessages.log => notice,warning,error\n")
    (root / "etc/extensions.conf").write_text(f"""[general]
[globals]
[agitest]
exten => _[a-z].,1,Set(TAG=${{EXTEN}})
 same => n,AGI(agi://127.0.0.1:{port}/${{EXTEN}}?line=12345,first,second arg)
 same => n,Set(GLOBAL(STATUS_${{TAG}})=${{AGISTATUS}}/${{HOTLINE_AGI_ERROR}}/${{AFTER}})
 same => n,Hangup()
exten => h,1,Set(GLOBAL(STATUS_${{TAG}})=${{AGISTATUS}}/${{HOTLINE_AGI_ERROR}}/${{AFTER}})
""")
    proc = subprocess.Popen(
        ["chroot", str(CHROOT), "/usr/sbin/asterisk", "-C", f"{inst}/etc/asterisk.conf", "-f"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ast = Asterisk(inst, port)
    try:
        deadline = time.monotonic() + 30
        while "fully booted" not in ast.cli("core waitfullybooted").lower():
            assert proc.poll() is None, "asterisk exited"
            assert time.monotonic() < deadline, "asterisk did not boot"
            time.sleep(0.2)
        yield ast
    finally:
        ast.cli("core stop now")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


class Recorder:
    """Wraps a session's input so a test sees every line Asterisk sent after a point."""

    def __init__(self, session: AgiSession) -> None:
        self.lines: list[str] = []
        original = session.feed

        def feed(data: bytes) -> None:
            self.lines.extend(data.decode("utf-8", "replace").splitlines())
            original(data)

        session.feed = feed  # type: ignore[method-assign]


async def _status(ast: Asterisk, script: str, timeout: float = 15.0) -> str:  # noqa: ASYNC109
    """Wait for the dialplan to record the call's outcome after AGI() returned."""
    key = f"STATUS_{script}"
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(ast.globals)
        if key in found:
            return found[key]
        assert time.monotonic() < deadline, f"no {key} in the dialplan globals"
        await asyncio.sleep(0.1)


async def test_real_asterisk_env_commands_and_errors(asterisk: Asterisk) -> None:
    seen: dict[str, Any] = {}

    async def flow(s: AgiSession) -> None:
        seen.update(env=dict(s.env), script=s.script, params=s.params, args=s.args)
        await s.answer()
        seen["name"] = await s.get_variable("CHANNEL(name)")
        await s.set_variable("AFTER", 'it "works"')
        seen["after"] = await s.get_variable("AFTER")
        seen["unset"] = await s.get_variable("NO_SUCH_VAR")
        for line in ("FROB NICATE", "STREAM FILE"):
            try:
                await s.command(line)
            except AgiCommandError as exc:
                seen[line] = (exc.code, exc.response.data)
        seen["beep"] = await s.stream_file(BEEP, "#")
        seen["exec"] = await s.exec("Wait", "0.1")
        await s.verbose("FastAGI test 你好", 1)

    async with AgiServer({"checks": flow}, port=asterisk.agi_port) as server:
        await asyncio.to_thread(asterisk.originate, "checks", 10)
        status = await _status(asterisk, "checks")
    assert server.sessions_completed == 1 and server.sessions_failed == 0
    env = seen["env"]
    assert env["network"] == "yes"
    assert env["network_script"] == "checks?line=12345"
    assert env["request"] == f"agi://127.0.0.1:{asterisk.agi_port}/checks?line=12345"
    assert env["extension"] == "checks" and env["context"] == "agitest"
    assert env["channel"].startswith("Local/checks@agitest-") and env["enhanced"] == "0.0"
    assert env["version"].startswith("22.")
    assert seen["script"] == "checks" and seen["params"] == {"line": "12345"}
    assert seen["args"] == ["first", "second arg"]
    assert seen["name"] == env["channel"]
    assert seen["after"] == 'it "works"'
    assert seen["unset"] is None
    assert seen["FROB NICATE"][0] == 510
    code, usage = seen["STREAM FILE"]  # a multi-line 520: the command's documentation
    assert code == 520 and "Send the given file" in usage and usage.count("\n") > 3
    assert seen["beep"] == ""
    assert seen["exec"].code == 200
    # The flow returned: Asterisk reports SUCCESS and the dialplan goes on.
    assert status == 'SUCCESS//it "works"'


async def test_real_asterisk_hangup_during_playback(asterisk: Asterisk) -> None:
    seen: dict[str, Any] = {}

    async def flow(s: AgiSession) -> None:
        rec = Recorder(s)
        await s.answer()
        try:
            await s.stream_file(LONG, timeout=20)
        except AgiHangup as exc:
            seen["exc"] = str(exc)
        await asyncio.sleep(0.3)  # let the HANGUP line arrive
        seen["lines"] = list(rec.lines)
        try:
            await s.get_variable("CHANNEL(name)")
        except AgiHangup:
            seen["after"] = "refused"

    async with AgiServer({"playhang": flow}, port=asterisk.agi_port) as server:
        await asyncio.to_thread(asterisk.originate, "playhang", 1)
        await _status(asterisk, "playhang")
    assert "result=-1" in seen["exc"]
    lines = seen["lines"]
    assert lines[0] == "200 result=0"  # ANSWER
    assert lines[1].startswith("200 result=-1 endpos=")
    assert lines[2:] == ["HANGUP"]  # the notification comes after the reply
    assert seen["after"] == "refused"
    assert server.hangups == 1 and server.sessions_failed == 0


async def test_real_asterisk_hangup_while_idle(asterisk: Asterisk) -> None:
    seen: dict[str, Any] = {}

    async def flow(s: AgiSession) -> None:
        rec = Recorder(s)
        await s.answer()
        await asyncio.wait_for(s.wait_hangup(), 10)
        seen["lines"] = list(rec.lines)
        try:
            await s.stream_file(BEEP)
        except AgiHangup:
            seen["after"] = "refused"
        # Asterisk still answers variable reads on the dead channel ...
        seen["dead_read"] = await s.get_variable("CHANNEL(name)", allow_dead=True)
        # ... but refuses channel commands with its 511
        try:
            await s.command(f'STREAM FILE {BEEP} ""', allow_dead=True)
        except AgiHangup as exc:
            seen["dead_stream"] = str(exc)

    async with AgiServer({"idlehang": flow}, port=asterisk.agi_port) as server:
        await asyncio.to_thread(asterisk.originate, "idlehang", 1)
        status = await _status(asterisk, "idlehang")
    assert seen["lines"] == ["200 result=0", "HANGUP"]
    assert seen["after"] == "refused"
    assert seen["dead_read"].startswith("Local/idlehang@agitest-")
    assert "511 Command Not Permitted on a dead channel" in seen["dead_stream"]
    assert server.hangups == 1
    assert status.startswith("HANGUP/")


async def test_real_asterisk_unknown_script_sets_error_variable(asterisk: Asterisk) -> None:
    async with AgiServer({"inbound": lambda s: asyncio.sleep(0)},
                         port=asterisk.agi_port) as server:
        await asyncio.to_thread(asterisk.originate, "nosuchflow", 5)
        status = await _status(asterisk, "nosuchflow")
    assert server.unknown_script == 1
    # AGISTATUS says SUCCESS when the FastAGI side closes: only our variable tells.
    assert status == "SUCCESS/unknown-script/"
