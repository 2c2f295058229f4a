"""An outage of a TCP link, started and ended by the test (连接中断): the proxy of
testkit/tcp_proxy.py, which can also cut every connection *now* and keep the link down —
every new connection dropped at once — until the test restores it.

For a core instance's AMI connection (tests/e2e/test_fault_ami_two_cores.py): the core
loses its connection, its reconnects fail (with its backoff) while the link is down, and
the first one after :meth:`OutageProxy.restore` gets through.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from testkit.tcp_proxy import TcpProxy


@dataclass
class OutageProxy(TcpProxy):
    down: bool = False
    refused: int = 0             # connections dropped while down (the client's retries)

    def cut_now(self, timeout: float = 10.0) -> None:
        """Drop every connection through the proxy and keep the link down."""
        assert self._loop is not None, "start() first"
        self.down = True
        done = asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop)
        done.result(timeout)

    def restore(self) -> None:
        """The link is up again: the next connection passes."""
        self.down = False

    async def _drop_all(self) -> None:
        writers = list(self._writers)
        for w in writers:
            w.transport.abort()
        if writers:
            self.cuts += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            self.refused += 1
            writer.transport.abort()
            return
        await super()._accept(reader, writer)
