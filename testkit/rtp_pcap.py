"""Speech a SIPp caller can say: a WAV turned into G.711 a-law RTP in a pcap file.

SIPp's ``play_pcap_audio`` sends the RTP payloads of a capture, paced by its timestamps.
sox encodes the audio to a-law; each 20 ms (160 samples) becomes one Ethernet/IPv4/UDP/RTP
packet (payload type 8, as the callers' SDP offers).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

SAMPLES_PER_PACKET = 160          # 20 ms at 8 kHz
_ETHERNET = bytes(6) + bytes(6) + b"\x08\x00"
_LOOPBACK = bytes([127, 0, 0, 1])


def _ip_checksum(header: bytes) -> int:
    words: tuple[int, ...] = struct.unpack(f"!{len(header) // 2}H", header)
    total = sum(words)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(seq: int, payload: bytes) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, (0x80 if seq == 0 else 0) | 8, seq & 0xFFFF,
                      seq * SAMPLES_PER_PACKET, 0x12345678) + payload
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     _LOOPBACK, _LOOPBACK)
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    return _ETHERNET + ip + udp


def wav_to_pcap(wav: Path, dest: Path) -> Path:
    """Write ``dest``: the 8 kHz mono ``wav`` as a-law RTP, one packet per 20 ms."""
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError("sox is not installed (see stack/host_packages.txt)")
    alaw = subprocess.run([sox, str(wav), "-r", "8000", "-c", "1", "-e", "a-law", "-t", "al",
                           "-"], check=True, capture_output=True).stdout
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for seq, offset in enumerate(range(0, len(alaw), SAMPLES_PER_PACKET)):
        payload = alaw[offset:offset + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, b"\xd5")
        frame = _packet(seq, payload)
        micros = seq * 20_000
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                               len(frame), len(frame)) + frame)
    dest.write_bytes(b"".join(out))
    return dest
