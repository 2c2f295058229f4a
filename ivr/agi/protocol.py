"""FastAGI wire format: the header block Asterisk sends first, its replies, argument quoting.

Pure functions and small state machines, no I/O except :func:`read_headers`. The formats are
those of Asterisk's ``res/res_agi.c``:

* ``launch_netscript`` sends ``agi_network: yes`` then, when the URL has a path,
  ``agi_network_script: <everything after host[:port]/>``; ``setup_env`` then sends
  ``agi_request``, ``agi_channel``, ... ``agi_threadid``, ``agi_arg_1..N`` and an empty line.
* Replies are one line ``<code> <text>`` (``200 result=1 (value)``, ``510 Invalid or unknown
  command``, ``511 Command Not Permitted on a dead channel[ or intercept routine]``), except the
  usage reply ``520-Invalid command syntax.  Proper usage follows:`` + usage text +
  ``520 End of proper usage.``
* ``HANGUP`` alone on a line is not a reply: ``run_agi`` sends it when it notices the channel
  hung up, between commands.
* Command arguments are split by ``parse_args``: blanks separate, ``"`` toggles quoting and
  ``\\`` escapes the next character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from ivr.agi.errors import AgiProtocolError

HANGUP_LINE = "HANGUP"

#: Header block limits. Asterisk sends ~22 lines plus one per AGI() argument (at most 127).
MAX_HEADER_LINES = 256
MAX_HEADER_LINE_BYTES = 8192
MAX_HEADER_BYTES = 65536

_REPLY_RE = re.compile(r"(\d{3})(?:([ -])(.*))?\Z", re.S)
_RESULT_RE = re.compile(r"result=(\S*)\s*(.*)\Z", re.S)
_PAREN_TAIL_RE = re.compile(r"\((.*?)\)\s+(\w+=.*)\Z", re.S)
_USAGE_END = "520 End of proper usage."
_HEADER_KEY_RE = re.compile(r"agi_[A-Za-z0-9_]+\Z")
_ARG_KEY_RE = re.compile(r"arg_(\d+)\Z")
# C0 controls (tab excepted) and DEL: no header value Asterisk sends holds one; a peer that
# sends them is trying to smuggle a second line into a log, a variable or a file name.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class AgiResponse:
    """One reply of Asterisk to one command.

    ``"200 result=1 (timeout)"`` -> ``AgiResponse(200, "1", "timeout")``;
    ``"200 result=0 endpos=1234"`` -> ``(200, "0", "endpos=1234")``;
    ``"200 result=0 (timeout) endpos=8000"`` -> ``(200, "0", "timeout endpos=8000")``;
    ``"510 Invalid or unknown command"`` -> ``(510, "", "Invalid or unknown command")``.
    A multi-line 520 keeps the usage text (lines joined by ``\\n``) in ``data``.
    ``raw`` is the reply exactly as received (lines joined by ``\\n``), for logs.
    """

    code: int
    result: str
    data: str
    raw: str = field(default="", compare=False, repr=False)

    @property
    def result_int(self) -> int | None:
        """``result`` as an int, or None when it is not a number (GET DATA digits may be)."""
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def endpos(self) -> int | None:
        """The ``endpos=`` value of STREAM FILE / RECORD FILE replies, if present."""
        m = re.search(r"(?:^|\s)endpos=(-?\d+)", self.data)
        return int(m.group(1)) if m else None


def parse_reply(line: str) -> AgiResponse:
    """Parse one single-line reply (``HANGUP`` and ``520-`` openers are handled upstream)."""
    m = _REPLY_RE.match(line)
    if m is None:
        raise AgiProtocolError(f"reply is not '<3-digit code> <text>': {_show(line)}")
    code = int(m.group(1))
    rest = (m.group(3) or "").strip()
    if code != 200:
        return AgiResponse(code, "", rest, raw=line)
    rm = _RESULT_RE.match(rest)
    if rm is None:
        # "200" with no result= never comes from res_agi, but it is well-formed enough.
        return AgiResponse(code, "", rest, raw=line)
    return AgiResponse(code, rm.group(1), _unwrap_data(rm.group(2).strip()), raw=line)


def _unwrap_data(rest: str) -> str:
    # "(value)" -> value, whatever the value holds (GET VARIABLE wraps the whole value);
    # "(timeout) endpos=8000" -> "timeout endpos=8000"; anything else is kept as it is.
    if rest.startswith("("):
        if rest.endswith(")"):
            return rest[1:-1]
        m = _PAREN_TAIL_RE.match(rest)
        if m:
            return f"{m.group(1)} {m.group(2)}"
    return rest


class ReplyAssembler:
    """Turns the lines Asterisk sends into events: replies, HANGUP notifications, errors.

    ``feed(line)`` returns ``None`` while a multi-line 520 is open, ``HANGUP_LINE`` for the
    hangup notification, or an :class:`AgiResponse`. Malformed lines raise
    :class:`AgiProtocolError`.
    """

    def __init__(self) -> None:
        self._usage: list[str] | None = None

    @property
    def in_multiline(self) -> bool:
        return self._usage is not None

    def feed(self, line: str) -> AgiResponse | str | None:
        if self._usage is not None:
            self._usage.append(line)
            # res_agi sends the usage text with "%s", so when the text lacks a final newline
            # the closing line is glued to its last line: accept both forms.
            if line.startswith("520 ") or line == "520" or line.endswith(_USAGE_END):
                lines, self._usage = self._usage, None
                body = lines[1:-1]
                if not line.startswith("520"):
                    body.append(line[: -len(_USAGE_END)])
                return AgiResponse(520, "", "\n".join(body).strip("\n"), raw="\n".join(lines))
            if len(self._usage) > MAX_HEADER_LINES:
                self._usage = None
                raise AgiProtocolError("multi-line 520 reply never ended with '520 ...'")
            return None
        if line == HANGUP_LINE:
            return HANGUP_LINE
        if line.startswith("520-"):
            self._usage = [line]
            return None
        if line[3:4] == "-":
            raise AgiProtocolError(f"multi-line reply with a code other than 520: {_show(line)}")
        return parse_reply(line)


# --------------------------------------------------------------------------- headers


@dataclass(frozen=True)
class AgiRequest:
    """What the header block says: the env and where the call wants to go."""

    env: dict[str, str]
    script: str
    params: dict[str, str]
    args: list[str]


def parse_header_line(raw: bytes) -> tuple[str, str]:
    """``b"agi_callerid: 13800138000\\n"`` -> ``("callerid", "13800138000")``."""
    if len(raw) > MAX_HEADER_LINE_BYTES:
        raise AgiProtocolError(f"header line longer than {MAX_HEADER_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgiProtocolError(f"header line is not UTF-8 ({exc.reason}): {raw[:80]!r}") from None
    return _split_header(text.rstrip("\r\n"))


def _split_header(text: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep:
        raise AgiProtocolError(f"header line has no ':': {_show(text)}")
    if not _HEADER_KEY_RE.match(key):
        raise AgiProtocolError(f"header key is not agi_<name>: {_show(text)}")
    if value[:1] == " ":
        value = value[1:]
    return key[4:], value


def parse_header_block(raws: list[bytes]) -> dict[str, str]:
    """Parse the header lines (each ending with a newline, the empty line excluded)."""
    for raw in raws:
        if len(raw) > MAX_HEADER_LINE_BYTES:
            raise AgiProtocolError(f"header line longer than {MAX_HEADER_LINE_BYTES} bytes")
    try:
        text = b"".join(raws).decode("utf-8")
    except UnicodeDecodeError:
        for raw in raws:
            parse_header_line(raw)  # raises, naming the offending line
        raise
    env: dict[str, str] = {}
    for line in text.split("\n")[:-1]:
        key, value = _split_header(line[:-1] if line[-1:] == "\r" else line)
        if key in env:
            # Asterisk sends each key once; a repeat would let the later line override
            # what the earlier one (e.g. agi_callerid) said.
            raise AgiProtocolError(f"header key agi_{key} repeated")
        if _CONTROL_RE.search(value):
            raise AgiProtocolError(f"header agi_{key} holds a control character: "
                                   f"{_show(value)}")
        env[key] = value
    return env


def build_request(env: dict[str, str]) -> AgiRequest:
    """Derive script, params and args from the parsed env."""
    if "network_script" in env:
        # agi_network_script is the URL's part after "host[:port]/": "inbound?line=12345".
        path, _, query = env["network_script"].partition("?")
    else:
        parts = urlsplit(env.get("request", ""))
        path, query = parts.path, parts.query
    script = unquote(path).strip("/")
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise AgiProtocolError(f"AGI URL repeats a parameter: {_show(query)}")
    for name, value in pairs:
        if _CONTROL_RE.search(name + value):
            raise AgiProtocolError(f"AGI URL parameter {_show(name)} holds a control character")
    numbered: list[tuple[int, str]] = []
    for key, value in env.items():
        m = _ARG_KEY_RE.match(key)
        if m:
            numbered.append((int(m.group(1)), value))
    numbered.sort()
    return AgiRequest(env=env, script=script, params=params, args=[v for _, v in numbered])


class HeaderParser:
    """Incremental parser of the header block, fed with bytes as they arrive.

    :meth:`feed` returns ``(request, leftover)`` once the empty line arrived (``leftover`` is
    whatever followed it, e.g. an immediate ``HANGUP``), ``None`` while the block is
    incomplete, and raises :class:`AgiProtocolError` for malformed or oversized input.
    """

    def __init__(self, max_lines: int = MAX_HEADER_LINES, max_bytes: int = MAX_HEADER_BYTES):
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._lines: list[bytes] = []
        self._total = 0

    @property
    def lines(self) -> int:
        return len(self._lines)

    def feed(self, data: bytes) -> tuple[AgiRequest, bytes] | None:
        buf = self._buf
        buf += data
        pos = 0
        while (i := buf.find(b"\n", pos)) >= 0:
            line = bytes(buf[pos : i + 1])
            pos = i + 1
            if line == b"\n" or line == b"\r\n":
                if not self._lines:
                    raise AgiProtocolError("empty header block")
                rest = bytes(buf[pos:])
                buf.clear()
                return build_request(parse_header_block(self._lines)), rest
            if len(line) > MAX_HEADER_LINE_BYTES:
                raise AgiProtocolError(f"header line longer than {MAX_HEADER_LINE_BYTES} bytes")
            self._lines.append(line)
            self._total += len(line)
            if len(self._lines) > self.max_lines:
                raise AgiProtocolError(f"more than {self.max_lines} header lines")
            if self._total > self.max_bytes:
                raise AgiProtocolError(f"header block larger than {self.max_bytes} bytes")
        del buf[:pos]
        if len(buf) > MAX_HEADER_LINE_BYTES:
            raise AgiProtocolError(f"header line longer than {MAX_HEADER_LINE_BYTES} bytes")
        return None

    def eof_message(self) -> str:
        partial = bytes(self._buf[:40])
        return f"connection closed inside the header block after {len(self._lines)} lines" + (
            f" (partial line {partial!r})" if partial else ""
        )


class LineSplitter:
    """Splits a byte stream into lines (without their ``\\r\\n``), capping line length."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = b""

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf + data if self._buf else data
        if b"\n" not in buf:
            self._buf = buf
            if len(buf) > self.max_line:
                self._buf = b""
                raise AgiProtocolError(f"reply line longer than {self.max_line} bytes")
            return []
        *lines, self._buf = buf.split(b"\n")
        if len(self._buf) > self.max_line:
            self._buf = b""
            raise AgiProtocolError(f"reply line longer than {self.max_line} bytes")
        out = []
        for raw in lines:
            if len(raw) > self.max_line:
                raise AgiProtocolError(f"reply line longer than {self.max_line} bytes")
            out.append(raw.decode("utf-8", "replace").rstrip("\r"))
        return out

    def flush(self) -> list[str]:
        """At end of stream: the unterminated last line, if any."""
        rest, self._buf = self._buf, b""
        return [rest.decode("utf-8", "replace").rstrip("\r")] if rest.strip() else []


