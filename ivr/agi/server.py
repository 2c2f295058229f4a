"""The asyncio FastAGI server: accepts Asterisk's connections and runs a flow per call.

Each connection is handled in its own task: the header block is read within
``header_timeout`` (a silent or half-open peer is dropped, never waited on by anyone else),
the script name from the AGI URL picks the flow, and the flow runs with an :class:`AgiSession`.

Unknown script and failing flows: the server logs, counts, sets the channel variable
``HOTLINE_AGI_ERROR`` (``unknown-script`` / ``flow-error``) when the channel can still take a
command, and closes the connection. Closing does not hang the call up: the dialplan goes on at
the priority after ``AGI()``. Note that ``AGISTATUS`` is then ``SUCCESS`` (res_agi reports
SUCCESS whenever the FastAGI side closes first), so the dialplan must test
``HOTLINE_AGI_ERROR`` (or a variable the flow sets on success), not ``AGISTATUS``, to choose its
fallback. ``AGISTATUS`` is ``FAILURE`` only when Asterisk could not connect at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ivr.agi.errors import AgiError, AgiHangup, AgiProtocolError
from ivr.agi.protocol import quote, read_headers
from ivr.agi.session import MAX_REPLY_LINE_BYTES, AgiSession

log = logging.getLogger("ivr.agi")

FlowHandler = Callable[[AgiSession], Awaitable[None]]

ERROR_VARIABLE = "HOTLINE_AGI_ERROR"


class AgiServer:
    """FastAGI server routing ``agi://host:port/<script>`` to ``routes[script]``.

    Counters (plain ints, also in :attr:`stats`):

    * ``connections``: accepted TCP connections;
    * ``sessions_started``: flows started; ``active``: flows running now;
    * ``sessions_completed``: flows that returned, or ended by :class:`AgiHangup`;
    * ``sessions_failed``: rejected connections (bad or missing headers), unknown scripts and
      flows that raised anything else;
    * ``hangups``: flows that ended with the channel hung up or the connection gone;
    * ``malformed``: malformed input from a peer (headers or replies);
    * ``header_timeouts``, ``unknown_script``: subsets of ``sessions_failed``.
    """

    def __init__(
        self,
        routes: Mapping[str, FlowHandler],
        host: str = "127.0.0.1",
        port: int = 4573,
        command_timeout: float = 10.0,
        header_timeout: float = 5.0,
        on_error: Callable[[str, BaseException], None] | None = None,
        *,
        error_variable: str | None = ERROR_VARIABLE,
        backlog: int = 1024,
    ) -> None:
        self.routes: dict[str, FlowHandler] = {k.strip("/"): v for k, v in routes.items()}
        self.host = host
        self.port = port
        self.command_timeout = command_timeout
        self.header_timeout = header_timeout
        self.on_error = on_error
        self.error_variable = error_variable
        self.backlog = backlog
        self.connections = 0
        self.sessions_started = 0
        self.sessions_completed = 0
        self.sessions_failed = 0
        self.hangups = 0
        self.malformed = 0
        self.header_timeouts = 0
        self.unknown_script = 0
        self.active = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def stats(self) -> dict[str, int]:
        return {
            "connections": self.connections,
            "sessions_started": self.sessions_started,
            "sessions_completed": self.sessions_completed,
            "sessions_failed": self.sessions_failed,
            "hangups": self.hangups,
            "malformed": self.malformed,
            "header_timeouts": self.header_timeouts,
            "unknown_script": self.unknown_script,
            "active": self.active,
        }

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("AgiServer already started")
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self.port,
            limit=MAX_REPLY_LINE_BYTES,
            backlog=self.backlog,
            reuse_address=True,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("FastAGI server listening on %s:%d (routes: %s)", self.host, self.port,
                 ", ".join(sorted(self.routes)) or "none")

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening, give live sessions ``grace`` seconds, then cancel and await them."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = set(self._tasks)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> AgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ per connection

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        peer = _peername(writer)
        session: AgiSession | None = None
        try:
            session = await self._accept(reader, writer, peer)
            if session is not None:
                await self._run_flow(session)
        except asyncio.CancelledError:
            pass  # server stopping: fall through to closing the connection
        except Exception:  # a bug here must not take the server down
            log.exception("AGI %s: unexpected server error", peer)
        finally:
            try:
                if session is not None:
                    await session.close()
                else:
                    await _close_writer(writer)
            finally:
                self._tasks.discard(task)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> AgiSession | None:
        try:
            async with asyncio.timeout(self.header_timeout):
                request = await read_headers(reader)
        except TimeoutError:
            self.header_timeouts += 1
            self.sessions_failed += 1
            log.warning("AGI %s: no complete header block within %gs, dropped", peer,
                        self.header_timeout)
            return None
        except AgiProtocolError as exc:
            self.malformed += 1
            self.sessions_failed += 1
            log.warning("AGI %s: malformed header block, rejected: %s", peer, exc)
            self._report("", exc)
            return None
        except AgiHangup as exc:
            self.sessions_failed += 1
            log.info("AGI %s: %s", peer, exc)
            return None
        except (ConnectionError, OSError) as exc:
            self.sessions_failed += 1
            log.info("AGI %s: connection error before headers: %s", peer, exc)
            return None
        session = AgiSession(reader, writer, request, self.command_timeout,
                             on_malformed=self._count_malformed)
        session.start()
        return session

    async def _run_flow(self, session: AgiSession) -> None:
        handler = self.routes.get(session.script)
        if handler is None:
            self.unknown_script += 1
            self.sessions_failed += 1
            log.warning("AGI %s: unknown script %r (request %r); closing so the dialplan "
                        "continues", session.uniqueid, session.script,
                        session.env.get("request", ""))
            await self._flag_error(session, "unknown-script")
            return
        self.sessions_started += 1
        self.active += 1
        started = time.monotonic()
        try:
            result = handler(session)
            if inspect.isawaitable(result):
                await result
        except AgiHangup as exc:
            self.sessions_completed += 1
            log.debug("AGI %s: %s ended by hangup: %s", session.uniqueid, session.script, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.sessions_failed += 1
            level = logging.WARNING if isinstance(exc, AgiError) else logging.ERROR
            log.log(level, "AGI %s: flow %r failed after %.3fs: %r", session.uniqueid,
                    session.script, time.monotonic() - started, exc,
                    exc_info=not isinstance(exc, AgiError))
            self._report(session.script, exc)
            await self._flag_error(session, "flow-error")
        else:
            self.sessions_completed += 1
        finally:
            self.active -= 1
            if session.hung_up:
                self.hangups += 1

    async def _flag_error(self, session: AgiSession, reason: str) -> None:
        if self.error_variable is None or not session.usable:
            return
        with contextlib.suppress(AgiError):
            await session.command(f"SET VARIABLE {self.error_variable} {quote(reason)}",
                                  timeout=min(1.0, self.command_timeout))

    def _count_malformed(self, _what: str) -> None:
        self.malformed += 1

    def _report(self, script: str, exc: BaseException) -> None:
        if self.on_error is None:
            return
        try:
            self.on_error(script, exc)
        except Exception:
            log.exception("AGI on_error callback failed")


def _peername(writer: asyncio.StreamWriter) -> str:
    addr = writer.get_extra_info("peername")
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


async def _close_writer(writer: asyncio.StreamWriter, timeout: float = 1.0) -> None:  # noqa: ASYNC109
    try:
        writer.close()
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
