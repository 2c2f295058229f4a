"""Requests and answers of the caller-flag routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api import Model, NonBlank, Out

PHONE_NUMBER = r"^\+?[0-9]{3,20}$"
PhoneNumber = Annotated[str, Field(pattern=PHONE_NUMBER)]


class FlagBody(Model):
    """Why the caller needs help (e.g. elderly, dialect)."""

    reason: NonBlank


class FlagOut(Out):
    number: str          # masked
    needs_help: bool
