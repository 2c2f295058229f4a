"""People who sign in, for tests and benchmarks: create a user in a migrated database and
sign in over HTTP (the client keeps the session cookie)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.users import SigninTable, utc_now
from hotline_core.users import add_user as _add_user

DEFAULT_PASSWORD = "correct horse 12345"
CSRF_HEADER = "X-CSRF-Token"


def add_user(db: str | sessionmaker[Session], name: str, role: str,
             password: str = DEFAULT_PASSWORD, unit: str | None = None,
             agent_id: str | None = None) -> None:
    """Write user ``name`` (real argon2 hash) to the database at ``db`` (a URL or a
    sessionmaker); the database must be migrated (the stack and compositions do it)."""
    engine = make_engine(db) if isinstance(db, str) else None
    maker = make_sessionmaker(engine) if engine is not None else db
    assert not isinstance(maker, str)
    try:
        with maker() as session, session.begin():
            _add_user(session, name=name, password=password, role=role, unit=unit,
                      agent_id=agent_id, rules=SigninTable(), now=utc_now())
    finally:
        if engine is not None:
            engine.dispose()


async def sign_in(client: Any, base_url: str, name: str,
                  password: str = DEFAULT_PASSWORD) -> str:
    """Sign in with ``client`` (an aiohttp ClientSession, with ``CookieJar(unsafe=True)``
    for 127.0.0.1, or a TestClient with ``base_url=""``); returns the CSRF token to send as
    the header :data:`CSRF_HEADER`. Fails the test when sign-in is refused."""
    resp = await client.post(f"{base_url}/api/session", json={"user": name,
                                                              "password": password})
    body = await resp.json()
    assert resp.status == 200, (resp.status, body)
    token: str = body["csrf_token"]
    return token
