"""A scripted FastAGI peer playing Asterisk's side of the wire.

It connects to a FastAGI server, sends the header block ``res_agi.c`` sends (``agi_network:
yes``, ``agi_network_script``, ``agi_request`` ... ``agi_arg_N``, empty line), then follows a
script of steps and records what it received::

    peer = (FakeAsterisk(server.port, script="inbound", params={"line": "12345"})
            .expect("ANSWER", "200 result=0")
            .expect(r"STREAM FILE welcome .*", "200 result=0 endpos=8000")
            .hangup()                                   # Asterisk's "HANGUP" notification
            .expect(r"GET VARIABLE .*", "511 Command Not Permitted on a dead channel"))
    result = await peer.run()
    result.assert_ok()
    assert result.commands == ["ANSWER", 'STREAM FILE welcome ""', "GET VARIABLE X"]

When the script ends the peer waits for the server to close the connection (as Asterisk
does); a command arriving then is recorded as an error. Used by the AGI tests, by flow tests
(see :func:`serve`) and by ``bench/agi_load.py`` (:meth:`FakeAsterisk.auto_reply`).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ivr.agi import AgiServer

_ids = itertools.count(1)


class _Abort(Exception):
    """A step failed in a way that ends the script (its error is already recorded)."""

DEAD_511 = "511 Command Not Permitted on a dead channel or intercept routine"


def agi_headers(
    *,
    host: str = "127.0.0.1",
    port: int = 4573,
    script: str = "inbound",
    params: Mapping[str, str] | None = None,
    args: Iterable[str] = (),
    callerid: str = "13800138000",
    calleridname: str = "unknown",
    dnid: str = "12345",
    extension: str | None = None,
    context: str = "from-pstn",
    uniqueid: str | None = None,
    channel: str | None = None,
    **extra: str,
) -> list[str]:
    """The header lines Asterisk 22 sends for ``AGI(agi://host:port/script?params,args...)``.

    ``extra`` adds or replaces ``agi_<key>`` lines (``extra={"language": "zh"}``).
    """
    n = next(_ids)
    query = urlencode(dict(params or {}))
    path = script + (f"?{query}" if query else "")
    values: dict[str, str] = {
        "network": "yes",
        "network_script": path,
        "request": f"agi://{host}:{port}/{path}",
        "channel": channel or f"PJSIP/trunk-{n:08x}",
        "language": "en",
        "type": "PJSIP",
        "uniqueid": uniqueid or f"1795000000.{n}",
        "version": "22.5.2",
        "callerid": callerid,
        "calleridname": calleridname,
        "callingpres": "0",
        "callingani2": "0",
        "callington": "0",
        "callingtns": "0",
        "dnid": dnid,
        "rdnis": "unknown",
        "context": context,
        "extension": extension if extension is not None else dnid,
        "priority": "2",
        "enhanced": "0.0",
        "accountcode": "",
        "threadid": str(140000000000000 + n),
    }
    if not path:
        del values["network_script"]
    for i, arg in enumerate(args, 1):
        values[f"arg_{i}"] = arg
    values.update(extra)
    return [f"agi_{k}: {v}" for k, v in values.items()]


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Expect:
    """Read one command; it must fully match ``pattern``; then send ``replies`` (maybe none)."""

    pattern: str
    replies: tuple[str, ...] = ()
    delay: float = 0.0


@dataclass(frozen=True)
class Send:
    """Send raw lines now (``HANGUP``, a stray reply, garbage ...)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Close:
    """Close our side: ``half`` sends FIN but keeps reading, otherwise close fully."""

    half: bool = False


@dataclass(frozen=True)
class ExpectClose:
    """Wait up to ``timeout`` for the server to close; commands arriving meanwhile are errors."""

    timeout: float | None = None


@dataclass(frozen=True)
class AutoReply:
    """Answer every command with ``reply`` until the server closes (or ``max_commands``)."""

    reply: str = "200 result=0"
    max_commands: int | None = None
    delay: float = 0.0


Step = Expect | Send | Sleep | Close | ExpectClose | AutoReply


@dataclass
class PeerResult:
    commands: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Per command: seconds from our previous write (headers or reply) to its arrival.
    rtts: list[float] = field(default_factory=list)
    closed_by_server: bool = False
    connected: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def assert_ok(self) -> None:
        assert not self.errors, f"fake Asterisk saw errors: {self.errors}; got {self.commands}"


class FakeAsterisk:
    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        headers: list[str] | None = None,
        raw_headers: bytes | None = None,
        step_timeout: float = 5.0,
        line_end: str = "\n",
        **header_kwargs: object,
    ) -> None:
        """``headers`` replaces the header lines (the empty line is added); ``raw_headers``
        is sent byte for byte instead (nothing added). Other keywords go to
        :func:`agi_headers`."""
        self.host = host
        self.port = port
        self.step_timeout = step_timeout
        self.line_end = line_end
        if raw_headers is not None:
            self._header_bytes = raw_headers
        else:
            lines = headers if headers is not None else agi_headers(
                host=host, port=port, **header_kwargs  # type: ignore[arg-type]
            )
            self._header_bytes = "".join(f"{ln}{line_end}" for ln in [*lines, ""]).encode()
        self.steps: list[Step] = []

    # builder ---------------------------------------------------------------------------

    def expect(self, pattern: str, *replies: str, delay: float = 0.0) -> FakeAsterisk:
        self.steps.append(Expect(pattern, tuple(replies), delay))
        return self

    def send(self, *lines: str) -> FakeAsterisk:
        self.steps.append(Send(tuple(lines)))
        return self

    def hangup(self) -> FakeAsterisk:
        """Asterisk's hangup notification line."""
        return self.send("HANGUP")

    def sleep(self, seconds: float) -> FakeAsterisk:
        self.steps.append(Sleep(seconds))
        return self

    def close(self, half: bool = False) -> FakeAsterisk:
        self.steps.append(Close(half))
        return self

    def expect_close(self, timeout: float | None = None) -> FakeAsterisk:
        self.steps.append(ExpectClose(timeout))
        return self

    def auto_reply(
        self, reply: str = "200 result=0", max_commands: int | None = None, delay: float = 0.0
    ) -> FakeAsterisk:
        self.steps.append(AutoReply(reply, max_commands, delay))
        return self

    # run ---------------------------------------------------------------------------------

    async def run(self, timeout: float = 30.0) -> PeerResult:  # noqa: ASYNC109
        """Connect, play the script, return what happened (never raises for script errors)."""
        result = PeerResult()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                await self._run(result)
        except TimeoutError:
            result.errors.append(f"script did not finish within {timeout}s")
        except _Abort:
            pass
        except (ConnectionError, OSError) as exc:
            result.errors.append(f"connection error: {exc!r}")
        result.duration = time.perf_counter() - started
        return result

    async def _run(self, result: PeerResult) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        result.connected = True
        le = self.line_end.encode()
        try:
            writer.write(self._header_bytes)
            await writer.drain()
            last_write = time.perf_counter()
            closed = False
            for step in [*self.steps, ExpectClose()]:
                if isinstance(step, Expect):
                    line = await self._read_command(reader, result, step, last_write)
                    if line is None:
                        closed = True
                        break
                    if not re.fullmatch(step.pattern, line):
                        result.errors.append(f"expected {step.pattern!r}, got {line!r}")
                    if step.delay:
                        await asyncio.sleep(step.delay)
                    if step.replies:
                        writer.write(b"".join(r.encode() + le for r in step.replies))
                        await writer.drain()
                        last_write = time.perf_counter()
                elif isinstance(step, Send):
                    writer.write(b"".join(r.encode() + le for r in step.lines))
                    await writer.drain()
                    last_write = time.perf_counter()
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Close):
                    if step.half:
                        writer.write_eof()
                    else:
                        return
                elif isinstance(step, AutoReply):
                    reply = step.reply.encode() + le
                    count = 0
                    while step.max_commands is None or count < step.max_commands:
                        raw = await reader.readline()
                        now = time.perf_counter()
                        if not raw:
                            closed = True
                            break
                        result.commands.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                        result.rtts.append(now - last_write)
                        count += 1
                        if step.delay:
                            await asyncio.sleep(step.delay)
                        writer.write(reply)
                        last_write = time.perf_counter()
                    if closed:
                        break
                elif isinstance(step, ExpectClose):
                    wait = step.timeout if step.timeout is not None else self.step_timeout
                    try:
                        async with asyncio.timeout(wait):
                            while raw := await reader.readline():
                                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                                result.commands.append(line)
                                result.errors.append(f"unexpected command {line!r}")
                    except TimeoutError:
                        result.errors.append(f"server did not close within {wait}s")
                        return
                    closed = True
                    break
            result.closed_by_server = closed
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except (TimeoutError, ConnectionError, OSError):
                writer.transport.abort()

    async def _read_command(
        self, reader: asyncio.StreamReader, result: PeerResult, step: Expect, last_write: float
    ) -> str | None:
        try:
            async with asyncio.timeout(self.step_timeout):
                raw = await reader.readline()
        except TimeoutError:
            result.errors.append(
                f"no command within {self.step_timeout}s (wanted {step.pattern!r})"
            )
            raise _Abort from None
        if not raw:
            result.errors.append(f"server closed, wanted {step.pattern!r}")
            return None
        result.rtts.append(time.perf_counter() - last_write)
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        result.commands.append(line)
        return line


# --------------------------------------------------------------------------- server helper


@asynccontextmanager
async def serve(
    routes: Mapping[str, Callable[..., Awaitable[None]]], **kwargs: object
) -> AsyncIterator[AgiServer]:
    """A started :class:`ivr.agi.AgiServer` on a free loopback port, stopped afterwards."""
    server = AgiServer(routes, port=0, **kwargs)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
