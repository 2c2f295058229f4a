"""The cookie's flags follow the stack: Secure exactly when it serves HTTPS; always
HttpOnly and SameSite=Strict; it lives as long as a session may ([signin] session_hours)."""

from __future__ import annotations

from cryptography.fernet import Fernet

from hotline_core.users import SigninTable
from web.people import COOKIE_NAME, SigninServices, cookie_storage


def test_secure_only_with_https_and_never_readable_by_scripts() -> None:
    for https in (True, False):
        storage = cookie_storage(SigninServices(SigninTable(session_hours=3),
                                                Fernet.generate_key(), https))
        params = storage.cookie_params
        assert storage.cookie_name == COOKIE_NAME == "hotline_session"
        assert params["secure"] is https
        assert params["httponly"] is True
        assert params["samesite"] == "Strict"
        assert params["max_age"] == 3 * 3600


def test_the_key_never_shows_in_a_repr() -> None:
    key = Fernet.generate_key()
    assert key.decode() not in repr(SigninServices(SigninTable(), key, False))
