"""Server-rendered pages (页面) for the hotline's people, on one layout.

Convention: one package per page, ``web/pages/<page>/`` with ``routes.py`` (handlers,
``routes = Routes(tag="pages")``, ``register``) and its template(s) beside it
(``web/pages/<page>/<page>.html``, named ``"<page>/<page>.html"`` when rendered). The
layout and the refusal page are in ``web/templates/``; :mod:`web.pages.layout` sets up
aiohttp-jinja2 (on the first page package registered) and renders a page for the
signed-in person (``<meta name="csrf-token">`` for the page's scripts). Scripts and styles
are files in ``web/static/`` served by :mod:`web.pages.assets` (the chart library from
``web/static/vendor/``, copied there by ``make provision`` from the npm package); the
browser fetches nothing from elsewhere. Live parts use the ``/api/live`` web socket.
"""
