"""One figures read per batch of events (监控数据按批读取), shared by the sockets it woke.

A distribution change wakes every open socket (200 desks); before, each read the figures
itself. The shared read (``web.live.services.FiguresBatch``) must still never hand a socket
figures read before its event: a read that started before the socket received its event
is not reused."""

from __future__ import annotations

import asyncio
import json

from hotline_core.acd.figures import QueueFigures
from web.live.services import FiguresBatch


class _View:
    """A distribution view whose reads are counted and held until released."""

    def __init__(self) -> None:
        self.reads = 0
        self.release = asyncio.Event()

    async def figures(self) -> QueueFigures:
        self.reads += 1
        n = self.reads
        await self.release.wait()
        return QueueFigures(at=float(n), service_level_seconds=15, lines={}, skills={},
                            agents_by_state={}, agents_by_group={})


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def test_sockets_woken_by_one_change_share_one_read() -> None:
    clock, view = _Clock(), _View()
    batch = FiguresBatch(clock)
    # three sockets received the event at 99.x; the first asks at 100: one read, from 100
    waiting = [asyncio.create_task(batch.message(view, 99.0 + i / 10))  # type: ignore[arg-type]
               for i in range(3)]
    await asyncio.sleep(0)
    clock.t = 101.0
    # a fourth socket got a later event at 100.5, after that read started: a read of its own
    late = asyncio.create_task(batch.message(view, 100.5))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    view.release.set()
    texts = await asyncio.gather(*waiting)
    assert [json.loads(t)["figures"]["at"] for t in texts] == [1.0, 1.0, 1.0]
    assert json.loads(texts[0])["type"] == "figures"
    assert json.loads(await late)["figures"]["at"] == 2.0
    assert view.reads == 2


async def test_a_closing_socket_does_not_cancel_the_others_read() -> None:
    view = _View()
    batch = FiguresBatch(_Clock())
    first = asyncio.create_task(batch.message(view, 99.0))  # type: ignore[arg-type]
    second = asyncio.create_task(batch.message(view, 99.0))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    view.release.set()
    assert json.loads(await second)["figures"]["at"] == 1.0
    assert view.reads == 1
