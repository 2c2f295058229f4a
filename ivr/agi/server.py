"""The asyncio FastAGI server: accepts Asterisk's connections and runs a flow per call.

Each connection gets a protocol object that parses the header block as bytes arrive; a peer
that has not completed it within ``header_timeout`` is dropped by a timer, so a silent or
half-open peer never holds up anyone else (nobody awaits it). Once the block is complete the
script name from the AGI URL picks the flow, which runs in its own task with an
:class:`AgiSession`; from then on the protocol feeds the session, which resolves replies.

Unknown script and failing flows: the server logs, counts, sets the channel variable
``HOTLINE_AGI_ERROR`` (``unknown-script`` / ``flow-error``) when the channel can still take a
command, and closes the connection. Closing does not hang the call up: the dialplan goes on at
the priority after ``AGI()``. Note that ``AGISTATUS`` is then ``SUCCESS`` (res_agi reports
SUCCESS whenever the FastAGI side closes first), so the dialplan must test
``HOTLINE_AGI_ERROR`` (or a variable the flow sets on success), not ``AGISTATUS``, to choose its
fallback. ``AGISTATUS`` is ``FAILURE`` only when Asterisk could not connect at all.

Pausing (暂停接入): :meth:`AgiServer.pause` closes the listening socket, so a connect is
refused (``AGISTATUS=FAILURE``) and the dialplan's ``[hotline-agi]`` tries the next core
instance at once; connections already accepted go on. A refusal *after* accepting would not
do: Asterisk sees a finished AGI (``SUCCESS``) and sends the caller to the fallback queue.
:meth:`AgiServer.resume` binds the same address again; :meth:`AgiServer.follow` does both as
a condition changes (stack/core.py: a core instance cut off from AMI).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from hotline_core.backoff import Backoff
from hotline_core.timeouts import cancel_and_wait
from ivr.agi.errors import AgiError, AgiHangup, AgiProtocolError
from ivr.agi.protocol import HeaderParser, quote
from ivr.agi.session import AgiSession

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
        self._paused = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handshaking: set[_AgiProtocol] = set()

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

    @property
    def paused(self) -> bool:
        """Started, but not listening now (:meth:`pause`)."""
        return self._paused

    async def start(self) -> None:
        if self._server is not None or self._paused:
            raise RuntimeError("AgiServer already started")
        self._server = await self._listen()
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("FastAGI server listening on %s:%d (routes: %s)", self.host, self.port,
                 ", ".join(sorted(self.routes)) or "none")

    async def _listen(self) -> asyncio.Server:
        return await asyncio.get_running_loop().create_server(
            lambda: _AgiProtocol(self), self.host, self.port,
            backlog=self.backlog, reuse_address=True,
        )

    def pause(self, why: str) -> None:
        """Stop listening: from now on a connect is refused. Sessions and connections
        already accepted go on. Idempotent; nothing before :meth:`start` or after :meth:`stop`.

        The socket closes at once (not awaiting ``wait_closed``, which on newer Pythons waits
        for the accepted connections too)."""
        server = self._server
        if server is None:
            return
        self._server = None
        self._paused = True
        server.close()
        log.warning("FastAGI paused (%s): %s:%d closed, connections refused until it listens "
                    "again; %d connections accepted so far, %d flows running", why,
                    self.host, self.port, self.connections, self.active)

    async def resume(self) -> None:
        """Listen again on the same address. Idempotent; raises :class:`OSError` (still
        paused) when the address cannot be bound."""
        if not self._paused:
            return
        server = await self._listen()
        if not self._paused:        # stop() ran while binding
            server.close()
            return
        self._server, self._paused = server, False
        log.info("FastAGI listening again on %s:%d; %d connections accepted so far",
                    self.host, self.port, self.connections)

    async def follow(self, accepting: Callable[[], Awaitable[bool]], why: str,
                     every: float = 0.1) -> None:
        """Listen while ``accepting()`` says so, pause while it does not (``why`` says why,
        in the log); asked every ``every`` seconds until cancelled. A failed answer or a
        failed re-bind keeps the current state and is retried with backoff, logged once."""
        trouble = Backoff(log, f"FastAGI listening gate ({self.host}:{self.port})",
                          first=every, cap=5.0)
        while True:
            wait = every
            try:
                if not await accepting():
                    self.pause(why)
                elif self._paused:
                    await self.resume()
                trouble.succeeded()
            except Exception as exc:  # Redis, the bind: keep the state, back off
                wait = trouble.failed(exc)
            await asyncio.sleep(wait)

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening, give live sessions ``grace`` seconds, then cancel and await them.

        Connections still sending their headers are dropped at once.
        """
        server, self._server = self._server, None
        self._paused = False
        if server is not None:
            server.close()
        for proto in list(self._handshaking):
            proto.abort()
        tasks = set(self._tasks)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        await cancel_and_wait(tasks)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> AgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ per connection

    def _rejected(self, peer: str, exc: BaseException) -> None:
        """A connection dropped before its flow could start."""
        self.sessions_failed += 1
        if isinstance(exc, AgiProtocolError):
            self.malformed += 1
            log.warning("AGI %s: malformed header block, rejected: %s", peer, exc)
            self._report("", exc)
        elif isinstance(exc, TimeoutError):
            self.header_timeouts += 1
            log.warning("AGI %s: no complete header block within %gs, dropped", peer,
                        self.header_timeout)
        else:
            log.info("AGI %s: %s", peer, exc)

    def _start_session(self, session: AgiSession) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run_session(session), name=f"agi-{session.uniqueid}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_session(self, session: AgiSession) -> None:
        try:
            await self._run_flow(session)
        except asyncio.CancelledError:
            pass  # server stopping: close below
        except Exception:  # a bug here must not take the server down
            log.exception("AGI %s: unexpected server error", session.uniqueid)
        finally:
            session.close()

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


