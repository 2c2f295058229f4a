"""The live socket's cap per client counts people signed in by cookie one by one.

A browser cannot send a bearer header on a web socket, so a signed-in person's socket has
no token; a cap keyed by the token alone put every signed-in person under one shared
count (the fourth tab of anyone refused everyone else). Composed API on 127.0.0.1, real
redis-server, migrated SQLite; people sign in over HTTP with their own cookie jars."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp

from testkit.people import add_user, sign_in
from tests.security.composed import TOKENS, Composed, composed

WAIT = 30           # seconds a socket may take to send its first figures on a loaded machine
PER_PERSON = 2      # the cap per token / person in this composition


def _base(app: Composed) -> str:
    return str(app.client.make_url("")).rstrip("/")


@asynccontextmanager
async def _person(app: Composed, name: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await sign_in(http, _base(app), name)
        yield http


@asynccontextmanager
async def _socket(http: aiohttp.ClientSession, url: str
                  ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    ws = await http.ws_connect(url)
    try:
        first = json.loads((await ws.receive(timeout=WAIT)).data)
        assert first["type"] == "figures"
        yield ws
    finally:
        await ws.close()


async def _refusal(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, (await resp.json())["error"]


async def test_each_person_has_a_cap_of_their_own(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url, max_sockets=20,
                        max_sockets_per_token=PER_PERSON) as app:
        add_user(app.maker, "sup1", "supervisor")
        add_user(app.maker, "sup2", "supervisor")
        live = f"{_base(app)}/api/live"
        async with _person(app, "sup1") as one, _person(app, "sup2") as two, \
                AsyncExitStack() as open_:
            # Each person opens as many as the cap allows: all four are served.
            for http in (one, two, one, two):
                await open_.enter_async_context(_socket(http, live))
            assert app.live.sockets.total == 2 * PER_PERSON
            # One person over the cap is refused; the other's count is not touched.
            status, error = await _refusal(one, live)
            assert status == 429 and f"at most {PER_PERSON}" in error
            assert app.live.sockets.total == 2 * PER_PERSON
            # The same person signed in a second time (another browser) shares the cap.
            async with _person(app, "sup1") as again:
                assert (await _refusal(again, live))[0] == 429
            # Bearer tokens are counted per token as before, beside the people.
            async with aiohttp.ClientSession() as machine:
                url = f"{live}?token={TOKENS['1001']}"
                async with _socket(machine, url), _socket(machine, url):
                    status, error = await _refusal(machine, url)
                    assert status == 429 and "this token" in error
                    other = f"{live}?token={TOKENS['1002']}"
                    async with _socket(machine, other):
                        pass
