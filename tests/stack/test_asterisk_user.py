"""Asterisk's user in the chroot must not be some other user of the host.

Debian's asterisk package in the chroot took uid 101, which on this machine is `postgres`:
PostgreSQL's user then owned every recording and could signal Asterisk. `make provision`
creates the host system user hotline-asterisk and gives the chroot's asterisk its uid/gid;
starting an instance refuses a uid that names another host user.
"""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from stack.asterisk import HOST_RUN_AS, check_host_user, system_user
from testkit.stack import CHROOT


def _unused_uid() -> int:
    taken = {p.pw_uid for p in pwd.getpwall()}
    return next(uid for uid in range(61000, 65000) if uid not in taken)


def test_the_provisioned_chroot_runs_asterisk_as_its_own_host_user() -> None:
    uid, gid = system_user(CHROOT)
    host = pwd.getpwnam(HOST_RUN_AS)  # KeyError = provision did not create it
    assert (uid, gid) == (host.pw_uid, host.pw_gid)
    assert pwd.getpwuid(uid).pw_name == "hotline-asterisk"


def test_a_uid_of_another_host_user_is_refused_by_name() -> None:
    refusal = r"uid 0, which on this machine is 'root'.*make provision"
    with pytest.raises(RuntimeError, match=refusal):
        check_host_user(0)


def test_the_host_user_and_an_unused_uid_are_accepted() -> None:
    check_host_user(pwd.getpwnam(HOST_RUN_AS).pw_uid)
    check_host_user(_unused_uid())


def test_an_instance_with_a_colliding_chroot_user_is_not_started(tmp_path: Path) -> None:
    # A chroot whose asterisk user is uid 0's twin: system_user reads it, the check refuses it.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("asterisk:x:0:0::/var/lib/asterisk:/bin/false\n",
                                             encoding="utf-8")
    uid, _ = system_user(tmp_path)
    with pytest.raises(RuntimeError, match="'root'"):
        check_host_user(uid)