class _AgiProtocol(asyncio.Protocol):
    """One connection: parses the header block, then hands bytes to its session."""

    def __init__(self, server: AgiServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: AgiSession | None = None
        self.peer = "?"
        self._headers: HeaderParser | None = HeaderParser()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's does not inherit asyncio.Transport, so no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        addr = transport.get_extra_info("peername")
        if isinstance(addr, tuple) and len(addr) >= 2:
            self.peer = f"{addr[0]}:{addr[1]}"
        server = self.server
        server.connections += 1
        server._handshaking.add(self)
        self._timer = asyncio.get_running_loop().call_later(
            server.header_timeout, self._header_timeout)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session.feed(data)
            return
        assert self._headers is not None
        try:
            done = self._headers.feed(data)
        except AgiProtocolError as exc:
            self._reject(exc)
            return
        if done is None:
            return
        request, rest = done
        self._end_handshake()
        server = self.server
        assert self.transport is not None
        session = AgiSession(self.transport, request, server.command_timeout,
                             on_malformed=server._count_malformed)
        self.session = session
        server._start_session(session)
        if rest:
            session.feed(rest)

    def eof_received(self) -> bool | None:
        if self.session is not None:
            self.session.connection_lost()
        elif self._headers is not None:
            self._reject(AgiHangup(self._headers.eof_message()))
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.connection_lost()
        elif self._headers is not None:
            self._reject(AgiHangup(f"connection lost before the header block ended: {exc}"))

    def abort(self) -> None:
        self._end_handshake()
        if self.transport is not None:
            self.transport.abort()

    def _header_timeout(self) -> None:
        self._timer = None
        if self._headers is not None:
            self._reject(TimeoutError())

    def _reject(self, exc: BaseException) -> None:
        self._end_handshake()
        self.server._rejected(self.peer, exc)
        if self.transport is not None:
            self.transport.close()

    def _end_handshake(self) -> None:
        self._headers = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.server._handshaking.discard(self)
