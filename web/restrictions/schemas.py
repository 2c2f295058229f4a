"""Requests and answers of the restriction routes (numbers always masked in answers)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api import Model, NonBlank, Out

Reason = NonBlank


class RestrictBody(Model):
    number: Annotated[str, Field(pattern=r"^\+?[0-9]{3,20}$")]
    reason: Reason
    days: Annotated[int, Field(ge=1, le=366)] | None = None  # default: the preset's days


class LiftBody(Model):
    reason: Reason


class RestrictionOut(Out):
    number: str   # masked
    reason: str
    by: str
    since: float  # Unix time
    until: float


class AuditEntryOut(Out):
    action: str   # restrict or lift
    number: str
    by: str
    reason: str
    at: float
    until: float | None = None


class HitOut(Out):
    number: str
    at: float
    reason: str


class AuditOut(Out):
    audit: list[AuditEntryOut]
    hits: list[HitOut]


class LiftedOut(Out):
    number: str
    lifted: bool
