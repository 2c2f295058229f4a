"""Queries and answers of the GeoReport v2 routes (Open311)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, RootModel

from hotline_core.workorders.presets import Category
from web.api import FormBody, Model, Out
from web.requests import ascii_id

CODES = frozenset(c.value for c in Category)


def _codes(raw: str) -> str:
    for code in (c for c in raw.split(",") if c):
        if code not in CODES:
            raise ValueError(f"{code!r} is not a service")
    return raw


def _ids(raw: str) -> str:
    if not all(ascii_id(i) is not None for i in raw.split(",") if i):
        raise ValueError("must be order ids (ASCII digits)")
    return raw


class RequestQuery(Model):
    """GeoReport v2 filters: W3C date-times (without an offset: the hotline's wall time),
    comma lists of service codes and request ids, ``open`` or ``closed``."""

    start_date: str | None = None
    end_date: str | None = None
    service_code: Annotated[str, AfterValidator(_codes)] = ""
    status: Literal["", "open", "closed"] = ""
    service_request_id: Annotated[str, AfterValidator(_ids)] = ""
    jurisdiction_id: str | None = None


class RequestForm(FormBody):
    """api_key (an operator's or dispatcher's token), service_code, description,
    first_name, last_name, phone, address_string, … (GeoReport v2 fields)."""


class ServiceOut(Out):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceList(RootModel[list[ServiceOut]]):
    pass


class RequestOut(Out):
    """A service request: never the caller's name or number; the locality, never the
    exact address."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str
    address_id: str
    zipcode: str
    lat: float | None
    long: float | None
    media_url: str


class RequestList(RootModel[list[RequestOut]]):
    pass


class CreatedOut(Out):
    service_request_id: str
    service_notice: str
    account_id: str | None


class CreatedList(RootModel[list[CreatedOut]]):
    pass


class GeoError(Out):
    code: int
    description: str


class GeoErrors(RootModel[list[GeoError]]):
    """GeoReport errors: ``[{"code": 400, "description": "..."}]``."""
