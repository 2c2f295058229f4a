"""A TCP proxy on loopback that a test controls (测试用 TCP 代理): put it between two real
parts (the core and Asterisk's AMI) and cut the connection at a chosen moment.

The proxy runs its own event loop in a thread, so a synchronous test helper and an async
test can both use it. ``cut_on(marker)`` arms a one-shot cut: the first time ``marker``
(bytes, e.g. ``b"Action: Originate"``) passes from the client to the server, the proxy
either drops the connection before those bytes reach the server (``before``) or forwards
them and drops it right after (``after``: the server acts on the request, its answer never
reaches the client). Later connections (the client's reconnect) pass untouched.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from testkit.redis_server import free_port

CUT_MODES = ("before", "after")


@dataclass
class TcpProxy:
    target_port: int = 0         # the server's port (HotlineStack sets it)
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    connections: int = 0          # accepted so far
    cuts: int = 0                 # connections this proxy cut
    _marker: bytes = b""
    _mode: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _cut_done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> TcpProxy:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)    # this thread's loop (gather() looks it up)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, self.host, self.port))
            ready.set()
            loop.run_forever()
            # Stopped: drop every connection (never wait for a peer: stop() may run on the
            # thread of the peer's own event loop), end the copying tasks, then close.
            self._close_all()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"tcp proxy did not listen on {self.port}")
        return self

    def cut_on(self, marker: bytes, mode: str) -> None:
        """Arm a one-shot cut at the next ``marker`` sent by a client."""
        if mode not in CUT_MODES:
            raise ValueError(f"mode must be one of {CUT_MODES}, not {mode!r}")
        self._cut_done.clear()
        self._marker, self._mode = marker, mode

    def wait_cut(self, timeout: float) -> bool:
        """True once the armed cut has happened."""
        return self._cut_done.wait(timeout)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- inside the proxy's loop ----------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.target_port), 5)
        except (OSError, TimeoutError):
            writer.close()
            return
        self._writers |= {writer, up_writer}
        closed = asyncio.Event()
        await asyncio.gather(self._pipe(reader, up_writer, closed, client=writer),
                             self._pipe(up_reader, writer, closed, client=None))
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    closed: asyncio.Event, *, client: asyncio.StreamWriter | None) -> None:
        """Copy one direction; ``client`` is given for the client-to-server direction."""
        pending = b""     # the tail of the last chunk: a marker split across two reads
        try:
            while not closed.is_set():
                read = asyncio.ensure_future(reader.read(65536))
                stop = asyncio.ensure_future(closed.wait())
                done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                if read not in done:
                    read.cancel()
                    return
                stop.cancel()
                data = read.result()
                if not data:
                    return
                if client is not None and self._marker and self._marker in pending + data:
                    await self._cut(data, writer, client)
                    return
                pending = data[-len(self._marker):] if self._marker else b""
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            return
        finally:
            closed.set()

    async def _cut(self, data: bytes, server: asyncio.StreamWriter,
                   client: asyncio.StreamWriter) -> None:
        mode = self._mode
        self._marker, self._mode = b"", ""
        # The client loses its connection first: no answer reaches it after this point.
        client.transport.abort()
        if mode == "after":
            # The request reaches the server, which gets time to act on it before its
            # side of the connection goes too.
            server.write(data)
            await server.drain()
            await asyncio.sleep(1.0)
        self.cuts += 1
        self._cut_done.set()

    def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
