"""The FastAGI load generator (testkit/agi_load.py, driven by bench/agi_load.py) stays honest:
a short load against both servers, in process; and the benchmark script itself still runs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ivr.agi import AgiServer
from testkit import agi_load

BENCH = Path(__file__).resolve().parents[2] / "bench" / "agi_load.py"


async def test_load_generator_against_our_server_and_the_baseline() -> None:
    server = AgiServer({"inbound": agi_load.our_flow}, port=0)
    await server.start()
    try:
        ours = await agi_load.load("127.0.0.1", server.port, rate=60, seconds=0.5, label="ours")
    finally:
        await server.stop()
    bare_srv = await asyncio.start_server(agi_load.bare_handle, "127.0.0.1", 0)
    try:
        port = bare_srv.sockets[0].getsockname()[1]
        bare = await agi_load.load("127.0.0.1", port, rate=60, seconds=0.5, label="bare")
    finally:
        bare_srv.close()
        await bare_srv.wait_closed()

    for r in (ours, bare):
        assert r.launched == 30 and r.ok == 30 and r.failed == 0, r.errors
        assert len(r.rtts) == 90 and len(r.durations) == 30
    assert server.sessions_completed == 30 and server.sessions_failed == 0
    text = agi_load.report_self([(ours, bare)], 0.5)
    assert "| ours" in text and "| bare" in text and "x |" in text


async def test_load_generator_counts_failures() -> None:
    async def two_commands(s: object) -> None:
        await s.answer()  # type: ignore[attr-defined]

    server = AgiServer({"inbound": two_commands}, port=0)
    await server.start()
    try:
        r = await agi_load.load("127.0.0.1", server.port, rate=40, seconds=0.25)
    finally:
        await server.stop()
    assert r.ok == 0 and r.failed == r.launched == 10  # 1 command instead of 3
    assert not r.sustained


def test_percentiles() -> None:
    values = [float(i) for i in range(1, 101)]
    assert agi_load.pct(values, 50) == 50.0
    assert agi_load.pct(values, 99) == 99.0
    assert agi_load.pct([3.0], 99) == 3.0


async def test_the_benchmark_script_loads_a_server_from_the_command_line() -> None:
    """``python bench/agi_load.py --target`` (how the benchmark is run) finds testkit and
    reports a full, failure-free run: 20/s for 0.5 s is 10 sessions of 3 commands."""
    server = AgiServer({"inbound": agi_load.our_flow}, port=0)
    await server.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(BENCH), "--target", f"127.0.0.1:{server.port}", "--rate", "20",
            "--seconds", "0.5", cwd="/", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await server.stop()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "10/10" in text, text
    assert server.sessions_completed == 10
