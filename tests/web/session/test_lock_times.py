"""The lock-out's clock, on the domain with explicit instants (migrated SQLite): locked
for exactly [signin] lock_minutes after the max_failures-th wrong password, then the right
password works again and the count starts afresh; a session ends session_hours after
sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline_core import users
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.users import AccountLocked, SignedIn, SigninRefused, SigninTable

T0 = datetime(2026, 6, 8, 9, 0, tzinfo=UTC)
RULES = SigninTable(max_failures=2, lock_minutes=30, session_hours=8)


def test_the_lock_lasts_lock_minutes_and_sessions_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)

    def attempt(password: str, at: datetime) -> object:
        with maker() as db, db.begin():
            return users.sign_in(db, "sup1", password, RULES, at)

    with maker() as db, db.begin():
        users.add_user(db, name="sup1", password="right password 1", role="supervisor",
                       rules=RULES, now=T0)
    assert isinstance(attempt("wrong", T0), SigninRefused)
    locked = attempt("wrong", T0 + timedelta(minutes=1))
    assert isinstance(locked, AccountLocked)
    assert locked.until == T0 + timedelta(minutes=31)
    assert isinstance(attempt("right password 1", T0 + timedelta(minutes=30)), AccountLocked)
    assert isinstance(attempt("right password 1", T0 + timedelta(minutes=30, seconds=59)),
                      AccountLocked)
    # Unlocked at 09:31; one wrong password then does not lock again (the count restarted).
    assert isinstance(attempt("wrong", T0 + timedelta(minutes=31)), SigninRefused)
    signed = attempt("right password 1", T0 + timedelta(minutes=32))
    assert isinstance(signed, SignedIn)
    started = T0 + timedelta(minutes=32)
    with maker() as db:
        token = signed.session_key
        assert users.signed_in(db, token, RULES, started + timedelta(hours=7, minutes=59))
        assert users.signed_in(db, token, RULES, started + timedelta(hours=8)) is None
    engine.dispose()
