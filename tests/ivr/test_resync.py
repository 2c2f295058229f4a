"""Resync after a reconnection: Asterisk's channels decide who is waiting, ringing, talking."""

from hotline_core.lines import load_lines
from ivr.live_calls import LiveCall
from ivr.resync import live_channels
from stack.settings import REPO_ROOT

LINES = load_lines(REPO_ROOT / "config" / "lines.toml")


def _ch(uid: str, channel: str, linkedid: str, state: str = "Up", app: str = "") -> dict:
    return {"Uniqueid": uid, "Channel": channel, "Linkedid": linkedid,
            "ChannelStateDesc": state, "Application": app}


def test_waiting_ringing_talking_and_gone() -> None:
    known = {
        "c1": LiveCall("c1", "PJSIP/carrier-1", "12345", "13800000001"),
        "c2": LiveCall("c2", "PJSIP/carrier-2", "12366", "13800000002"),
        "c3": LiveCall("c3", "PJSIP/carrier-3", "12345", "13800000003"),
        "c4": LiveCall("c4", "PJSIP/carrier-4", "12345", "13800000004"),   # hung up meanwhile
        "c5": LiveCall("c5", "", "12345", "13800000005", callback=True),  # virtual hold
        "c6": LiveCall("c6", "PJSIP/carrier-6", "12345", "13800000006"),   # in app_queue now
    }
    channels = [
        _ch("c1", "PJSIP/carrier-1", "c1", app="MusicOnHold"),
        _ch("c2", "PJSIP/carrier-2", "c2", app="Dial"),
        _ch("a2", "PJSIP/1004-00000007", "c2", state="Ringing"),
        _ch("c3", "PJSIP/carrier-3", "c3", app="Dial"),
        _ch("a3", "PJSIP/1001-00000008", "c3", state="Up"),
        _ch("c6", "PJSIP/carrier-6", "c6", app="Queue"),
    ]
    got = {c.call_id: c for c in live_channels(channels, known, LINES)}
    assert set(got) == {"c1", "c2", "c3", "c5"}
    assert (got["c1"].agent_id, got["c1"].answered) == (None, False)   # waiting
    assert (got["c2"].agent_id, got["c2"].answered) == ("1004", False)  # ringing the tax seat
    assert got["c2"].skills == ("tax",)
    assert (got["c3"].agent_id, got["c3"].answered) == ("1001", True)   # talking
    assert got["c5"].agent_id is None                                   # keeps its place


def test_a_caller_with_an_emergency_centre_is_not_put_back_in_line() -> None:
    """Blind transfer under way or done, three-way after the agent left: no agent leg, the
    caller sits in a transfer context — not waiting. With the agent still in the conference
    the call is talking as usual."""
    known = {
        "t1": LiveCall("t1", "PJSIP/carrier-1", "12345", "13800000011"),
        "t2": LiveCall("t2", "PJSIP/carrier-2", "12345", "13800000012"),
        "t3": LiveCall("t3", "PJSIP/carrier-3", "12345", "13800000013"),
    }
    channels = [
        {**_ch("t1", "PJSIP/carrier-1", "t1", app="Dial"), "Context": "hotline-transfer-dial"},
        _ch("x1", "PJSIP/centre-119-00000009", "t1", state="Ringing"),
        {**_ch("t2", "PJSIP/carrier-2", "t2", app="ConfBridge"),
         "Context": "hotline-conference"},
        {**_ch("t3", "PJSIP/carrier-3", "t3", app="ConfBridge"),
         "Context": "hotline-conference"},
        {**_ch("a3", "PJSIP/1001-0000000a", "t3", app="ConfBridge"),
         "Context": "hotline-conference"},
    ]
    got = {c.call_id: c for c in live_channels(channels, known, LINES)}
    assert set(got) == {"t3"}
    assert (got["t3"].agent_id, got["t3"].answered) == ("1001", True)
