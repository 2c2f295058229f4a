"""Provisioning: a broken, half-built Asterisk chroot is detected and rebuilt; a complete
one is reused. Runs the real script against a cache directory of its own (about a minute:
debootstrap from the machine's own Debian mirror plus Asterisk from sid)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stack.settings import REPO_ROOT

pytestmark = pytest.mark.e2e


def _provision(cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOTLINE_CACHE=str(cache))
    env.pop("HOTLINE_CHROOT", None)
    return subprocess.run(["bash", str(REPO_ROOT / "stack" / "provision.sh")], env=env,
                          capture_output=True, text=True, timeout=900)


def test_half_built_chroot_is_rebuilt_then_reused(tmp_path: Path) -> None:
    cache = Path("/var/cache") / f"hotline-test-{os.getpid()}"
    chroot = cache / "asterisk-sid"
    try:
        # What an interrupted debootstrap leaves: a tree without the completion marker.
        (chroot / "usr" / "sbin").mkdir(parents=True)
        (chroot / "debootstrap-was-here").write_text("partial")

        first = _provision(cache)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "incomplete or broken: rebuilding" in first.stderr
        assert not (chroot / "debootstrap-was-here").exists()
        assert list(chroot.glob(".hotline-provisioned-v*"))
        version = subprocess.run(["chroot", str(chroot), "/usr/sbin/asterisk", "-V"],
                                 capture_output=True, text=True, check=True).stdout
        assert version.startswith("Asterisk 22.")
        # The mirror came from this machine's apt configuration, like the host's own.
        sources = (chroot / "etc" / "apt" / "sources.list").read_text()
        host_sources = "".join(p.read_text() for p in Path("/etc/apt").rglob("*.source*")
                               if p.is_file()) + (Path("/etc/apt/sources.list").read_text()
                                                  if Path("/etc/apt/sources.list").exists()
                                                  else "")
        mirror = sources.split()[1]
        assert mirror in host_sources

        second = _provision(cache)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "(reused)" in second.stderr
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        Path(f"{cache}.lock").unlink(missing_ok=True)
