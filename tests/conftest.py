from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import settings

from testkit.redis_server import redis_server

# Speed is measured in bench/, never asserted: no per-example deadline on shared machines.
settings.register_profile("hotline", deadline=None)
settings.load_profile("hotline")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fill the voice-prompt cache once, before ``make test``'s pytest-xdist workers start:
    two stacks starting at once on a cold cache would both write the same cache files."""
    if hasattr(session.config, "workerinput"):   # an xdist worker: the controller did it
        return
    from stack.prompts import build_prompts
    from stack.settings import REPO_ROOT

    with tempfile.TemporaryDirectory(prefix="hotline-prompts-") as tmp:
        build_prompts(REPO_ROOT / "asterisk_conf" / "prompts.txt", Path(tmp) / "none",
                      Path(tmp) / "sounds")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real redis-server on loopback, shared by the whole test session.

    Tests that use it must namespace their keys or flush the db themselves.
    """
    with redis_server() as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the session's ``redis_url`` (strings decoded), closed after the test.

    It does not flush: tests namespace their keys. A module that needs another client
    (bytes, a flush, a shorter timeout) defines its own ``redis`` fixture, which wins.
    """
    client = aioredis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a real PostgreSQL cluster on loopback, shared by the whole test session.

    Tests take their own database from ``testkit.postgres.fresh_database``.
    """
    from testkit.postgres import postgres_server

    with postgres_server() as url:
        yield url
