"""testkit.tcp_proxy: bytes pass both ways; an armed cut drops the client's connection at
the marker, before or after the server got it; the next connection passes untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from testkit.tcp_proxy import TcpProxy


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """An echo server on loopback that keeps everything it received."""
    got: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            got.append(data)
            writer.write(data)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield srv.sockets[0].getsockname()[1], got
    srv.close()


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(1024), 5)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_bytes_pass_both_ways(server: tuple[int, list[bytes]]) -> None:
    port, got = server
    proxy = TcpProxy(port).start()
    try:
        assert await _exchange(proxy.port, b"Action: Ping\r\n\r\n") == b"Action: Ping\r\n\r\n"
        assert got == [b"Action: Ping\r\n\r\n"]
        assert (proxy.connections, proxy.cuts) == (1, 0)
    finally:
        proxy.stop()


@pytest.mark.parametrize(("mode", "server_got"), [("before", False), ("after", True)])
async def test_a_cut_drops_the_client_at_the_marker(
        server: tuple[int, list[bytes]], mode: str, server_got: bool) -> None:
    port, got = server
    proxy = TcpProxy(port).start()
    try:
        proxy.cut_on(b"Action: Originate", mode)
        # No answer reaches the client: its connection is dropped.
        assert await _exchange(proxy.port, b"Action: Originate\r\n\r\n") == b""
        assert await asyncio.to_thread(proxy.wait_cut, 5)
        assert proxy.cuts == 1
        assert (b"Action: Originate\r\n\r\n" in got) is server_got
        # One-shot: the reconnect passes.
        assert await _exchange(proxy.port, b"Action: Originate\r\n\r\n") \
            == b"Action: Originate\r\n\r\n"
        assert (proxy.connections, proxy.cuts) == (2, 1)
    finally:
        proxy.stop()
