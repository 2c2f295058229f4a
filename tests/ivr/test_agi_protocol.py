"""FastAGI wire format: replies, header block, argument quoting (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.agi import AgiHangup, AgiProtocolError, AgiResponse, parse_reply, quote, quote_if_needed
from ivr.agi.protocol import (
    HANGUP_LINE,
    MAX_HEADER_LINE_BYTES,
    HeaderParser,
    LineSplitter,
    ReplyAssembler,
    build_request,
    check_command,
    minus_one_is_hangup,
    parse_header_line,
)
from testkit.fake_asterisk import agi_headers

# ---------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    ("line", "code", "result", "data"),
    [
        ("200 result=0", 200, "0", ""),
        ("200 result=1 (timeout)", 200, "1", "timeout"),
        ("200 result=0 endpos=1234", 200, "0", "endpos=1234"),
        ("200 result=49 endpos=8000", 200, "49", "endpos=8000"),
        ("200 result=0 (timeout) endpos=8000", 200, "0", "timeout endpos=8000"),
        ("200 result=35 (dtmf) endpos=16000", 200, "35", "dtmf endpos=16000"),
        ("200 result=-1 (hangup) endpos=0", 200, "-1", "hangup endpos=0"),
        ("200 result=1 (王小明)", 200, "1", "王小明"),
        ("200 result=1 (a (nested) value)", 200, "1", "a (nested) value"),
        ("200 result=1 (x) endpos=5)", 200, "1", "x) endpos=5"),
        ("200 result=1 ()", 200, "1", ""),
        ("200 result= (timeout)", 200, "", "timeout"),
        ("200 result=*123 (timeout)", 200, "*123", "timeout"),
        ("200 result=-1", 200, "-1", ""),
        ("200 result=1 (speech) endpos=1234 results=foo bar", 200, "1",
         "speech endpos=1234 results=foo bar"),
        ("510 Invalid or unknown command", 510, "", "Invalid or unknown command"),
        ("511 Command Not Permitted on a dead channel", 511, "",
         "Command Not Permitted on a dead channel"),
        ("520 Invalid command syntax.  Proper usage not available.", 520, "",
         "Invalid command syntax.  Proper usage not available."),
        ("200", 200, "", ""),
    ],
)
def test_parse_reply(line: str, code: int, result: str, data: str) -> None:
    resp = parse_reply(line)
    assert resp == AgiResponse(code, result, data)
    assert resp.raw == line


def test_response_helpers() -> None:
    assert parse_reply("200 result=0 endpos=1234").endpos == 1234
    assert parse_reply("200 result=0 (timeout) endpos=8000").endpos == 8000
    assert parse_reply("200 result=1 (x)").endpos is None
    assert parse_reply("200 result=-1").result_int == -1
    assert parse_reply("200 result=*12").result_int is None


@pytest.mark.parametrize("line", ["", "HANGUP ", "OK", "20 result=1", "abc result=1", "2000"])
def test_parse_reply_rejects_non_replies(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        parse_reply(line)


@given(st.text(max_size=200))
def test_parse_reply_only_ever_raises_protocol_error(text: str) -> None:
    try:
        resp = parse_reply(text)
    except AgiProtocolError:
        return
    assert 0 <= resp.code <= 999


@given(st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=100))
def test_get_variable_value_survives_parsing(value: str) -> None:
    # GET VARIABLE answers "200 result=1 (%s)" with the raw value, whatever it contains.
    assert parse_reply(f"200 result=1 ({value})").data == value


def test_assembler_multiline_520() -> None:
    a = ReplyAssembler()
    assert a.feed("520-Invalid command syntax.  Proper usage follows:") is None
    assert a.in_multiline
    assert a.feed(" Usage: STREAM FILE <filename> <escape digits> [sample offset]") is None
    assert a.feed("") is None
    assert a.feed("     Send the given file, allowing playback to be interrupted") is None
    resp = a.feed("520 End of proper usage.")
    assert isinstance(resp, AgiResponse)
    assert resp.code == 520
    assert "Usage: STREAM FILE" in resp.data
    assert "interrupted" in resp.data
    assert not a.in_multiline
    # the next line is an ordinary reply again
    assert a.feed("200 result=0") == AgiResponse(200, "0", "")


def test_assembler_multiline_520_glued_end() -> None:
    # res_agi sends the usage with "%s": without a final newline the end line is glued on.
    a = ReplyAssembler()
    a.feed("520-Invalid command syntax.  Proper usage follows:")
    a.feed("Usage: ANSWER")
    resp = a.feed(" Answers channel if not already in answer state.520 End of proper usage.")
    assert isinstance(resp, AgiResponse) and resp.code == 520
    assert resp.data.endswith("answer state.")


def test_assembler_hangup_and_garbage() -> None:
    a = ReplyAssembler()
    assert a.feed("HANGUP") == HANGUP_LINE
    with pytest.raises(AgiProtocolError):
        a.feed("some random reply that we are not supposed to get")
    with pytest.raises(AgiProtocolError):
        a.feed("200-result=1")


# ---------------------------------------------------------------------------- headers


def test_parse_header_line() -> None:
    assert parse_header_line(b"agi_callerid: 13800138000\n") == ("callerid", "13800138000")
    assert parse_header_line(b"agi_accountcode: \r\n") == ("accountcode", "")
    assert parse_header_line(b"agi_calleridname: Wang: Xiao\n") == ("calleridname", "Wang: Xiao")
    assert parse_header_line("agi_calleridname: 王小明\n".encode()) == ("calleridname", "王小明")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"agi_callerid 13800138000\n", "no ':'"),
        (b"callerid: 1\n", "agi_<name>"),
        (b"agi_: 1\n", "agi_<name>"),
        (b"agi_call erid: 1\n", "agi_<name>"),
        (b"agi_calleridname: \xcd\xf5\xd0\xa1\xc3\xf7\n", "not UTF-8"),  # GBK
        (b"agi_arg_1: " + b"x" * MAX_HEADER_LINE_BYTES + b"\n", "longer than"),
    ],
)
def test_parse_header_line_rejects(raw: bytes, why: str) -> None:
    with pytest.raises(AgiProtocolError, match=why):
        parse_header_line(raw)


def _env(lines: list[str]) -> dict[str, str]:
    return dict(parse_header_line(ln.encode()) for ln in lines)


def test_build_request_from_network_script() -> None:
    env = _env(agi_headers(script="inbound", params={"line": "12345", "x": "a b"},
                           args=["one", "two"]))
    req = build_request(env)
    assert req.script == "inbound"
    assert req.params == {"line": "12345", "x": "a b"}
    assert req.args == ["one", "two"]
    assert env["network"] == "yes"
    assert env["network_script"] == "inbound?line=12345&x=a+b"
    assert env["request"].startswith("agi://127.0.0.1:4573/inbound?line=12345")


def test_build_request_from_request_only_and_arg_order() -> None:
    env = {"request": "agi://10.0.0.1/callback/survey?line=12345&id=%E5%B7%A5"}
    for i in range(1, 12):
        env[f"arg_{i}"] = str(i)
    req = build_request(env)
    assert req.script == "callback/survey"
    assert req.params == {"line": "12345", "id": "工"}
    assert req.args == [str(i) for i in range(1, 12)]  # arg_10 after arg_9, not after arg_1


def test_build_request_without_script() -> None:
    req = build_request({"request": "agi://127.0.0.1:4573"})
    assert (req.script, req.params, req.args) == ("", {}, [])


def _read(data: bytes, chunk: int = 0) -> Any:
    parser = HeaderParser()
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        done = parser.feed(piece)
        if done is not None:
            return done
    raise AgiHangup(parser.eof_message())


@pytest.mark.parametrize("chunk", [0, 1, 7, 100])
def test_header_parser_crlf_and_lf_any_chunking(chunk: int) -> None:
    lines = agi_headers(script="inbound", params={"line": "12345"})
    for end in ("\n", "\r\n"):
        data = "".join(ln + end for ln in [*lines, ""]).encode() + b"HANGUP\n"
        req, rest = _read(data, chunk)
        assert req.script == "inbound"
        assert req.env["dnid"] == "12345"
        assert len(req.env) == len(lines)
        if chunk == 0:
            assert rest == b"HANGUP\n"  # whatever follows the block is handed on


def test_header_parser_failures() -> None:
    with pytest.raises(AgiHangup, match="inside the header block after 2 lines"):
        _read(b"agi_network: yes\nagi_request: agi://x/y\nagi_chan")
    with pytest.raises(AgiHangup):
        _read(b"")
    with pytest.raises(AgiProtocolError, match="empty header block"):
        _read(b"\n")
    with pytest.raises(AgiProtocolError, match="more than 256 header lines"):
        _read(b"".join(b"agi_arg_%d: x\n" % i for i in range(300)) + b"\n")
    with pytest.raises(AgiProtocolError, match="larger than"):
        _read(b"".join(b"agi_arg_%d: %s\n" % (i, b"y" * 4000) for i in range(40)) + b"\n")
    with pytest.raises(AgiProtocolError, match="longer than 8192"):
        _read(b"agi_x: " + b"z" * 70000 + b"\n\n")
    with pytest.raises(AgiProtocolError, match="longer than 8192"):
        _read(b"agi_x: " + b"z" * 9000, chunk=1000)  # no newline yet, already too long
    with pytest.raises(AgiProtocolError, match="not UTF-8"):
        _read(b"agi_network: yes\nagi_calleridname: \xcd\xf5\n\n")
    with pytest.raises(AgiProtocolError, match="no ':'"):
        _read(b"agi_network: yes\nGARBAGE\n\n")


def test_line_splitter() -> None:
    sp = LineSplitter(max_line=20)
    assert sp.feed(b"200 res") == []
    assert sp.feed(b"ult=0\r\nHANG") == ["200 result=0"]
    assert sp.feed(b"UP\n\n510 x\n") == ["HANGUP", "", "510 x"]
    assert sp.feed(b"200 result=1 (\xff)\n") == ["200 result=1 (\ufffd)"]
    assert sp.feed(b"tail") == []
    assert sp.flush() == ["tail"]
    with pytest.raises(AgiProtocolError, match="longer than 20"):
        sp.feed(b"x" * 25)
    with pytest.raises(AgiProtocolError, match="longer than 20"):
        sp.feed(b"y" * 25 + b"\n")


# ---------------------------------------------------------------------------- quoting


def _asterisk_parse_args(s: str) -> list[str]:
    """A transliteration of res_agi.c parse_args(), to check our quoting against."""
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in s:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                argv.append("")
                whitespace = False
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            if cur is not None:
                argv[-1] = "".join(cur)
            cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            cur = []
            argv.append("")
            whitespace = False
        assert cur is not None
        cur.append(ch)
        escaped = False
    if cur is not None:
        argv[-1] = "".join(cur)
    return argv


@given(st.text(alphabet=st.characters(blacklist_characters="\r\n\x00"), max_size=60))
def test_quote_round_trips_through_asterisk_parse_args(value: str) -> None:
    assert _asterisk_parse_args(f"SET VARIABLE X {quote(value)}") == ["SET", "VARIABLE", "X", value]
    assert _asterisk_parse_args(f"GET VARIABLE {quote_if_needed(value)}")[2:] == [value]


def test_quote_examples() -> None:
    assert quote("PJSIP/100,30,tT") == '"PJSIP/100,30,tT"'
    assert quote('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert quote("") == '""'
    assert quote_if_needed("CALLERID(num)") == "CALLERID(num)"
    assert quote_if_needed("a b") == '"a b"'
    for bad in ("a\nb", "a\rb", "a\x00"):
        with pytest.raises(ValueError):
            quote(bad)
    with pytest.raises(ValueError):
        check_command("ANSWER\nHANGUP")
    with pytest.raises(ValueError):
        check_command("  ")


@pytest.mark.parametrize(
    ("line", "hangup"),
    [
        ("STREAM FILE welcome \"\"", True),
        ("stream file welcome 12", True),
        ("ANSWER", True),
        ("EXEC Playback hello", True),
        ("GET DATA menu 5000 4", True),
        ("WAIT FOR DIGIT 5000", True),
        ("SAY DIGITS 123 \"\"", True),
        ("RECORD FILE /tmp/x wav # 5000", True),
        ("GET VARIABLE X", False),
        ("SET VARIABLE X 1", False),
        ("HANGUP", False),
        ("VERBOSE \"x\" 1", False),
    ],
)
def test_minus_one_is_hangup(line: str, hangup: bool) -> None:
    assert minus_one_is_hangup(line) is hangup
