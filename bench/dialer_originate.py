"""Originates per second the dialer sustains against its channel cap, real Asterisk, SIPp
answering every call as the citizens' phone behind the carrier.

    .venv/bin/python -m bench.dialer_originate [--calls 200] [--caps 5 10 20] [--hold-ms 500]

For each cap a fresh stack (testkit HotlineStack, the core as ``testkit.campaign_core``:
an answered attempt holds ``--hold-ms`` of silence, then completes) gets ``--calls``
satisfaction-callback targets with distinct numbers that all called in before; the dialer
(tick 0.2 s) places them as fast as the cap lets it. From the attempt rows: originates per
second over the span from the first to the last Originate, the most channels ever held at
once (must not exceed the cap), and an attempt's life (Originate → end), median and p99.
Prints a Markdown table; the results are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline_core.call_records import CallRecord
from hotline_core.campaigns.model import (
    CampaignAttempt,
    CampaignKind,
    CampaignTarget,
    TargetState,
)
from hotline_core.campaigns.store import Destination, enqueue_in
from hotline_core.db import make_engine, make_sessionmaker
from testkit.stack import Agent, HotlineStack


def _campaigns(cap: int) -> str:
    return f"""
tick_seconds = 0.2
max_channels = {cap}
[kinds.satisfaction_callback]
hours = ["00:00-24:00"]
max_attempts = 3
retry_spacing_seconds = 1
max_channels = {cap}
ring_seconds = 10
[missed_call]
enabled = false
"""


def _load(maker: sessionmaker[Session], calls: int) -> None:
    at = datetime.now(UTC) - timedelta(hours=1)
    with maker() as s, s.begin():
        for i in range(calls):
            number = f"139{i:08d}"
            s.add(CallRecord(id=f"history-{i}", linkedid=f"history-{i}", line="12345",
                             caller=number, offered_at=at, disposition="answered",
                             route="core"))
            enqueue_in(s, CampaignKind.SATISFACTION_CALLBACK, "12345",
                       [Destination(number)], f"bench:{i}")


def _done(maker: sessionmaker[Session]) -> tuple[int, list[CampaignAttempt]]:
    with maker() as s:
        open_ = s.scalar(select(func.count()).select_from(CampaignTarget).where(
            CampaignTarget.state.in_([st.value for st in TargetState if st.open]))) or 0
        return open_, list(s.scalars(select(CampaignAttempt)))


def _peak(attempts: list[CampaignAttempt]) -> int:
    edges: list[tuple[datetime, int]] = []
    for a in attempts:
        if a.originated_at and a.ended_at:
            edges += [(a.originated_at, 1), (a.ended_at, -1)]
    held = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        held += step
        peak = max(peak, held)
    return peak


def run(cap: int, calls: int, hold_ms: int) -> dict[str, str]:
    os.environ["HOTLINE_TEST_HOLD_MS"] = str(hold_ms)
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})], citizen_phone=True,
                         campaigns=_campaigns(cap), core_module="testkit.campaign_core",
                         dialing="per_number_per_hour = 100\noverall_per_minute = 1000000",
                         rtp_ports=max(80, cap * 4))
    stack.start()
    try:
        maker = make_sessionmaker(make_engine(stack.settings.database_url))
        _load(maker, calls)
        deadline = time.monotonic() + 60 + calls * (hold_ms / 1000 + 2)
        while True:
            open_, attempts = _done(maker)
            if open_ == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"cap {cap}: {open_} targets still open")
            time.sleep(0.5)
    finally:
        stack.stop()
    placed = sorted(a.originated_at for a in attempts if a.originated_at)
    span = (placed[-1] - placed[0]).total_seconds()
    lives = sorted((a.ended_at - a.originated_at).total_seconds()
                   for a in attempts if a.originated_at and a.ended_at)
    outcomes: dict[str, int] = {}
    for a in attempts:
        outcomes[a.outcome or "?"] = outcomes.get(a.outcome or "?", 0) + 1
    return {
        "cap": str(cap), "attempts": str(len(attempts)),
        "outcomes": ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
        "originates/s": f"{(len(placed) - 1) / span:.1f}" if span > 0 else "-",
        "peak channels": str(_peak(attempts)),
        "attempt life p50 / p99 (s)":
            f"{statistics.median(lives):.2f} / {lives[int(len(lives) * 0.99) - 1]:.2f}",
        "ceiling cap / life (per s)": f"{cap / statistics.median(lives):.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--caps", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--hold-ms", type=int, default=500)
    args = parser.parse_args()
    rows = [run(cap, args.calls, args.hold_ms) for cap in args.caps]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(r[k] for k in keys) + " |")


if __name__ == "__main__":
    main()
