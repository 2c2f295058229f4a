"""``hotline user add|passwd|disable|list``: the people who sign in (用户管理), and the
first-start hint that tells how to create the first administrator.

A password is never an argument (it would sit in the shell history and in ``ps``): it is
asked twice on a terminal, or read as the first line of standard input for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline_core import users
from hotline_core.agent_directory import load_agents
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.users import User, UserError
from stack.secret_files import private_dir
from stack.settings import Settings

FIRST_ADMIN = ".venv/bin/hotline user add admin --role admin"


def add_user_command(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                     settings: Callable[[], Settings]) -> None:
    user = sub.add_parser("user", help="people who sign in: add, passwd, disable, list")
    verbs = user.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="create a user (the password is asked, or read "
                                       "from stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=sorted(users.ROLE_NAMES))
    add.add_argument("--unit", default=None, help="a unit handler's unit code")
    add.add_argument("--agent", default=None,
                     help="an operator's agent id (SIP extension, config/agents.toml); "
                          "for a supervisor: the phone rung to listen in on calls")
    add.add_argument("--display-name", default="")
    passwd = verbs.add_parser("passwd", help="set a new password (ends the user's sessions, "
                                             "lifts a lock)")
    passwd.add_argument("name")
    disable = verbs.add_parser("disable", help="the user can no longer sign in")
    disable.add_argument("name")
    verbs.add_parser("list", help="users, roles, units, agents (no passwords)")
    user.set_defaults(func=lambda args: run(args, settings()))


def _read_password(prompt: str, rules: users.SigninTable) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("again: ") != first:
            raise UserError("password: the two entries differ", "password")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    users.check_password(password, rules)
    return password


@contextmanager
def _database(settings: Settings) -> Iterator[Session]:
    """One transaction on the hotline's database at the newest schema (the CLI may run
    before the first ``hotline up``)."""
    private_dir(settings.state_dir)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        maker: sessionmaker[Session] = make_sessionmaker(engine)
        with maker() as db, db.begin():
            yield db
    finally:
        engine.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    rules, now = settings.signin, users.utc_now()
    try:
        password = (_read_password(f"password for {args.name}", rules)
                    if args.verb in ("add", "passwd") else "")
        with _database(settings) as db:
            if args.verb == "add":
                known = {a.id for a in load_agents(settings.agents_file)}
                made = users.add_user(db, name=args.name, password=password, role=args.role,
                                      rules=rules, now=now, unit=args.unit,
                                      agent_id=args.agent, display_name=args.display_name,
                                      known_agents=known)
                print(f"hotline: user {made.name} ({made.role}) added; sign in at the "
                      f"web address of `hotline status`")
            elif args.verb == "passwd":
                users.set_password(db, args.name, password, rules, now)
                print(f"hotline: new password set for {users.normal_name(args.name)}; "
                      "its sessions have ended")
            elif args.verb == "disable":
                users.disable_user(db, args.name, now)
                print(f"hotline: user {users.normal_name(args.name)} disabled; its "
                      "sessions have ended")
            else:
                for u in db.scalars(select(User).order_by(User.name)):
                    extra = u.unit or u.agent_id or ""
                    state = "disabled" if u.disabled else "active"
                    print(f"{u.name:<20} {u.role:<11} {extra:<16} {state}")
    except UserError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    return 0


def signin_hint(settings: Settings) -> str:
    """What `hotline up` prints about signing in: how to create the first administrator
    when there is none (never a password)."""
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as db:
            ready = users.has_admin(db)
    except SQLAlchemyError:  # not migrated yet (the core migrates at start): same advice
        ready = False
    finally:
        engine.dispose()
    if ready:
        return (f"  people sign in:  {settings.http_url} (POST /api/session); "
                "users: hotline user add|passwd|disable|list")
    return ("  people sign in:  no administrator yet; create the first one with\n"
            f"                   {FIRST_ADMIN}   (asks for its password)")
