"""``GET /api/openapi.json``: the document of the routes this server serves."""

from __future__ import annotations

from aiohttp import web

from web.api import Routes
from web.openapi.document import document
from web.openapi.schemas import OpenApiDocument

routes = Routes(tag="meta")


@routes.get("/api/openapi.json", response=OpenApiDocument)
async def openapi_json(request: web.Request) -> web.Response:
    """This document."""
    return web.json_response(document(request.app))


register = routes.register
