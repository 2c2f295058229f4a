from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    """A real stack with three agents' phones: general, hrss (12333) and tax (12366)."""
    stack = HotlineStack(agents=[
        Agent("1001", {"general": 1}),
        Agent("1003", {"hrss": 1}),
        Agent("1004", {"tax": 1}),
    ]).start()
    try:
        yield stack
    finally:
        stack.stop()
