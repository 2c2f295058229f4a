"""The AMI client (ivr/ami.py) reconnects after connections the peer drops at once.

A link that is down (a proxy, a restarting Asterisk) accepts the TCP connection and drops
it before a word is said. On the core's event loop (uvloop, stack/core.py) the drop reached
panoramisk's protocol before its manager had attached it: the protocol's ``connection_lost``
failed (``'NoneType' object has no attribute 'connection_lost'``), the client never heard
of the loss, never reconnected, and panoramisk logged the Login action — secret included —
as it failed to send it on the closed transport (seen in
tests/e2e/test_fault_ami_two_cores.py). Here a loopback server plays that link for the
first connections, then answers like Asterisk's manager: the client must log in, on both
event loops, and never log the secret.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from ivr.ami import AmiClient

SECRET = "s3cret-not-for-logs"
DROPPED = 20                       # connections dropped at once before the link is up


class FlakyManager:
    """An AMI peer on loopback, in a thread of its own (as a proxy or Asterisk is a process
    of its own: its drop races with the client's set-up): drops the first ``DROPPED``
    connections at once, then greets and accepts the Login like Asterisk."""

    def __init__(self) -> None:
        self.connections = 0
        self.logins = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def start(self) -> FlakyManager:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= DROPPED:
            writer.transport.abort()
            return
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                action = re.search(rb"ActionID: (\S+)", block)
                if b"Action: Login" in block and action is not None:
                    self.logins += 1
                    writer.write(b"Response: Success\r\nActionID: " + action[1]
                                 + b"\r\nMessage: Authentication accepted\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            writer.close()


async def _log_in(port: int) -> None:
    client = AmiClient("127.0.0.1", port, "hotline", SECRET, timeout=2, backoff=(0.01, 0.05))
    client.start()
    try:
        await client.wait_connected(10)
    finally:
        await client.stop()


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_logs_in_after_connections_dropped_at_once(
        run: Callable[[Coroutine[Any, Any, None]], None],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    peer = FlakyManager().start()
    try:
        run(_log_in(peer.port))
    finally:
        peer.stop()
    assert (peer.connections, peer.logins) == (DROPPED + 1, 1)
    assert SECRET not in caplog.text


async def _cut_off_while_down() -> list[bool]:
    """``cut_off`` before the first login, logged in, after the link is lost, back."""
    peer = FlakyManager()
    peer.connections = DROPPED           # no drops: a plain manager
    peer.start()
    client = AmiClient("127.0.0.1", peer.port, "hotline", SECRET, timeout=2,
                       backoff=(0.01, 0.05))
    seen = [client.cut_off]
    client.start()
    try:
        await client.wait_connected(10)
        seen.append(client.cut_off)
        client._manager.protocol.transport.abort()      # the link drops
        async with asyncio.timeout(10):
            while client.connected:     # noqa: ASYNC110 - the client has no "lost" event
                await asyncio.sleep(0.01)
        seen.append(client.cut_off)
        await client.wait_connected(10)                 # reconnected with the backoff
        seen.append(client.cut_off)
    finally:
        await client.stop()
        peer.stop()
    return seen


def test_cut_off_only_after_a_lost_connection() -> None:
    assert uvloop.run(_cut_off_while_down()) == [False, False, True, False]
