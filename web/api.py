"""Routes declared with their schemas (接口声明): one pydantic model validates a request and
documents it in ``/api/openapi.json``; one model builds an answer and documents it.

A resource package declares its routes on a :class:`Routes` table::

    routes = Routes(tag="calls")

    @routes.get("/api/calls", response=CallList, query=CallQuery)
    async def list_calls(request: web.Request) -> web.Response:
        q = read_query(request, CallQuery)
        ...
        return reply(CallList(calls=...))

    register = routes.register        # listed in web/routes.py ROUTE_MODULES

Registering puts each :class:`Operation` in the application (:data:`OPERATIONS`, by
route), where :mod:`web.openapi` reads it and :func:`domain_errors` finds the error shape.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Final, TypeVar

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    model_validator,
)
from pydantic import ValidationError as _ValidationError

from web.access import Access
from web.errors import domain_http, json_error
from web.requests import INT_MAX, INT_MIN, json_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    """A request model: strict types (a JSON ``"1"`` is not a number, ``1`` is not
    ``true``); keys it does not name are ignored, as the API always did; ``null`` for an
    optional text field means "not given" (clients send ``"call_record_id": null``)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_text_is_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if v is not None or not isinstance(
            getattr(cls.model_fields.get(k), "default", None), str)}


class Out(BaseModel):
    """A response model: what an answer holds, built by the handler, sent by :func:`reply`."""

    model_config = ConfigDict(extra="forbid")


class OpenOut(Out):
    """A response whose listed fields are documented and further fields are allowed (views
    built by the domain, e.g. a work order's detail, whose optional parts vary by role)."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(Out):
    """Every refused request: ``{"error": reason, "field"?: the field at fault, ...}``."""

    model_config = ConfigDict(extra="allow")
    error: str
    field: str | None = None


class NoBody:
    """Marker: a POST/PUT that takes no body (declared, so its absence is not an oversight)."""


NO_BODY: Final = NoBody()


class Binary(RootModel[bytes]):
    """A file answer (PNG, WAV): raw bytes of the route's ``media_type``."""


class CsvText(RootModel[str]):
    """A CSV document (UTF-8), as a request body or an answer."""


class FormBody(RootModel[dict[str, str]]):
    """An ``application/x-www-form-urlencoded`` form (GeoReport v2)."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# Text fields: ``Text`` (at most 10 000 characters), ``NonBlank`` (given, not only
# spaces). A shorter bound is added where the column is shorter:
# ``Annotated[NonBlank, Field(max_length=64)]``.
Text = Annotated[str, Field(max_length=10_000)]
NonBlank = Annotated[str, Field(min_length=1, max_length=10_000), AfterValidator(_not_blank)]
Int32 = Annotated[int, Field(ge=INT_MIN, le=INT_MAX)]
_ASCII_INT = re.compile(r"-?[0-9]{1,12}")


def _query_int(raw: object) -> object:
    """Query numbers in ASCII digits only: ``int("١٠")`` is 10 to Python."""
    if isinstance(raw, str):
        if not _ASCII_INT.fullmatch(raw):
            raise ValueError(f"{raw[:40]!r} is not a whole number")
        return int(raw)
    return raw


QueryInt = Annotated[int, BeforeValidator(_query_int)]


def _iso_datetime(raw: object) -> object:
    """ISO 8601 text only (no Unix seconds), as :meth:`datetime.fromisoformat` reads it."""
    if isinstance(raw, datetime):
        return raw
    if not isinstance(raw, str):
        raise ValueError("must be an ISO 8601 date-time string")
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw[:60]!r} is not an ISO 8601 date-time") from None


# A date-time as ISO 8601 text; the handler places one without an offset in the
# hotline's zone (:func:`hotline_core.clock.in_zone`).
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]


# ------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Operation:
    """One route as documented: its models, statuses and media types."""

    method: str
    path: str
    tag: str
    summary: str
    response: type[BaseModel]
    status: tuple[int, ...] = (200,)
    body: type[BaseModel] | NoBody | None = None   # None: not declared (the check fails)
    query: type[BaseModel] | None = None
    media_type: str = "application/json"
    body_media_type: str = "application/json"
    error: type[BaseModel] = ErrorOut
    # Builds the HTTP error of a refused request; GeoReport answers its own shape.
    error_shape: Callable[[int, str, dict[str, Any]], web.HTTPException] | None = None
    # Who may call it (web/access.py); None: the table in web/access_rules.py decides.
    access: Access | None = None


OPERATIONS: web.AppKey[dict[web.AbstractRoute, Operation]] = web.AppKey("operations", dict)


class Routes:
    """The routes of one resource package and their operations."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._table: list[tuple[Operation, Handler]] = []

    def route(self, method: str, path: str, *, response: type[BaseModel],
              body: type[BaseModel] | NoBody | None = None,
              query: type[BaseModel] | None = None, status: int | tuple[int, ...] = 200,
              media_type: str = "application/json", body_media_type: str = "application/json",
              summary: str | None = None, tag: str | None = None,
              error: type[BaseModel] = ErrorOut,
              error_shape: Callable[[int, str, dict[str, Any]], web.HTTPException] | None
              = None, access: Access | None = None) -> Callable[[H], H]:
        def declare(handler: H) -> H:
            # The summary is the docstring's first paragraph, on one line.
            first = (handler.__doc__ or "").strip().split("\n\n")[0]
            self._table.append((Operation(
                method=method, path=path, tag=tag or self.tag,
                summary=summary or " ".join(first.split()).rstrip("."),
                response=response, status=status if isinstance(status, tuple) else (status,),
                body=body, query=query, media_type=media_type,
                body_media_type=body_media_type, error=error, error_shape=error_shape,
                access=access),
                handler))
            return handler
        return declare

    def get(self, path: str, **kw: Any) -> Callable[[H], H]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[H], H]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[H], H]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, **kw)

    def add(self, method: str, path: str, handler: Handler, **kw: Any) -> None:
        """Declare a handler made by a factory (one handler function per route)."""
        self.route(method, path, **kw)(handler)

    def register(self, app: web.Application) -> None:
        operations = app.setdefault(OPERATIONS, {})
        for op, handler in self._table:
            if op.method == "GET":  # with its HEAD twin, as aiohttp's add_get does
                route = app.router.add_get(op.path, handler)
            else:
                route = app.router.add_route(op.method, op.path, handler)
            operations[route] = op

    def operations(self) -> Iterable[Operation]:
        return [op for op, _ in self._table]


