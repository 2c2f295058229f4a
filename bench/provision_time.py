"""Provisioning time: ``bash stack/provision.sh`` warm (chroot present) and cold (built anew).

    .venv/bin/python bench/provision_time.py [--warm-runs 3] [--skip-cold] [--cold-timeout 900]

* warm: the script as ``make run`` / ``make test`` call it, against the existing cache
  (``HOTLINE_CACHE``/``HOTLINE_CHROOT`` as in this environment): host packages checked, the
  chroot's marker and ``asterisk -V``/``sipp`` checked, nothing built. Run ``--warm-runs`` times.
* cold: the same script with ``HOTLINE_CACHE`` pointed at a fresh temporary directory under
  /var/cache (``HOTLINE_CHROOT`` removed from the environment so it follows the cache), so it
  runs debootstrap (sid, minbase) and apt-get inside the chroot from the host's own mirror.
  The directory, its ``.lock`` file and anything mounted under it are removed afterwards,
  also on Ctrl-C or failure. The phases are timed from the script's own log lines.

Needs root (like provision.sh itself for a cold build). Bounded: every run has a timeout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit import processes  # noqa: E402

SCRIPT = ROOT / "stack" / "provision.sh"


def run_provision(env: dict[str, str], timeout: float) -> tuple[float, int, str]:
    """(seconds, exit code, stderr+stdout) of one ``bash stack/provision.sh``."""
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", str(SCRIPT)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        # Timeout, Ctrl-C or anything else: end the whole process group (bash, debootstrap,
        # apt-get, dpkg) so nothing keeps writing into the directory we are about to remove.
        processes.stop(proc, grace=10, group=True)
        raise
    return time.monotonic() - t0, proc.returncode, out.decode(errors="replace")



def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    with open("/proc/mounts") as fh:
        for line in fh:
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_cache(cache: Path) -> None:
    """Remove a cold cache: unmount what debootstrap may have left mounted, then delete."""
    for point in _mounts_under(cache):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    if _mounts_under(cache):
        print(f"!! still mounted under {cache}; not removing it", file=sys.stderr)
        return
    shutil.rmtree(cache, ignore_errors=True)
    Path(f"{cache}.lock").unlink(missing_ok=True)


def warm(runs: int, timeout: float) -> list[float]:
    times = []
    for i in range(runs):
        secs, rc, out = run_provision(dict(os.environ), timeout)
        if rc != 0:
            raise SystemExit(f"warm provision.sh failed (exit {rc}):\n{out}")
        last = out.strip().splitlines()[-1] if out.strip() else ""
        print(f"warm run {i + 1}: {secs:.2f} s  ({last})")
        times.append(secs)
    return times


def cold(timeout: float) -> tuple[float, str]:
    cache = Path(tempfile.mkdtemp(prefix="hotline-bench-cold-", dir="/var/cache"))
    env = {k: v for k, v in os.environ.items() if k != "HOTLINE_CHROOT"}
    env["HOTLINE_CACHE"] = str(cache)
    try:
        print(f"cold build into {cache} (removed afterwards) ...", flush=True)
        secs, rc, out = run_provision(env, timeout)
        if rc != 0:
            raise SystemExit(f"cold provision.sh failed (exit {rc}):\n{out}")
        chroot = cache / "asterisk-sid"
        size = subprocess.run(["du", "-sh", str(chroot)], capture_output=True, text=True)
        phases = _phases(cache)
        print(f"cold: {secs:.1f} s; chroot {size.stdout.split()[0] if size.stdout else '?'}; "
              f"{phases}")
        return secs, phases
    finally:
        remove_cache(cache)
        print(f"removed {cache}", flush=True)


def _phases(cache: Path) -> str:
    """debootstrap and apt-get spans from the log files' modification times."""
    chroot = cache / "asterisk-sid"
    marker = next(chroot.glob(".hotline-provisioned-v*"), None)
    boot, apt = cache / "debootstrap.log", cache / "chroot-apt.log"
    if not (boot.exists() and apt.exists() and marker is not None):
        return ""
    # debootstrap.log is written until debootstrap ends; chroot-apt.log until apt-get ends.
    t_boot, t_apt = boot.stat().st_mtime, apt.stat().st_mtime
    return (f"apt-get install (incl. apt-get update) ≈ {t_apt - t_boot:.1f} s after "
            f"debootstrap finished")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--warm-runs", type=int, default=3)
    p.add_argument("--skip-cold", action="store_true")
    p.add_argument("--cold-timeout", type=float, default=900.0)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root (provision.sh builds the chroot as root)")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    times = warm(args.warm_runs, 120.0)
    cold_s = None
    if not args.skip_cold:
        cold_s, _ = cold(args.cold_timeout)
    print()
    print("| provisioning | time |")
    print("|---|---|")
    print(f"| warm (chroot present), median of {len(times)} | {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}) |")
    if cold_s is not None:
        print(f"| cold (debootstrap sid + apt-get in chroot) | {cold_s:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
