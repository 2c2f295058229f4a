"""Transfer set-up time (转接建立时间): the agent's request → the centre receives the INVITE.

    .venv/bin/python bench/transfer_setup.py [--transfers 30] [--keep]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, an Asterisk 22
instance in the sid chroot, the core as a subprocess), one SIPp agent phone (answers after
200 ms) and a "119" centre that is a small UDP responder in this process on 127.0.0.119:
it notes the arrival of every INVITE (``time.monotonic()``) and answers ``486 Busy Here``.
One SIPp citizen calls 12345 and stays on the line; the agent answers. Then, one after
another, ``--transfers`` blind transfers of that call to 119 are asked over HTTP
(``POST /api/calls/{id}/transfer`` with the agent's token; the clock starts just before the
request is sent). Each busy answer sends the citizen back to the agent (the path the e2e
tests check), and the next transfer waits until the agent's leg is up again.

Measured per transfer: request sent → the centre's INVITE received (one clock, one process).
It holds the HTTP request, the token check, the live-call and call-record look-ups, the
policy check, the row insert, AMI Setvar + Redirect, the dialplan and PJSIP's INVITE.

Bounded: ``--transfers`` (at most 200), every wait has a timeout, the citizen's SIPp has
``-m 1`` and a global timeout; the stack is stopped and its files removed on exit or
failure (``--keep`` keeps them). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.stack import Agent, HotlineStack, free_udp_port  # noqa: E402

CENTRE_IP = "127.0.0.119"


class BusyCentre(asyncio.DatagramProtocol):
    """A centre's trunk that is always busy; keeps the arrival time of each INVITE."""

    def __init__(self) -> None:
        self.invites: asyncio.Queue[float] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        at = time.monotonic()
        text = data.decode(errors="replace")
        if not text.startswith("INVITE "):
            return                      # ACK of our 486, retransmissions' ACKs
        headers = text.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [h for h in headers[1:] if h.split(":", 1)[0].lower()
                in ("via", "from", "call-id", "cseq")]
        to = next(h for h in headers if h.lower().startswith("to:"))
        reply = "\r\n".join(["SIP/2.0 486 Busy Here", *keep, f"{to};tag=busy{int(at * 1e6)}",
                             "Content-Length: 0", "", ""])
        assert self.transport is not None
        self.transport.sendto(reply.encode(), addr)
        self.invites.put_nowait(at)


def _centres(port: int) -> str:
    return (f'line = "12345000"\nring_seconds = 10\n[[centre]]\nnumber = "119"\n'
            f'name = "119 bench"\naddresses = ["{CENTRE_IP}"]\nuri = "sip:{CENTRE_IP}:{port}"\n')


async def _agent_leg_up(hl: HotlineStack, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert hl.asterisk is not None
        out = await asyncio.to_thread(hl.asterisk.cli, "core show channels concise")
        if any(line.startswith("PJSIP/1001-") and "!Up!" in line for line in out.splitlines()):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the agent's leg never came up")


async def _agent_on_call(hl: HotlineStack, call_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        agents = {a["agent_id"]: a for a in (await hl.aapi("GET", "/api/agents"))["agents"]}
        a = agents.get("1001", {})
        if a.get("state") == "on_call" and a.get("current_call") == call_id:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("agent 1001 never had the call back")


async def run(transfers: int, keep: bool) -> dict[str, float | int]:
    port = free_udp_port()
    hl = HotlineStack(agents=[Agent("1001", {"general": 1})], centres=_centres(port))
    loop = asyncio.get_running_loop()
    transport, centre = await loop.create_datagram_endpoint(
        BusyCentre, local_addr=(CENTRE_IP, port))
    try:
        await asyncio.to_thread(hl.start)
        hl.login("1001")
        citizen = asyncio.create_task(hl.call("12345", "13800138999",
                                              talk_ms=transfers * 4000 + 20000))
        call = await hl.wait_call(lambda c: c["caller"].endswith("8999")
                                  and c["answered_at"] is not None)
        samples: list[float] = []
        for _ in range(transfers):
            await _agent_leg_up(hl)
            await _agent_on_call(hl, call["id"])
            while not centre.invites.empty():
                centre.invites.get_nowait()
            started = time.monotonic()
            res = await hl.aapi("POST", f"/api/calls/{call['id']}/transfer",
                                {"target": "119", "mode": "blind"}, as_="1001")
            if res.get("outcome") != "requested":
                raise RuntimeError(f"transfer refused: {res}")
            arrived = await asyncio.wait_for(centre.invites.get(), 15)
            samples.append((arrived - started) * 1000)
            # The busy centre gives the citizen back: wait for the row, then the agent.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                rows = (await hl.aapi("GET", f"/api/calls/{call['id']}/transfers"))["transfers"]
                if rows and rows[-1]["outcome"] == "busy":
                    break
                await asyncio.sleep(0.05)
        # Done: the platform ends the citizen's call; the citizen's SIPp exits on the BYE.
        assert hl.asterisk is not None
        await asyncio.to_thread(hl.asterisk.cli, "channel request hangup all")
        await citizen
        samples.sort()
        return {"transfers": len(samples),
                "p50_ms": round(statistics.median(samples), 1),
                "p99_ms": round(samples[min(len(samples) - 1,
                                            int(round(0.99 * (len(samples) - 1))))], 1),
                "min_ms": round(samples[0], 1), "max_ms": round(samples[-1], 1)}
    finally:
        transport.close()
        if keep:
            import os
            os.environ["HOTLINE_KEEP_E2E"] = "1"
        await asyncio.to_thread(hl.stop)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.transfers <= 200:
        parser.error("--transfers: 1-200")
    print(json.dumps(asyncio.run(run(args.transfers, args.keep))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
