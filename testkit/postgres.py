"""A real PostgreSQL server on loopback, started by the tests themselves.

``initdb`` into a temporary directory, ``pg_ctl start`` on a free port bound to 127.0.0.1,
trust authentication for loopback only. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the ``postgres`` system user (created by the Debian
package) through ``runuser``. Each test gets its own database from :func:`fresh_database`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testkit.redis_server import free_port

PG_BIN_DIRS = tuple(f"/usr/lib/postgresql/{v}/bin" for v in (15, 16, 17))
_counter = itertools.count()


def _pg_bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed: `apt-get install -y postgresql` "
            "(listed in stack/host_packages.txt)"
        )
    return found


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL will not start as root; the Debian package provides the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throw-away cluster; yield a SQLAlchemy URL to its ``postgres`` database."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    datadir = workdir / "data"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        os.chmod(workdir, 0o700)
    subprocess.run(
        _as_server_user([_pg_bin("initdb"), "-D", str(datadir), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
        check=True, capture_output=True, cwd="/",
    )
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={workdir}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    log = workdir / "server.log"
    subprocess.run(
        _as_server_user([_pg_bin("pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(log),
                         "-w", "-t", "60", "start"]),
        check=True, capture_output=True, cwd="/",
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([_pg_bin("pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w",
                             "stop"]),
            capture_output=True, cwd="/",
        )
        shutil.rmtree(workdir, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """Create a new empty database on the server and return its URL (isolation per test)."""
    import psycopg

    name = f"t{os.getpid()}_{next(_counter)}"
    base = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


class RestartablePostgres:
    """A throw-away cluster a test can stop and start again (same port, same data), to
    check what survives a database restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.datadir = self.workdir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
            os.chmod(self.workdir, 0o700)
        subprocess.run(
            _as_server_user([_pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, capture_output=True, cwd="/",
        )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port}"
                f" -c unix_socket_directories={self.workdir} -c fsync=off")
        subprocess.run(
            _as_server_user([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-o", opts, "-l",
                             str(self.workdir / "server.log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True, cwd="/",
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_server_user([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w",
                             "stop"]),
            capture_output=True, cwd="/",
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def restartable_postgres() -> Iterator[RestartablePostgres]:
    server = RestartablePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()
