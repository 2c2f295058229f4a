"""Fixtures for the call distributor tests: a real Redis, a hand-moved clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from hotline_core.acd import CallMatch, DistributionConfig, Distributor

T0 = 1_795_000_000.0  # 2026-11-18 19:06:40 UTC+8, a Wednesday
_seq = itertools.count()


class Clock:
    """The distributor's clock, moved by the test only."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def namespace() -> str:
    return f"acdtest{next(_seq)}-{id(object())}"


class Recorder:
    """Collects what the distributor hands to on_assignment."""

    def __init__(self) -> None:
        self.seen: list[CallMatch] = []

    async def __call__(self, a: CallMatch) -> None:
        self.seen.append(a)

    def pairs(self) -> list[tuple[str, str]]:
        return [(a.call_id, a.agent_id) for a in self.seen]


MakeDistributor = Callable[..., tuple[Distributor, Recorder]]


@pytest.fixture
def make(redis: aioredis.Redis, clock: Clock, namespace: str) -> MakeDistributor:
    def build(config: DistributionConfig | None = None,
              ns: str | None = None) -> tuple[Distributor, Recorder]:
        d = Distributor(redis, config or DistributionConfig(), namespace=ns or namespace,
                        clock=clock)
        rec = Recorder()
        d.on_assignment = rec
        return d, rec

    return build
