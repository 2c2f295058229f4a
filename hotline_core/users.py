"""People who sign in to the web (用户): a user has a role (and, for unit handlers, a unit;
for operators, the agent's SIP extension), an argon2 password hash and a lock-out state.

Bearer tokens stay for machines (:mod:`hotline_core.access`); a signed-in person becomes
the same :class:`~hotline_core.access.Principal`, so every route's role check applies to
both. An operator's principal carries the agent id as its name (as an agent's token does),
so "an agent changes only its own state" holds for a web session too.

A signed-in session is a row in ``user_sessions`` keyed by the sha256 of a random token (the
cookie holds the token, never the row key): signing out, a password change or disabling the
user ends the row, so a copied cookie stops working at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import Field
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline_core.access import Principal, Role
from hotline_core.config_schema import ConfigModel
from hotline_core.db import Base

# User names: ASCII letters, digits, dot, dash, underscore; compared in lower case.
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_PASSWORD = 1024            # argon2 hashes any length; a bound keeps a request cheap
_HASHER = PasswordHasher()     # argon2id, the library's recommended parameters
# Verified when the user does not exist, so an unknown name costs as long as a wrong
# password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))

# The roles of people (人员角色) as the issue names them → the access policy's roles.
ROLE_NAMES: dict[str, Role] = {
    "operator": Role.OPERATOR,          # 话务员 (agent)
    "quality": Role.QUALITY,            # 质检员
    "callback": Role.CALLBACK,          # 回访员
    "supervisor": Role.SUPERVISOR,      # 班长/督办
    "dispatcher": Role.DISPATCHER,      # 派单员
    "unit": Role.UNIT,                  # 承办单位
    "admin": Role.ADMIN,                # 系统管理员
}


class SigninTable(ConfigModel):
    """``[signin]`` of hotline.toml: lock-out, rate limit, session length, password rule."""

    max_failures: int = Field(default=5, ge=1, le=100,
        description="wrong passwords in a row that lock the account")
    lock_minutes: int = Field(default=15, ge=1, le=10_080,
        description="how long a locked account stays locked")
    attempts_per_minute: int = Field(default=20, ge=1, le=10_000,
        description="sign-in attempts one client address may make per minute")
    session_hours: int = Field(default=12, ge=1, le=720,
        description="a session ends this long after sign-in")
    min_password_length: int = Field(default=10, ge=8, le=256)


class UserError(Exception):
    """A refused user change (bad name, role, unit, agent or password); ``field`` names it."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class SigninRefused(Exception):
    """Wrong user name or password, or a disabled user (one answer for all: no hint which).
    ``unknown_name`` is for the sign-in guard only (it locks unknown names as it would real
    ones, hotline_core/signin_guard.py), never for the answer."""

    def __init__(self, unknown_name: bool = False) -> None:
        super().__init__("wrong user name or password")
        self.unknown_name = unknown_name


class AccountLocked(Exception):
    """Too many wrong passwords: the account is locked until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"account locked after repeated wrong passwords until "
                         f"{until.astimezone(UTC).isoformat(timespec='seconds')}")
        self.until = until


class User(Base):
    """A person who signs in (用户)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16))              # Role value
    unit: Mapped[str | None] = mapped_column(String(64))       # unit handlers only
    agent_id: Mapped[str | None] = mapped_column(String(32), unique=True)  # operators
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def principal(self) -> Principal:
        """Who this person is to the access checks: an operator is its agent."""
        role = Role(self.role)
        name = self.agent_id if role is Role.OPERATOR and self.agent_id else self.name
        return Principal(name=name, role=role, unit=self.unit)


