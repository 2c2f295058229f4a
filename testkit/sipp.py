"""SIPp (Debian's sip-tester) as callers and agents' phones, run inside the Asterisk root.

Scenario files live in tests/sipp/ and are copied into the root so the chrooted SIPp can
read them. Callers run to completion; agents' phones run in the background until stopped.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from stack.asterisk import sipp_argv

# The scenarios stay with the tests that use them (bench/agi_asterisk.py reads caller.xml too).
SCENARIOS = Path(__file__).resolve().parent.parent / "tests" / "sipp"


@dataclass
class SippResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Sipp:
    """Runs SIPp against one Asterisk instance (``sip_port`` on ``target``)."""

    def __init__(self, root: Path, work: Path, inside: str, sip_port: int,
                 target: str = "127.0.0.1") -> None:
        self.root = root
        self.work = work            # host path of a directory inside the root
        self.inside = inside        # the same directory as SIPp sees it
        self.sip_port = sip_port
        self.target = target
        work.mkdir(parents=True, exist_ok=True)
        for xml in SCENARIOS.glob("*.xml"):
            shutil.copyfile(xml, work / xml.name)

    def _argv(self, scenario: str, *extra: str) -> list[str]:
        return sipp_argv(self.root, "-sf", f"{self.inside}/{scenario}", *extra,
                         f"{self.target}:{self.sip_port}")

    async def call(self, number: str, caller: str, *, local_port: int, media_port: int,
                   talk_ms: int = 3000, source_ip: str = "127.0.0.1",
                   timeout: float = 90.0, scenario: str = "caller.xml") -> SippResult:
        """One citizen's call; returns when SIPp ends (the caller hung up, or failed)."""
        return await self._one_call(scenario, number, caller, local_port, media_port,
                                    source_ip, timeout, "-d", str(talk_ms))

    async def refused(self, number: str, caller: str, expect: int, *, local_port: int,
                      media_port: int, source_ip: str = "127.0.0.1",
                      timeout: float = 30.0) -> SippResult:
        # SIPp does not substitute keywords in <recv response=...>: one file per code.
        scenario = f"rejected-{expect}.xml"
        text = (SCENARIOS / "rejected.xml").read_text().replace("[expect]", str(expect))
        (self.work / scenario).write_text(text)
        return await self._one_call(scenario, number, caller, local_port, media_port,
                                    source_ip, timeout)

    async def _one_call(self, scenario: str, number: str, caller: str, local_port: int,
                        media_port: int, source_ip: str, timeout: float,
                        *extra: str) -> SippResult:
        argv = self._argv(
            scenario, "-s", number, "-key", "caller", caller, *extra, "-i", source_ip,
            "-p", str(local_port), "-mp", str(media_port), "-m", "1", "-l", "1", "-nostdin",
            "-timeout", f"{int(timeout)}s", "-timeout_error",
            "-recv_timeout", f"{int(timeout * 1000)}",
        )
        return await _run(argv, timeout + 10)

    def phone(self, agent_id: str, *, port: int, media_port: int, ring_ms: int = 200,
              scenario: str = "agent.xml", local_ip: str = "127.0.0.1",
              rtp_echo: bool = True, trace_messages: bool = False
              ) -> subprocess.Popen[bytes]:
        """An agent's phone answering every call after ``ring_ms`` (until terminated).
        ``rtp_echo``: it sends back what it hears; without, it stays silent.
        ``trace_messages``: every SIP message it sees goes to phone-<id>-messages.log."""
        log = open(self.work / f"phone-{agent_id}-{port}.log", "wb")  # noqa: SIM115
        echo = ["-rtp_echo"] if rtp_echo else []
        if trace_messages:
            echo += ["-trace_msg", "-message_file", f"{self.inside}/phone-{agent_id}-messages.log"]
        argv = self._argv(scenario, "-d", str(ring_ms), "-i", local_ip,
                          "-p", str(port), "-mp", str(media_port), *echo, "-nostdin",
                          "-trace_err", "-error_file", f"{self.inside}/phone-{agent_id}.err",
                          "-trace_logs", "-log_file", f"{self.inside}/phone-{agent_id}-events.log")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


    async def register(self, agent_id: str, password: str, *, local_ip: str, port: int,
                       expect: int, timeout: float = 30.0) -> SippResult:
        """An agent's phone REGISTERs from ``local_ip:port`` with digest ``password``;
        the scenario passes when the answer to the authenticated REGISTER is ``expect``
        (200 registered, 401 refused). Run ``phone()`` on the same address afterwards:
        Asterisk rings the contact it saw the REGISTER come from."""
        scenario = f"register-{expect}.xml"
        text = (SCENARIOS / "register.xml").read_text().replace("[expect]", str(expect))
        (self.work / scenario).write_text(text)
        argv = self._argv(scenario, "-s", agent_id, "-au", agent_id, "-ap", password,
                          "-i", local_ip, "-p", str(port), "-m", "1", "-l", "1", "-nostdin",
                          "-timeout", f"{int(timeout)}s", "-timeout_error")
        return await _run(argv, timeout + 10)


async def _run(argv: list[str], timeout: float) -> SippResult:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return SippResult(-1, out.decode(errors="replace"))
    return SippResult(proc.returncode or 0, out.decode(errors="replace"))


def write_silence_wav(path: Path, seconds: float) -> None:
    """An 8 kHz mono 16-bit WAV of silence (a stand-in prompt that costs no playing time)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))


def short_pcap(src: Path, dest: Path, packets: int) -> None:
    """The first ``packets`` packets of a pcap file (a shorter RTP burst for SIPp)."""
    data = src.read_bytes()
    out, off = [data[:24]], 24
    for _ in range(packets):
        if off >= len(data):
            break
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        out.append(data[off:off + 16 + incl])
        off += 16 + incl
    dest.write_bytes(b"".join(out))