# --------------------------------------------------------------------------- commands


_NEEDS_QUOTES_RE = re.compile(r'[\s"\\]')


def quote(arg: str) -> str:
    """Always-quoted argument for ``parse_args``: ``a "b"`` -> ``"a \\"b\\""``."""
    _check_line(arg)
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_if_needed(arg: str) -> str:
    """Bare when it is one plain word, otherwise :func:`quote`."""
    _check_line(arg)
    if arg and not _NEEDS_QUOTES_RE.search(arg):
        return arg
    return quote(arg)


def _check_line(text: str) -> None:
    if "\n" in text or "\r" in text or "\x00" in text:
        raise ValueError(f"AGI text cannot contain newlines or NUL: {text!r}")


def check_command(line: str) -> str:
    """Validate a command line before it goes on the wire; returns it."""
    _check_line(line)
    if not line.strip():
        raise ValueError("empty AGI command")
    return line


def command_verb(line: str) -> str:
    """Upper-cased first two words: ``"stream file x"`` -> ``"STREAM FILE"``."""
    return " ".join(line.split(None, 2)[:2]).upper()


#: Commands whose ``200 result=-1`` means the channel went away (res_agi returns
#: RESULT_FAILURE for them when the channel read fails). STREAM FILE / GET OPTION also
#: answer -1 for a missing sound file: it cannot be told apart on the wire.
HANGUP_ON_MINUS_ONE_PREFIXES = (
    "ANSWER",
    "STREAM FILE",
    "CONTROL STREAM",
    "GET OPTION",
    "GET DATA",
    "WAIT FOR",
    "RECORD FILE",
    "SAY ",
    "EXEC",
    "RECEIVE CHAR",
    "SPEECH RECOGNIZE",
)


def minus_one_is_hangup(line: str) -> bool:
    verb = command_verb(line)
    return verb.startswith(HANGUP_ON_MINUS_ONE_PREFIXES)


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
