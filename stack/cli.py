"""The ``hotline`` command: provision, start, stop and inspect the whole stack.

    hotline provision          install what is missing (Debian packages, Asterisk chroot)
    hotline up [--detach]      start redis-server, Asterisk and the core; Ctrl-C stops all
    hotline status             addresses in use and the health of each component
    hotline down               stop a detached stack
    hotline core               run only the core (redis and Asterisk already up)
    hotline render-asterisk    write the Asterisk configuration (for a system Asterisk)
    hotline transcribe FILE…   transcribe recordings (or --backlog) with a progress bar
    hotline speech-workers     run the transcription worker pool
    hotline user add|passwd|disable|list   people who sign in to the web
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from speech.cli import add_transcribe_command, add_worker_command
from speech.settings import SpeechSettings
from stack.asterisk import AsteriskProcess
from stack.core import CONFIG_ERRORS, validate
from stack.instance import spec_from_settings
from stack.secret_files import private_dir, restrict_umask
from stack.services import (
    CoreProcess,
    Redis,
    SpeechWorkers,
    StartError,
    Supervised,
    pidfile,
)
from stack.settings import REPO_ROOT, Settings, load_settings, sip_password
from stack.speech_service import speech_settings
from stack.tls import client_context, ensure_certificate
from stack.tokens import ensure_tokens_file, token_of
from stack.users_cli import add_user_command, signin_hint


def main(argv: list[str] | None = None) -> int:
    # Everything the stack writes (database, logs, recordings, Redis AOF, secrets) is private
    # to the hotline's user and group; the processes it starts inherit this.
    restrict_umask()
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None,
                        help="settings file (default: $HOTLINE_CONFIG or config/hotline.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision")
    up = sub.add_parser("up")
    up.add_argument("--detach", action="store_true", help="run in the background")
    sub.add_parser("status")
    sub.add_parser("down")
    sub.add_parser("core")
    sub.add_parser("render-asterisk", help="write the Asterisk configuration and prompts")
    add_transcribe_command(sub, lambda: _speech_or_exit(args.config))
    add_worker_command(sub, lambda: _speech_or_exit(args.config))
    add_user_command(sub, lambda: load_settings(args.config))
    args = parser.parse_args(argv)
    if hasattr(args, "func"):
        try:
            return int(args.func(args))
        except CONFIG_ERRORS as exc:
            print(f"hotline: bad setting: {exc}", file=sys.stderr)
            return 2

    if args.command == "provision":
        return subprocess.call(["bash", str(REPO_ROOT / "stack" / "provision.sh")])
    try:
        settings = load_settings(args.config)
        if args.command == "core":
            from stack.core import main as core_main
            return core_main(["--config", str(settings.source)])
        if args.command == "render-asterisk":
            from stack.asterisk import render
            spec = spec_from_settings(settings)
            render(spec)
            print(f"Asterisk configuration written to {spec.host_dir / 'etc'}")
            return 0
        if args.command == "up":
            return _up_detached(settings, args.config) if args.detach else _up(settings)
        if args.command == "status":
            return _status(settings)
        return _down(settings)
    except CONFIG_ERRORS as exc:
        print(f"hotline: bad setting: {exc}", file=sys.stderr)
        return 2
    except StartError as exc:
        print(f"hotline: could not start: {exc}", file=sys.stderr)
        return 1


def _speech_or_exit(config: Path | None) -> SpeechSettings:
    speech = speech_settings(load_settings(config))
    if speech is None:
        raise SystemExit("hotline: transcription is off: set [speech] model_dir in the settings")
    return speech


def _up(settings: Settings) -> int:
    validate(settings)                    # every config file, before anything starts
    spec = spec_from_settings(settings)
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    prepare_state_dirs(settings)
    if settings.https:
        ensure_certificate(settings)      # before the health wait, which trusts it
    redis, asterisk = Redis(settings), AsteriskProcess(spec)
    # [core] instances: all active on the one Asterisk (stack/cluster.py).
    cores = [CoreProcess(settings, index=i) for i in range(settings.core_instances)]
    speech = SpeechWorkers(settings) if speech_settings(settings) is not None else None
    pid = pidfile(settings)
    pid.parent.mkdir(parents=True, exist_ok=True)
    pid.write_text(str(os.getpid()))
    try:
        redis.start()
        asterisk.start()
        _link_recordings(settings, spec.recordings_dir)
        for core in cores:
            core.start()
        if speech is not None:
            speech.start()
        _banner(settings, spec)
        # Every child is restarted when it exits, with growing pauses while it keeps failing;
        # Redis before the core, which needs it. The dialplan's fallback queue keeps calls
        # flowing while the core is away.
        children = [Supervised("redis-server", redis.start, redis.alive, _report),
                    Supervised("Asterisk", asterisk.start, asterisk.running, _report),
                    *(Supervised(f"core {c.index}" if len(cores) > 1 else "core", c.start,
                                 c.alive, _report) for c in cores)]
        if speech is not None:
            children.append(Supervised("speech workers", speech.start, speech.alive, _report))
        while not stop["now"]:
            for child in children:
                child.check()
            time.sleep(0.5)
    finally:
        if speech is not None:
            speech.stop()
        for core in reversed(cores):
            core.stop()
        asterisk.stop()
        redis.stop()
        pid.unlink(missing_ok=True)
        print("hotline: stopped")
    return 0


def _report(message: str) -> None:
    print(f"hotline: {message}", file=sys.stderr, flush=True)


def prepare_state_dirs(settings: Settings) -> None:
    """The state directory and its parts: 0750 (secrets 0700), also when an older
    installation made them world-readable."""
    private_dir(settings.state_dir)
    for part in ("logs", "run", "redis"):
        private_dir(settings.state_dir / part)
    private_dir(settings.state_dir / "secrets", 0o700)


def _link_recordings(settings: Settings, recordings: Path) -> None:
    link = settings.state_dir / "recordings"
    if link.is_symlink() or not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(recordings)


def _banner(settings: Settings, spec: object) -> None:
    from hotline_core.agent_directory import load_agents

    agents = load_agents(settings.agents_file)
    tokens = ensure_tokens_file(settings.api_tokens_file, agents)
    print(f"\nhotline is up.\n  dashboard / API: {settings.http_url}")
    print(f"  API tokens:      {tokens}")
    print(f"  SIP server:      {settings.bind_address}:{settings.sip_port} (udp)")
    if sys.stdout.isatty():
        print("  agents' SIP accounts (user / password):")
        for a in agents:
            print(f"    {a.id:<6} {sip_password(settings.state_dir, a.id):<26} {a.name}")
    else:
        # Not a terminal (a detached stack logs this to stack.log): no secret goes there.
        print("  agents' SIP accounts (user / password file, or HOTLINE_SIP_PASSWORD_<id>):")
        for a in agents:
            print(f"    {a.id:<6} {settings.state_dir / 'secrets' / f'sip-{a.id}'}  {a.name}")
    print(f"  logs:            {settings.state_dir / 'logs'}  (Asterisk: "
          f"{getattr(spec, 'host_dir', '')}/log)")
    print(f"  recordings:      {settings.state_dir / 'recordings'}")
    print(signin_hint(settings))
    print("Press Ctrl-C to stop.\n", flush=True)


def _up_detached(settings: Settings, config: Path | None) -> int:
    validate(settings)                    # a bad setting: exit 2 here, not in the background
    prepare_state_dirs(settings)
    log = settings.state_dir / "logs" / "stack.log"
    argv = [sys.executable, "-m", "stack.cli"]
    if config is not None:
        argv += ["--config", str(config)]
    with open(log, "ab") as fh:
        proc = subprocess.Popen([*argv, "up"], cwd=REPO_ROOT, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    CoreProcess(settings, proc).wait_healthy(120)
    print(f"hotline: running in the background (pid {proc.pid}); log {log}")
    print(signin_hint(settings))
    return _status(settings)


def _status(settings: Settings) -> int:
    pid = pidfile(settings)
    running = pid.exists()
    print(f"stack: {'running, pid ' + pid.read_text().strip() if running else 'not running'}")
    for name, address in settings.addresses().items():
        print(f"  {name:<10} {address}")
    url = f"{settings.http_url}api/health"
    request = urllib.request.Request(url)
    # Component details are for supervisors: the supervisor token of the tokens file.
    token = (token_of(settings.api_tokens_file, "supervisor")
             if settings.api_tokens_file.exists() else None)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=3,
                                    context=client_context(settings)) as resp:
            health = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        # 503: the core answers but a part is down; its body names which one.
        try:
            health = json.loads(exc.read())
        except ValueError:
            health = {"ok": False, "error": f"HTTP {exc.code}"}
    except OSError as exc:
        health = {"ok": False, "error": str(exc)}
    except ValueError:
        health = {"ok": False, "error": "bad health response"}
    for name, comp in health.get("components", {}).items():
        print(f"  health {name:<14} {'ok' if comp['ok'] else 'DOWN'}  {comp['detail']}")
    if "error" in health:
        print(f"  health: core not reachable ({health['error']})")
    return 0 if health.get("ok") else 1


def _down(settings: Settings) -> int:
    pid = pidfile(settings)
    if not pid.exists():
        print("hotline: not running")
        return 0
    number = int(pid.read_text().strip())
    try:
        os.kill(number, signal.SIGTERM)
    except ProcessLookupError:
        pid.unlink(missing_ok=True)
        return 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid.exists():
        time.sleep(0.2)
    print("hotline: stopped" if not pid.exists() else "hotline: still stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
