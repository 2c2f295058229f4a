"""``hotline user add|passwd|disable|list`` through the command's main() (and once as a
real subprocess) on a settings file of its own, SQLite in a tmp state dir: the password
comes from stdin, never an argument; bad input is refused naming what is wrong, nothing
written; the first-start hint; the session cookie key file is 0600."""

from __future__ import annotations

import contextlib
import io
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import select

from hotline_core.config_errors import ConfigError
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.users import SignedIn, SigninTable, User, sign_in, utc_now
from stack import cli
from stack.secret_files import cookie_key
from stack.settings import REPO_ROOT, load_settings
from stack.users_cli import signin_hint

PASSWORD = "a long password 1"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(f"""
[paths]
state_dir = "{tmp_path / 'var'}"
agents_file = "{REPO_ROOT / 'config' / 'agents.toml'}"
""")
    return path


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def hotline(config: Path, *args: str, stdin: str = "") -> Done:
    """The ``hotline`` command's main() in this process (stdin not a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    with (mock.patch.object(sys, "stdin", io.StringIO(stdin)),
          contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
        try:
            code = cli.main(["--config", str(config), *args])
        except SystemExit as exc:           # argparse refusals
            code = int(exc.code or 0)
    return Done(code, out.getvalue(), err.getvalue())


def test_the_real_command_reads_the_password_from_stdin(config: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "stack.cli", "--config", str(config), "user",
                           "add", "sup1", "--role", "supervisor"], input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert _signs_in(config, "sup1", PASSWORD)


def _users(config: Path) -> dict[str, User]:
    upgrade(load_settings(config).database_url)
    engine = make_engine(load_settings(config).database_url)
    try:
        with make_sessionmaker(engine)() as db:
            return {u.name: u for u in db.scalars(select(User))}
    finally:
        engine.dispose()


def _signs_in(config: Path, name: str, password: str) -> bool:
    engine = make_engine(load_settings(config).database_url)
    try:
        with make_sessionmaker(engine)() as db, db.begin():
            return isinstance(sign_in(db, name, password, SigninTable(), utc_now()), SignedIn)
    finally:
        engine.dispose()


def test_add_passwd_disable_list(config: Path) -> None:
    settings = load_settings(config)
    assert "hotline user add admin --role admin" in signin_hint(settings)
    done = hotline(config, "user", "add", "Admin", "--role", "admin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "POST /api/session" in signin_hint(settings)
    assert _signs_in(config, "admin", PASSWORD)

    done = hotline(config, "user", "add", "op1", "--role", "operator", "--agent", "1001",
                   stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    done = hotline(config, "user", "add", "unit1", "--role", "unit", "--unit",
                   "town-chengguan", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    made = _users(config)
    assert (made["op1"].role, made["op1"].agent_id) == ("operator", "1001")
    assert (made["unit1"].role, made["unit1"].unit) == ("unit", "town-chengguan")
    assert made["admin"].password_hash.startswith("$argon2id$")

    done = hotline(config, "user", "passwd", "op1", stdin="another password 2\n")
    assert done.returncode == 0, done.stderr
    assert not _signs_in(config, "op1", PASSWORD)
    assert _signs_in(config, "op1", "another password 2")

    done = hotline(config, "user", "disable", "op1")
    assert done.returncode == 0, done.stderr
    assert not _signs_in(config, "op1", "another password 2")

    listing = hotline(config, "user", "list")
    assert listing.returncode == 0
    lines = {line.split()[0]: line.split() for line in listing.stdout.splitlines()}
    assert lines["op1"] == ["op1", "operator", "1001", "disabled"]
    assert lines["unit1"] == ["unit1", "unit", "town-chengguan", "active"]
    assert "$argon2" not in listing.stdout


@pytest.mark.parametrize(("args", "stdin", "named"), [
    (("--role", "operator"), PASSWORD, "agent"),                     # no SIP extension
    (("--role", "operator", "--agent", "9999"), PASSWORD, "agent"),  # not in agents.toml
    (("--role", "unit"), PASSWORD, "unit"),                          # a unit user's unit
    (("--role", "supervisor", "--unit", "x"), PASSWORD, "unit"),
    (("--role", "supervisor"), "short", "password"),
    (("--role", "supervisor"), "", "password"),
    (("--role", "supervisor", "--agent", "9999"), PASSWORD, "agent"),  # not in agents.toml
    (("--role", "dispatcher", "--agent", "1002"), PASSWORD, "agent"),  # no phone for them
])
def test_bad_additions_are_refused_naming_what(config: Path, args: tuple[str, ...],
                                               stdin: str, named: str) -> None:
    done = hotline(config, "user", "add", "someone", *args, stdin=stdin + "\n")
    assert done.returncode == 2
    assert done.stderr.startswith(f"hotline: {named}"), done.stderr
    assert "someone" not in _users(config)


def test_a_supervisor_is_tied_to_a_phone_of_its_own(config: Path) -> None:
    """The phone rung for listen/whisper/barge (web/spy): from agents.toml, one person's."""
    assert hotline(config, "user", "add", "op1", "--role", "operator", "--agent", "1001",
                   stdin=PASSWORD + "\n").returncode == 0
    done = hotline(config, "user", "add", "sup1", "--role", "supervisor", "--agent", "1001",
                   stdin=PASSWORD + "\n")
    assert done.returncode == 2 and "already user 'op1'" in done.stderr, done.stderr
    done = hotline(config, "user", "add", "sup1", "--role", "supervisor", "--agent", "1005",
                   stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert (_users(config)["sup1"].role, _users(config)["sup1"].agent_id) == ("supervisor",
                                                                              "1005")


def test_the_password_is_never_an_argument(config: Path) -> None:
    done = hotline(config, "user", "add", "sup1", "--role", "supervisor", "--password",
                   PASSWORD)
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr


def test_hostile_names_and_unknown_users(config: Path) -> None:
    for name in ("../etc", "a" * 65, "名字", "-x"):
        done = hotline(config, "user", "add", "--role", "admin", "--", name,
                       stdin=PASSWORD + "\n")
        assert done.returncode == 2, (name, done.stderr)
    done = hotline(config, "user", "disable", "ghost")
    assert done.returncode == 2 and "no user 'ghost'" in done.stderr
    done = hotline(config, "user", "add", "twin", "--role", "admin", stdin=PASSWORD + "\n")
    assert done.returncode == 0
    done = hotline(config, "user", "add", "TWIN", "--role", "admin", stdin=PASSWORD + "\n")
    assert done.returncode == 2 and "exists already" in done.stderr


def test_the_cookie_key_file_is_0600_and_kept(tmp_path: Path) -> None:
    key = cookie_key(tmp_path)
    file = tmp_path / "secrets" / "session_cookie_key"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert cookie_key(tmp_path) == key               # the same key on the next start
    file.write_text("not a key")
    with pytest.raises(ConfigError, match="session_cookie_key"):
        cookie_key(tmp_path)