def operation_of(request: web.Request) -> Operation | None:
    route = request.match_info.route
    return request.app.get(OPERATIONS, {}).get(route)


# ------------------------------------------------------------------ reading and answering


def _field_error(request: web.Request, exc: _ValidationError) -> web.HTTPException:
    """422 naming the first field at fault, in the shape of the route's interface."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    message = str(first["msg"]).removeprefix("Value error, ")
    given = first.get("input")
    if first["type"] in ("enum", "literal_error") and isinstance(given, str | int):
        message += f" (got {str(given)[:60]!r})"
    if first["type"] == "missing":
        message = "is required"
    op = operation_of(request)
    if op is not None and op.error_shape is not None:
        return op.error_shape(422, f"{field}: {message}", {"field": field})
    return json_error(422, f"{field}: {message}", field=field)


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``: 400 when it is not a JSON object (or holds a NUL or a
    lone surrogate), 422 naming the first field at fault."""
    await json_body(request)           # the checks every body gets, in the same words
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"{}", strict=True)
    except _ValidationError as exc:
        raise _field_error(request, exc) from None


def read_query(request: web.Request, model: type[M]) -> M:
    """The query parameters as ``model`` (numbers from ASCII digits), 422 naming the one at
    fault."""
    try:
        return model.model_validate(dict(request.query), strict=False)
    except _ValidationError as exc:
        raise _field_error(request, exc) from None


def reply(model: BaseModel, status: int = 200) -> web.Response:
    """The answer a handler sends: the response model, as JSON (fields it was given)."""
    return web.json_response(model.model_dump(mode="json", exclude_unset=True), status=status)


def reply_list(items: Iterable[BaseModel], status: int = 200) -> web.Response:
    """A JSON array answer (GeoReport)."""
    return web.json_response([m.model_dump(mode="json", exclude_unset=True) for m in items],
                             status=status)


def enum_value(value: object) -> object:
    """An enum as its lower-case value, as everywhere in the API."""
    return str(value.value).lower() if isinstance(value, Enum) else value


@web.middleware
async def domain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place a domain refusal becomes an HTTP answer (table in
    :data:`web.errors.DOMAIN_ERRORS`), in the shape of the route's interface."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        mapped = domain_http(exc)
        if mapped is None:
            raise
        status, reason, extra = mapped
        op = operation_of(request)
        if op is not None and op.error_shape is not None:
            raise op.error_shape(status, reason, extra) from None
        raise json_error(status, reason, **extra) from None
