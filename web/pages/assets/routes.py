"""``GET /static/{name}`` (the pages' own scripts and styles) and
``GET /static/vendor/{name}`` (the chart library that ``make provision`` copied from its npm
package). Public: code and styles, no data. Only plain file names of the two folders are
served (no sub-paths, no dot files)."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from web.access import PUBLIC
from web.api import Binary, Routes

STATIC = Path(__file__).resolve().parents[2] / "static"
VENDOR = STATIC / "vendor"
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}\.(js|css|map)$")
routes = Routes(tag="pages")


def _file(folder: Path, name: str) -> web.FileResponse:
    path = folder / name
    if not _NAME.match(name) or not path.is_file():
        raise web.HTTPNotFound(text=f"no such file: {name[:100]}")
    # Versioned by the deployment, not by name: revalidate rather than cache for long.
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


@routes.get("/static/{name}", response=Binary, media_type="text/javascript", access=PUBLIC)
async def page_file(request: web.Request) -> web.FileResponse:
    """A page's script or style sheet."""
    return _file(STATIC, request.match_info["name"])


@routes.get("/static/vendor/{name}", response=Binary, media_type="text/javascript",
            access=PUBLIC)
async def vendor_file(request: web.Request) -> web.FileResponse:
    """The chart library (ECharts, from its npm package)."""
    return _file(VENDOR, request.match_info["name"])


register = routes.register
