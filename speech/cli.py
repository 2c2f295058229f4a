"""``hotline transcribe``: transcribe given recordings, or work through the backlog.

The hotline CLI calls :func:`transcribe` (or registers :func:`add_transcribe_command`).
Both modes go through the same Redis queue and worker processes as production, so what
the CLI shows is what the service does; progress is drawn on stderr::

    [##########..........]  12/24 jobs  1 failed  318.0 s audio  6.9 audio-s/s
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import redis

from hotline_core.redis_keys import RedisKeys
from speech.jobs import JobEvent, JobQueue
from speech.settings import SpeechSettings

_LEG_SUFFIX = {"in": "caller", "rx": "caller", "out": "agent", "tx": "agent"}


def call_and_leg(path: Path) -> tuple[str, str]:
    """Call id and leg from a recording name: ``<uniqueid>-in.wav`` is the caller leg,
    ``-out`` the agent leg, ``vm-<id>`` a voice message, anything else the mixed call."""
    stem = path.stem
    m = re.fullmatch(r"(.+)[-_.](in|out|rx|tx)", stem)
    if m:
        return m.group(1), _LEG_SUFFIX[m.group(2)]
    if stem.startswith("vm-"):
        return stem[3:], "voicemail"
    return stem, "mixed"


@dataclass(frozen=True)
class TranscribeSummary:
    done: int
    failed: int
    audio_seconds: float
    wall_seconds: float

    @property
    def audio_seconds_per_second(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0


class ProgressBar:
    def __init__(self, out: TextIO, width: int = 20) -> None:
        self.out = out
        self.width = width
        self.started = time.monotonic()

    def draw(self, done: int, failed: int, total: int, audio_seconds: float) -> None:
        finished = done + failed
        filled = self.width * finished // total if total else self.width
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.out.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {finished:>4}/{total} jobs"
            f"  {failed} failed  {audio_seconds:.1f} s audio"
            f"  {audio_seconds / elapsed:.1f} audio-s/s"
        )
        self.out.flush()


def transcribe(
    settings: SpeechSettings, paths: Sequence[Path] = (), backlog: bool = False,
    workers: int | None = None, out: TextIO = sys.stderr,
) -> TranscribeSummary:
    """Queue ``paths`` (or take the backlog already queued), run a worker pool until they
    are all done or failed, and draw progress. Ctrl-C stops after the current jobs; what
    was not done stays queued for the service."""
    if not paths and not backlog:
        raise ValueError("give recordings to transcribe, or backlog=True")
    # The worker pool (and with it Vosk) is imported when a command runs, not when the
    # `hotline` command registers its subcommands.
    from speech.worker import WorkerPool

    client = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                  socket_timeout=10, socket_connect_timeout=5)
    queue = JobQueue(client, RedisKeys(settings.namespace).speech, settings.lease_seconds,
                     settings.retry_delay_seconds)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(queue.keys.events)
    pubsub.get_message(timeout=5)
    mine = {queue.enqueue(*call_and_leg(p), str(p.resolve())) for p in paths}
    total = len(mine) if paths else queue.depth().outstanding
    bar = ProgressBar(out)
    done = failed = 0
    audio = 0.0
    pool = WorkerPool(settings, size=workers)
    pool.start()
    try:
        bar.draw(done, failed, total, audio)
        while not _finished(queue, mine, backlog, done + failed):
            msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            pool.supervise()  # a crashed worker is replaced, its job comes back
            if msg is None:
                continue
            event = JobEvent.from_json(msg["data"])
            if paths and event.job_id not in mine:
                continue
            if event.event == "done":
                done += 1
                audio += event.audio_seconds
            elif event.event == "failed":
                failed += 1
            else:
                continue
            if backlog:
                total = max(total, done + failed + queue.depth().outstanding)
            bar.draw(done, failed, total, audio)
    finally:
        pool.stop()
        pubsub.close()
        client.close()
        out.write("\n")
    return TranscribeSummary(done, failed, audio, time.monotonic() - bar.started)


def _finished(queue: JobQueue, mine: set[str], backlog: bool, finished: int) -> bool:
    if not backlog:
        return finished >= len(mine)
    return queue.depth().outstanding == 0


def add_transcribe_command(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    load_settings: Callable[[], SpeechSettings],
) -> None:
    """Register ``hotline transcribe [RECORDING ...] [--backlog] [--workers N]``."""
    cmd = subparsers.add_parser("transcribe", help="transcribe recordings or the backlog")
    cmd.add_argument("recordings", nargs="*", type=Path, help="WAV files (8 kHz mono)")
    cmd.add_argument("--backlog", action="store_true", help="work through the queued jobs")
    cmd.add_argument("--workers", type=int, default=None, help="default: speech.workers")

    def run(args: argparse.Namespace) -> int:
        if not args.recordings and not args.backlog:
            cmd.error("give RECORDING files or --backlog")
        summary = transcribe(load_settings(), args.recordings, args.backlog, args.workers)
        print(f"{summary.done} transcribed, {summary.failed} failed, "
              f"{summary.audio_seconds:.1f} s of audio in {summary.wall_seconds:.1f} s "
              f"({summary.audio_seconds_per_second:.1f} audio-s/s)")
        return 1 if summary.failed else 0

    cmd.set_defaults(func=run)


def add_worker_command(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    load_settings: Callable[[], SpeechSettings],
) -> None:
    """Register ``hotline speech-workers``: the long-running batch worker service."""
    cmd = subparsers.add_parser("speech-workers", help="run the transcription worker pool")

    def run(args: argparse.Namespace) -> int:
        from speech.worker import serve

        serve(load_settings())
        return 0

    cmd.set_defaults(func=run)
