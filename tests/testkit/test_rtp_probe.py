"""testkit/rtp_probe.py: loss and jitter of what a caller hears, from hand-made RTP streams."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from testkit.rtp_probe import RtpProbes, StreamStats, parse_rtp, summarise
from testkit.stack import free_udp_port


def test_loss_and_transit_jitter_of_a_stream_with_a_gap_and_a_late_packet() -> None:
    s = StreamStats()
    # Sequence 100..109 without 104, one packet per 20 ms (160 samples), 106 arrives 5 ms late.
    for seq in range(100, 110):
        if seq == 104:
            continue
        arrival = (seq - 100) * 0.020 + (0.005 if seq == 106 else 0.0)
        s.add(seq, (seq - 100) * 160, False, arrival)
    assert (s.received, s.expected, s.lost) == (9, 10, 1)
    # Pairs in sequence: 100-101, 101-102, 102-103 (0 ms), 105-106 (+5), 106-107 (-5 -> 5),
    # 107-108, 108-109 (0 ms); 103-105 is not a pair (104 lost).
    assert s.deviations_ms == pytest.approx([0, 0, 0, 5, 5, 0, 0], abs=1e-6)
    # RFC 3550: J = 5/16 = 0.3125, then 0.3125 + (5 - 0.3125)/16 = 0.60546875, then two
    # zeros: 0.60546875 * (15/16)^2 = 0.60546875 * 225 / 256 = 0.5321502685546875.
    assert s.rfc3550_jitter_ms == pytest.approx(0.5321502685546875, abs=1e-9)
    total = summarise([s, StreamStats()])
    assert (total.callers, total.heard, total.received, total.lost) == (2, 1, 9, 1)
    assert total.loss_pct == pytest.approx(10.0)
    assert total.jitter_p99_ms == pytest.approx(5.0, abs=1e-6)


def test_sequence_numbers_wrap_and_a_new_source_is_no_jitter_pair() -> None:
    s = StreamStats()
    for i, seq in enumerate((65534, 65535, 0, 1)):
        s.add(seq, i * 160, False, i * 0.020)
    assert (s.received, s.lost) == (4, 0)
    # The marker bit flags a new audio source (its timestamps start elsewhere): not a pair.
    s.add(2, 999_999, True, 0.080)
    assert len(s.deviations_ms) == 3 and max(s.deviations_ms) == pytest.approx(0, abs=1e-6)


def test_anything_but_rtp_version_2_is_ignored() -> None:
    assert parse_rtp(b"\x00" * 20) is None
    assert parse_rtp(b"\x80\x88\x00\x07" + struct.pack("!I", 1234) + b"\0" * 4) == (7, 1234, True)


def test_a_probe_records_what_it_hears_and_talks_back_to_that_address() -> None:
    port = free_udp_port()
    probes = RtpProbes([port]).start()
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    far.settimeout(5)
    try:
        for seq in range(5):
            far.sendto(struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 1) + b"\xd5" * 160,
                       ("127.0.0.1", port))
        data, _ = far.recvfrom(2048)          # the probe's own 20 ms frame, a-law
        assert parse_rtp(data) is not None and data[1] & 0x7F == 8 and len(data) == 172
        deadline = time.monotonic() + 5
        while probes.streams[0].received < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        streams = probes.stop()
        far.close()
    assert (streams[0].received, streams[0].lost) == (5, 0)
