"""Requests and answers of sign-in (登录), sign-out and password change."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api import Model, Out


class SigninBody(Model):
    """A user name and its password."""

    user: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class PasswordBody(Model):
    """The current password and the new one."""

    old_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Annotated[str, Field(min_length=1, max_length=1024)]


class PersonOut(Out):
    """Who is signed in, with the CSRF token to send as the header X-CSRF-Token."""

    user: str
    role: str
    unit: str | None = None
    agent: str | None = None        # an operator's agent id (SIP extension)
    csrf_token: str


class SignedOutOut(Out):
    signed_out: bool


class PasswordChangedOut(Out):
    changed: bool
