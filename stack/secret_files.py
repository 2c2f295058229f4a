"""Secret files of an installation (AMI secret, SIP and Redis passwords, API tokens, the TLS
key) and the private state directories that hold personal data.

A secret file appears whole or not at all: it is written to a temporary file in the same
directory (mode 0600), flushed to disk, then linked into place, so a crash or a second
process starting at the same moment never leaves a half-written or an overwritten secret.
An empty secret file is refused, naming it, instead of being used as an empty password.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from hotline_core.config_errors import ConfigError

# Files the stack creates (database, logs, recordings, Redis AOF, secrets) are never
# readable by other users of the machine: group may read, others nothing.
PRIVATE_UMASK = 0o027


def restrict_umask() -> None:
    """Called first thing by every process of the stack (CLI, core, speech workers)."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path, mode: int = 0o750) -> Path:
    """Create ``path`` (and parents) and make it ``mode``, also when it already existed with
    looser permissions (an installation from before umask 027)."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    if path.stat().st_mode & 0o777 != mode:
        path.chmod(mode)
    return path


def read_secret_file(path: Path) -> str:
    """The secret in ``path``; an empty (or blank) file stops start-up naming the file."""
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ConfigError(path, path.name,
                          "the secret file is empty: put the secret in it, or delete it to "
                          "have a new one generated")
    return value


def write_secret_file(path: Path, value: str, *, replace: bool = False) -> str:
    """Write ``value`` to ``path`` atomically with mode 0600 and return the secret kept.

    Without ``replace``, an existing file wins (two processes generating the same secret at
    once agree on the first one written); with it, the file is replaced in one step.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return read_secret_file(path)
            except OSError as exc:  # a file system without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                if path.exists():
                    return read_secret_file(path)
                os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return value


def stored_secret(state_dir: Path, name: str) -> str:
    """A random secret kept in <state_dir>/secrets/<name> (mode 0600), made on first use."""
    file = state_dir / "secrets" / name
    if file.exists():
        return read_secret_file(file)
    return write_secret_file(file, secrets.token_urlsafe(18))


def cookie_key(state_dir: Path) -> bytes:
    """The key that encrypts people's session cookies (a Fernet key), kept in
    <state_dir>/secrets/session_cookie_key (mode 0600), made on first use; replacing the
    file signs everybody out."""
    file = state_dir / "secrets" / "session_cookie_key"
    value = (read_secret_file(file) if file.exists()
             else write_secret_file(file, Fernet.generate_key().decode()))
    try:
        Fernet(value.encode())
    except ValueError:
        raise ConfigError(file, file.name, "not a session cookie key (32 url-safe base64 "
                          "bytes): delete the file to have a new one generated") from None
    return value.encode()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
