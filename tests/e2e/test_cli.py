"""`hotline up --detach`, `hotline status`, `hotline down`: the whole stack from the
command line, on ports picked for the test; and bad settings stop start-up."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stack.settings import REPO_ROOT
from testkit.redis_server import free_port
from testkit.stack import CHROOT, free_port_run, free_udp_port

pytestmark = pytest.mark.e2e


def _hotline(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stack.cli", "--config", str(config), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_status_down(tmp_path: Path) -> None:
    # Two core instances ([core] instances, stack/cluster.py): FastAGI on agi and agi + 1.
    http, redis, ami, agi = free_port(), free_port(), free_port(), free_port_run(2)
    config = tmp_path / "hotline.toml"
    config.write_text(f"""
[network]
sip_port = {free_udp_port()}
http_port = {http}
rtp_start = 41000
rtp_end = 41099
[ami]
port = {ami}
[agi]
port = {agi}
[core]
instances = 2
[redis]
port = {redis}
[paths]
state_dir = "{tmp_path / 'var'}"
lines_file = "{REPO_ROOT / 'config' / 'lines.toml'}"
agents_file = "{REPO_ROOT / 'config' / 'agents.toml'}"
distribution_file = "{REPO_ROOT / 'config' / 'distribution.toml'}"
prompts_file = "{REPO_ROOT / 'asterisk_conf' / 'prompts.txt'}"
[asterisk]
chroot = "{CHROOT}"
instance = "cli-{http}"
""")
    up = _hotline(config, "up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = _hotline(config, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        # Every address in use is printed, and each component reports healthy.
        assert f"127.0.0.1:{ami}" in status.stdout
        assert f"127.0.0.1:{agi}, 127.0.0.1:{agi + 1}" in status.stdout
        assert _listening(agi) and _listening(agi + 1)    # both instances serve FastAGI
        for component in ("redis", "asterisk_ami", "fastagi", "database"):
            assert f"health {component}" in status.stdout
        assert "DOWN" not in status.stdout
        # The stack's own redis-server listens on loopback only.
        assert _listening(redis)
    finally:
        down = _hotline(config, "down")
        shutil.rmtree(CHROOT / "srv" / "hotline" / f"cli-{http}", ignore_errors=True)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not _listening(http)
    assert not _listening(redis)
    assert not _listening(ami)
    assert not _listening(agi) and not _listening(agi + 1)


def test_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text(f'[network]\nhttp_port = 0\n[paths]\nstate_dir = "{tmp_path}"\n')
    res = _hotline(config, "up", timeout=30)
    assert res.returncode == 2
    assert "network.http_port" in res.stderr