class UserSession(Base):
    """One signed-in session (登录会话); the cookie holds the token whose sha256 is ``id``."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class SignedIn:
    """A live session: whose, its row key and its CSRF token."""

    user_id: int
    user_name: str
    principal: Principal
    session_key: str
    csrf_token: str
    agent_id: str | None


def _utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_name(raw: str) -> str:
    """A user name as stored (lower case); :class:`UserError` when it is not one."""
    name = raw.strip().lower()
    if not USER_NAME.fullmatch(name):
        raise UserError("user name: 1-64 ASCII letters, digits, '.', '-' or '_', starting "
                        "with a letter or digit", "user")
    return name


def check_password(password: str, rules: SigninTable, field: str = "password") -> None:
    """A new password's rules; the refusal names ``field``."""
    if len(password) < rules.min_password_length:
        raise UserError(f"{field}: at least {rules.min_password_length} characters", field)
    if len(password) > MAX_PASSWORD:
        raise UserError(f"{field}: at most {MAX_PASSWORD} characters", field)
    if "\x00" in password:
        raise UserError(f"{field}: must not contain NUL", field)


def role_named(raw: str) -> Role:
    try:
        return ROLE_NAMES[raw.strip().lower()]
    except KeyError:
        raise UserError(f"role: {raw[:40]!r} is not one of {', '.join(ROLE_NAMES)}",
                        "role") from None


def find_user(session: Session, name: str) -> User | None:
    try:
        key = normal_name(name)
    except UserError:
        return None
    return session.scalars(select(User).where(User.name == key)).first()


def add_user(session: Session, *, name: str, password: str, role: str, rules: SigninTable,
             now: datetime, unit: str | None = None, agent_id: str | None = None,
             display_name: str = "", known_agents: Collection[str] | None = None) -> User:
    """Create a user. An operator needs its agent id (its SIP extension, from
    config/agents.toml when ``known_agents`` is given); a unit handler its unit."""
    key = normal_name(name)
    the_role = role_named(role)
    check_password(password, rules)
    if find_user(session, key) is not None:
        raise UserError(f"user name: {key!r} exists already", "user")
    if the_role is Role.UNIT and not (unit or "").strip():
        raise UserError("unit: a unit handler needs its unit code", "unit")
    if the_role is not Role.UNIT and unit:
        raise UserError("unit: only unit handlers belong to a unit", "unit")
    if the_role is Role.OPERATOR and not agent_id:
        raise UserError("agent: an operator's web session is tied to its SIP "
                        "extension: give the agent id from config/agents.toml", "agent")
    # A supervisor may be tied to a phone of the agent directory: the phone that rings
    # when the supervisor listens, whispers or barges in (web/spy).
    if the_role in (Role.OPERATOR, Role.SUPERVISOR) and agent_id:
        if known_agents is not None and agent_id not in known_agents:
            raise UserError(f"agent: no agent {agent_id!r} in the agent directory", "agent")
        taken = session.scalars(select(User).where(User.agent_id == agent_id)).first()
        if taken is not None:
            raise UserError(f"agent: agent {agent_id!r} is already user {taken.name!r}",
                            "agent")
    elif agent_id:
        raise UserError("agent: only operators and supervisors are tied to a phone",
                        "agent")
    user = User(name=key, display_name=display_name.strip()[:100], role=the_role.value,
                unit=(unit or "").strip() or None, agent_id=agent_id or None,
                password_hash=_HASHER.hash(password), disabled=False, failed_signins=0,
                locked_until=None, password_changed_at=now, created_at=now)
    session.add(user)
    session.flush()
    return user


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def sign_in(session: Session, name: str, password: str, rules: SigninTable,
            now: datetime) -> SignedIn | SigninRefused | AccountLocked:
    """Check the password and open a session. A wrong password counts towards the lock;
    ``rules.max_failures`` of them in a row lock the account ``rules.lock_minutes``.

    A refusal is RETURNED, not raised: the failure count it wrote must be committed (a
    raise would roll the transaction back and the lock would never come)."""
    user = find_user(session, name)
    if user is None:
        _verify(_DUMMY_HASH, password)
        return SigninRefused(unknown_name=True)
    if user.locked_until is not None and _utc(user.locked_until) > now:
        return AccountLocked(_utc(user.locked_until))
    if not _verify(user.password_hash, password):
        user.failed_signins += 1
        if user.failed_signins >= rules.max_failures:
            user.failed_signins = 0
            user.locked_until = now + timedelta(minutes=rules.lock_minutes)
            return AccountLocked(user.locked_until)
        return SigninRefused()
    if user.disabled:
        return SigninRefused()
    user.failed_signins = 0
    user.locked_until = None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return _open_session(session, user, now)


