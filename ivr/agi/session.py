"""One FastAGI connection: the call's env and the commands a flow sends on it.

Input is parsed as it arrives (the server's protocol object calls :meth:`AgiSession.feed`),
so a ``HANGUP`` line or the connection closing is noticed at once, even while the flow is
busy elsewhere. Replies are matched to the commands in flight first in first out. The
``HANGUP`` notification is never taken as a reply: it fails the command in flight with
:class:`AgiHangup` but leaves that command's slot in the queue, so the reply Asterisk still
sends for it (``511 ...``, ``200 result=-1``, or a real value for commands allowed on a dead
channel) is consumed there and never shifted onto a later command. That shift is the bug that
makes panoramisk's replies slide by one after a hangup.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from ivr.agi.errors import AgiCommandError, AgiError, AgiHangup, AgiProtocolError, AgiTimeout
from ivr.agi.protocol import (
    HANGUP_LINE,
    AgiRequest,
    AgiResponse,
    LineSplitter,
    ReplyAssembler,
    check_command,
    minus_one_is_hangup,
    quote,
    quote_if_needed,
)

log = logging.getLogger("ivr.agi")

#: Longest reply line accepted (GET FULL VARIABLE values, 520 usage lines).
MAX_REPLY_LINE_BYTES = 65536


class AgiSession:
    """The FastAGI side of one call, handed to a flow handler.

    ``env`` holds the ``agi_*`` headers without their prefix (``env["callerid"]``,
    ``env["dnid"]``, ``env["uniqueid"]``, ``env["network_script"]`` ...); ``script``, ``params``
    and ``args`` come from the AGI URL ``agi://host:port/<script>?<params>`` and the AGI()
    application's extra arguments.

    Commands are serialised: concurrent callers of :meth:`command` wait their turn.
    After a hangup every command raises :class:`AgiHangup` without being sent, except that
    :meth:`hangup` and :meth:`verbose` quietly do nothing, so ``finally:`` blocks stay simple.
    """

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        request: AgiRequest,
        command_timeout: float = 10.0,
        on_malformed: Callable[[str], None] | None = None,
    ) -> None:
        self.env: dict[str, str] = request.env
        self.script: str = request.script
        self.params: dict[str, str] = request.params
        self.args: list[str] = request.args
        self.hung_up: bool = False
        self.command_timeout = command_timeout
        self._transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self._on_malformed = on_malformed
        self._pending: deque[asyncio.Future[AgiResponse]] = deque()
        self._lock = asyncio.Lock()
        self._broken: AgiError | None = None
        self._hangup_event = asyncio.Event()
        self._closed = False
        self._lines = LineSplitter(MAX_REPLY_LINE_BYTES)
        self._assembler = ReplyAssembler()

    # ------------------------------------------------------------------ public API

    @property
    def uniqueid(self) -> str:
        return self.env.get("uniqueid", "")

    @property
    def usable(self) -> bool:
        """False once the call hung up, the connection closed, or a command timed out or
        was cancelled in flight."""
        return not (self.hung_up or self._closed or self._broken is not None)

    async def wait_hangup(self) -> None:
        """Return once the channel hangs up or the connection closes."""
        await self._hangup_event.wait()

    async def command(
        self, line: str, timeout: float | None = None, *, allow_dead: bool = False  # noqa: ASYNC109
    ) -> AgiResponse:
        """Send one AGI command line and return Asterisk's reply.

        ``timeout`` defaults to the server's ``command_timeout``; give long ones to EXEC Dial,
        Queue or long prompts. Raises :class:`AgiHangup`, :class:`AgiTimeout`,
        :class:`AgiProtocolError`, or :class:`AgiCommandError` for 5xx replies; ``ValueError``
        for a line holding a newline.

        After a hangup commands are refused locally, unless ``allow_dead``: Asterisk still
        runs GET VARIABLE, GET FULL VARIABLE, SET VARIABLE, VERBOSE (and a few others) on a
        dead channel while the connection is open, e.g. to read ``HANGUPCAUSE``.
        """
        check_command(line)
        self._raise_if_unusable(allow_dead)
        async with self._lock:
            self._raise_if_unusable(allow_dead)
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[AgiResponse] = loop.create_future()
            self._pending.append(fut)
            limit = self.command_timeout if timeout is None else timeout
            timer = loop.call_later(limit, _expire, fut)
            try:
                self._transport.write(line.encode("utf-8") + b"\n")
                resp = await fut
            except asyncio.CancelledError:
                # Cancelled by the caller: a reply may still come, or, for a STREAM FILE that
                # a later command interrupts, none at all. Nothing later can be trusted.
                self._broken = AgiError(f"{line!r} was cancelled while in flight")
                raise
            except _Expired:
                self._broken = AgiTimeout(
                    f"{line.split(None, 1)[0]} timed out earlier on this session; "
                    "replies can no longer be matched to commands"
                )
                raise AgiTimeout(f"no reply to {line!r} within {limit:g}s") from None
            finally:
                timer.cancel()
        return self._check(line, resp)

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        """Hang the channel up; does nothing when it already is."""
        if not self.usable:
            return
        try:
            await self.command("HANGUP")
        except AgiHangup:
            pass
        self._mark_hangup()

    async def get_variable(self, name: str, *, allow_dead: bool = False) -> str | None:
        """The variable's value, or None when it is not set (``allow_dead``: see
        :meth:`command`)."""
        resp = await self.command(f"GET VARIABLE {quote_if_needed(name)}", allow_dead=allow_dead)
        return resp.data if resp.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {quote_if_needed(name)} {quote(value)}")

    async def stream_file(
        self, name: str, escape_digits: str = "", *, timeout: float | None = None  # noqa: ASYNC109
    ) -> str:
        """Play a sound file; return the escape digit pressed, or "" when none was.

        ``200 result=-1`` raises :class:`AgiHangup`. Asterisk sends the same reply when the
        file does not exist, so a missing prompt also ends the flow.
        """
        resp = await self.command(
            f"STREAM FILE {quote_if_needed(name)} {quote(escape_digits)}", timeout=timeout
        )
        code = resp.result_int
        return chr(code) if code and code > 0 else ""

    async def exec(
        self, app: str, *args: str, timeout: float | None = None  # noqa: ASYNC109
    ) -> AgiResponse:
        """``EXEC app "a,b"``: the application's arguments joined by commas, quoted once.

        Asterisk answers ``result=-2`` when the application does not exist: that raises
        :class:`AgiCommandError`; ``-1`` (the application asked to hang up) raises
        :class:`AgiHangup`.
        """
        line = f"EXEC {quote_if_needed(app)}"
        if args:
            line += " " + quote(",".join(args))
        resp = await self.command(line, timeout=timeout)
        if resp.result == "-2":
            raise AgiCommandError(f"no such dialplan application: {app}", resp)
        return resp

    async def verbose(self, msg: str, level: int = 1) -> None:
        """Log into Asterisk's verbose output; does nothing once the call is gone."""
        if not self.usable:
            return
        try:
            await self.command(f"VERBOSE {quote(msg)} {int(level)}")
        except AgiHangup:
            pass

    # ------------------------------------------------------------------ transport side

    def feed(self, data: bytes) -> None:
        """Bytes received from Asterisk (called by the server's protocol)."""
        try:
            lines = self._lines.feed(data)
        except AgiProtocolError as exc:
            self._protocol_error(exc)
            self.close()
            return
        for line in lines:
            self._on_line(line)

    def connection_lost(self) -> None:
        """The peer closed (EOF) or the connection broke."""
        for line in self._lines.flush():
            self._on_line(line)
        self._set_closed()

    def close(self) -> None:
        """Close the connection (idempotent). Unsent output gets one second to drain."""
        self._set_closed()
        transport = self._transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(1.0, transport.abort)
        transport.close()

    # ------------------------------------------------------------------ internals

    def _raise_if_unusable(self, allow_dead: bool = False) -> None:
        if self._broken is not None:
            raise type(self._broken)(*self._broken.args)
        if self._closed:
            raise AgiHangup("connection closed")
        if self.hung_up and not allow_dead:
            raise AgiHangup("channel hung up")

    def _check(self, line: str, resp: AgiResponse) -> AgiResponse:
        if resp.code == 511:
            self._mark_hangup()
            raise AgiHangup(f"{line!r}: {resp.code} {resp.data}")
        if resp.code >= 500:
            text = resp.data.split("\n", 1)[0] if resp.code != 520 else "Invalid command syntax"
            raise AgiCommandError(f"{line!r} refused: {resp.code} {text}", resp)
        if resp.result == "-1" and minus_one_is_hangup(line):
            self._mark_hangup()
            raise AgiHangup(f"{line!r} answered result=-1 (hangup)")
        return resp

    def _mark_hangup(self) -> None:
        self.hung_up = True
        self._hangup_event.set()

    def _set_closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._mark_hangup()
        while self._pending:
            fut = self._pending.popleft()
            if not fut.done():
                fut.set_exception(AgiHangup("connection closed"))

    def _protocol_error(self, exc: AgiProtocolError) -> None:
        log.warning("AGI %s: protocol error from Asterisk: %s", self.uniqueid, exc)
        if self._on_malformed is not None:
            self._on_malformed(str(exc))
        self._broken = exc
        for fut in self._pending:
            if not fut.done():
                fut.set_exception(AgiProtocolError(*exc.args))

    def _on_line(self, line: str) -> None:
        if not line and not self._assembler.in_multiline:
            return
        try:
            event = self._assembler.feed(line)
        except AgiProtocolError as exc:
            self._protocol_error(exc)
            return
        if event is None:
            return
        if event == HANGUP_LINE:
            self._mark_hangup()
            # Fail the command in flight now, but keep its slot: its reply is still coming.
            for fut in self._pending:
                if not fut.done():
                    fut.set_exception(AgiHangup("channel hung up (HANGUP from Asterisk)"))
            return
        assert isinstance(event, AgiResponse)
        if not self._pending:
            if self._broken is None:
                self._protocol_error(
                    AgiProtocolError(f"reply with no command in flight: {event.raw!r}")
                )
            return
        fut = self._pending.popleft()
        if not fut.done():
            fut.set_result(event)


class _Expired(Exception):
    """Internal: a command's timer fired before its reply."""


def _expire(fut: asyncio.Future[AgiResponse]) -> None:
    if not fut.done():
        fut.set_exception(_Expired())
