"""What a caller hears, measured: UDP sockets that stand in for callers' media ports (RTP 探针).

A probe caller's SDP names one of these sockets as its audio port (the SIP side is SIPp,
``bench/sipp/load_probe.xml``). Each socket records every RTP packet Asterisk sends it
(arrival time, sequence number, timestamp, marker) and, once it has heard the first packet,
talks back: a 20 ms G.711 a-law frame every 20 ms to the address the audio came from, as a
phone with symmetric RTP does (so a caller bridged to an agent whose phone echoes hears its
own audio back through the platform).

Figures per socket (:class:`StreamStats`, RFC 3550 terms):

* loss: packets missing from the sequence-number span received (16-bit wrap unwrapped);
* transit jitter: for two packets in a row (sequence + 1, second without the marker bit that
  flags a new audio source) ``D = (arrival2 - arrival1) - (ts2 - ts1) / 8000``; the p99 of
  ``|D|`` over all such pairs, and RFC 3550's smoothed ``J += (|D| - J) / 16`` at the end.

Loopback only; one thread serves every socket of a probe set.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

CLOCK_RATE = 8000
FRAME_S = 0.020
_SILENCE = b"\xd5" * 160          # 20 ms of a-law silence


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    v = sorted(values)
    if not v:
        return 0.0
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


@dataclass
class StreamStats:
    """The RTP one caller received."""

    received: int = 0
    first_seq: int | None = None
    last_ext_seq: int = 0           # sequence number extended past 16-bit wraps
    highest_ext_seq: int = -1
    lowest_ext_seq: int = -1
    deviations_ms: list[float] = field(default_factory=list)
    rfc3550_jitter_ms: float = 0.0
    _prev: tuple[int, float, int] | None = None    # ext seq, arrival, timestamp

    def add(self, seq: int, timestamp: int, marker: bool, arrival: float) -> None:
        ext = self._extend(seq)
        self.received += 1
        self.highest_ext_seq = max(self.highest_ext_seq, ext)
        self.lowest_ext_seq = ext if self.lowest_ext_seq < 0 else min(self.lowest_ext_seq, ext)
        prev = self._prev
        if prev is not None and ext == prev[0] + 1 and not marker:
            ts_delta = ((timestamp - prev[2]) & 0xFFFFFFFF) / CLOCK_RATE
            d = abs((arrival - prev[1]) - ts_delta) * 1000
            self.deviations_ms.append(d)
            self.rfc3550_jitter_ms += (d - self.rfc3550_jitter_ms) / 16
        self._prev = (ext, arrival, timestamp)

    def _extend(self, seq: int) -> int:
        if self.first_seq is None:
            self.first_seq = seq
            self.last_ext_seq = seq
            return seq
        # The nearest extended value to the last one with these low 16 bits.
        base = self.last_ext_seq - (self.last_ext_seq & 0xFFFF)
        candidates = (base - 0x10000 + seq, base + seq, base + 0x10000 + seq)
        ext = min(candidates, key=lambda c: abs(c - self.last_ext_seq))
        self.last_ext_seq = ext
        return ext

    @property
    def expected(self) -> int:
        return 0 if self.received == 0 else self.highest_ext_seq - self.lowest_ext_seq + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)


@dataclass
class ProbeSummary:
    callers: int                 # probe sockets
    heard: int                   # sockets that received any RTP
    received: int
    lost: int
    jitter_p99_ms: float         # p99 of |D| over every socket's pairs
    jitter_max_ms: float
    rfc3550_max_ms: float        # the worst socket's smoothed jitter at the end

    @property
    def loss_pct(self) -> float:
        total = self.received + self.lost
        return 100.0 * self.lost / total if total else 0.0


def summarise(streams: list[StreamStats]) -> ProbeSummary:
    devs = [d for s in streams for d in s.deviations_ms]
    return ProbeSummary(
        callers=len(streams), heard=sum(1 for s in streams if s.received),
        received=sum(s.received for s in streams), lost=sum(s.lost for s in streams),
        jitter_p99_ms=percentile(devs, 99), jitter_max_ms=max(devs, default=0.0),
        rfc3550_max_ms=max((s.rfc3550_jitter_ms for s in streams), default=0.0))


def parse_rtp(data: bytes) -> tuple[int, int, bool] | None:
    """(sequence number, timestamp, marker) of an RTP packet; None for anything else."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    seq, ts = struct.unpack("!HI", data[2:8])
    return seq, ts, bool(data[1] & 0x80)


class RtpProbes:
    """``count`` loopback UDP sockets on free ports (:attr:`ports`), each a caller's ear."""

    def __init__(self, ports: list[int], host: str = "127.0.0.1", talk: bool = True) -> None:
        self.host = host
        self.talk = talk
        self.ports = ports
        self.streams = [StreamStats() for _ in ports]
        self._socks: list[socket.socket] = []
        self._peers: list[tuple[str, int] | None] = [None] * len(ports)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RtpProbes:
        for port in self.ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((self.host, port))
            s.setblocking(False)
            self._socks.append(s)
        self._thread = threading.Thread(target=self._run, name="rtp-probes", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[StreamStats]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for s in self._socks:
            s.close()
        return self.streams

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for i, s in enumerate(self._socks):
            sel.register(s, selectors.EVENT_READ, i)
        seq, next_send = 0, time.monotonic() + FRAME_S
        while not self._stop.is_set():
            timeout = max(0.0, next_send - time.monotonic())
            for key, _ in sel.select(timeout):
                self._read(key.data, key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            if now >= next_send:
                if self.talk:
                    self._send(seq)
                seq += 1
                next_send += FRAME_S
                if next_send < now:          # fell behind (loaded machine): no burst
                    next_send = now + FRAME_S
        sel.close()

    def _read(self, i: int, sock: socket.socket) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            arrival = time.monotonic()
            pkt = parse_rtp(data)
            if pkt is None:
                continue                      # RTCP on the RTP port, or noise
            if self._peers[i] is None:
                self._peers[i] = peer
            self.streams[i].add(pkt[0], pkt[1], pkt[2], arrival)

    def _send(self, seq: int) -> None:
        header = struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                             0x50B0E000)
        for sock, peer in zip(self._socks, self._peers, strict=True):
            if peer is not None:
                try:
                    sock.sendto(header + _SILENCE, peer)
                except OSError:
                    pass                      # the far end went away: the call is ending