def _open_session(session: Session, user: User, now: datetime) -> SignedIn:
    token = secrets.token_urlsafe(32)
    row = UserSession(id=session_key(token), user_id=user.id,
                      csrf_token=secrets.token_urlsafe(32), created_at=now,
                      last_seen_at=now, ended_at=None)
    session.add(row)
    session.flush()
    # The token is handed back once, in session_key's place, to go into the cookie.
    return SignedIn(user_id=user.id, user_name=user.name, principal=user.principal(),
                    session_key=token, csrf_token=row.csrf_token, agent_id=user.agent_id)


def signed_in(session: Session, token: str, rules: SigninTable,
              now: datetime) -> SignedIn | None:
    """The live session the cookie's token names, or None (unknown, ended, expired, or
    its user disabled)."""
    row = session.get(UserSession, session_key(token))
    if row is None or row.ended_at is not None:
        return None
    if _utc(row.created_at) + timedelta(hours=rules.session_hours) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return SignedIn(user_id=user.id, user_name=user.name, principal=user.principal(),
                    session_key=row.id, csrf_token=row.csrf_token, agent_id=user.agent_id)


def sign_out(session: Session, key: str, now: datetime) -> None:
    """End the session whose row key is ``key`` (from :func:`signed_in`)."""
    session.execute(update(UserSession).where(UserSession.id == key,
                                              UserSession.ended_at.is_(None))
                    .values(ended_at=now))


def _end_sessions(session: Session, user_id: int, now: datetime,
                  keep: str | None = None) -> None:
    query = update(UserSession).where(UserSession.user_id == user_id,
                                      UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    session.execute(query.values(ended_at=now))


def change_password(session: Session, who: SignedIn, old: str, new: str,
                    rules: SigninTable, now: datetime) -> None:
    """A signed-in person's own change: the old password is required; the person's other
    sessions end (this one stays)."""
    user = session.get(User, who.user_id)
    if user is None or not _verify(user.password_hash, old):
        raise UserError("old_password: not the current password", "old_password")
    check_password(new, rules, "new_password")
    if new == old:
        raise UserError("new_password: must differ from the old one", "new_password")
    user.password_hash = _HASHER.hash(new)
    user.password_changed_at = now
    _end_sessions(session, user.id, now, keep=who.session_key)


def set_password(session: Session, name: str, password: str, rules: SigninTable,
                 now: datetime) -> User:
    """An administrator's reset (``hotline user passwd``): every session ends, the lock
    is lifted."""
    user = find_user(session, name)
    if user is None:
        raise UserError(f"user: no user {name[:64]!r}", "user")
    check_password(password, rules)
    user.password_hash = _HASHER.hash(password)
    user.password_changed_at = now
    user.failed_signins = 0
    user.locked_until = None
    _end_sessions(session, user.id, now)
    return user


def disable_user(session: Session, name: str, now: datetime) -> User:
    """``hotline user disable``: the user cannot sign in; its sessions end at once."""
    user = find_user(session, name)
    if user is None:
        raise UserError(f"user: no user {name[:64]!r}", "user")
    user.disabled = True
    _end_sessions(session, user.id, now)
    return user


def has_admin(session: Session) -> bool:
    """Whether an enabled administrator exists (first start: how to make one)."""
    return session.scalars(select(User.id).where(User.role == Role.ADMIN.value,
                                                 User.disabled.is_(False))).first() is not None


def utc_now() -> datetime:
    return datetime.now(UTC)
