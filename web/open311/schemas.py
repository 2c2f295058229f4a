"""Queries and answers of the GeoReport v2 routes (Open311)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, RootModel, model_validator

from hotline_core.workorders.presets import Category
from web.api import Model, Out
from web.errors import unusable_text
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


def _storable(value: str) -> str:
    why = unusable_text(value)
    if why is not None:
        raise ValueError(why)
    return value


FormText = Annotated[str, AfterValidator(_storable)]   # no NUL, no lone surrogate


OTHER_FIELD_LIMIT = 1_000  # attribute[...] and any other field
MAX_FIELDS = 100


class RequestForm(Model):
    """A GeoReport v2 submission (form fields). Each field is bounded by the work-order
    column it lands in, or generously for the fields the hotline ignores; ``last_name`` +
    " " + ``first_name`` fits the 100 characters of caller_name. ``api_key`` is an
    operator's or dispatcher's token."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    api_key: Annotated[FormText, Field(max_length=200)] = ""
    jurisdiction_id: Annotated[FormText, Field(max_length=100)] = ""
    service_code: Annotated[FormText, Field(max_length=40)] = ""
    lat: Annotated[FormText, Field(max_length=40)] = ""
    long: Annotated[FormText, Field(max_length=40)] = ""
    address_string: Annotated[FormText, Field(max_length=300)] = ""
    address_id: Annotated[FormText, Field(max_length=100)] = ""
    email: Annotated[FormText, Field(max_length=254)] = ""
    device_id: Annotated[FormText, Field(max_length=100)] = ""
    account_id: Annotated[FormText, Field(max_length=100)] = ""
    first_name: Annotated[FormText, Field(max_length=50)] = ""
    last_name: Annotated[FormText, Field(max_length=49)] = ""
    phone: Annotated[FormText, Field(max_length=32)] = ""
    description: Annotated[FormText, Field(max_length=10_000)] = ""
    media_url: Annotated[FormText, Field(max_length=2_000)] = ""

    @model_validator(mode="before")
    @classmethod
    def _few_text_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if len(data) > MAX_FIELDS:
                raise ValueError(f"the form has {len(data)} fields; at most {MAX_FIELDS}")
            for name, value in data.items():
                if not isinstance(value, str):
                    raise ValueError(f"{name}: must be a text field, not a file")
                why = unusable_text(name)
                if why is None and name not in cls.model_fields:
                    if len(value) > OTHER_FIELD_LIMIT:
                        why = f"is longer than {OTHER_FIELD_LIMIT} characters"
                    else:
                        why = unusable_text(value)
                if why is not None:
                    raise ValueError(f"{name}: {why}")
        return data


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
