"""When a core instance takes FastAGI calls (stack/core.py ``_agi_accepting``): it stops only
while it is cut off from AMI *and* another instance is present to take them."""

from __future__ import annotations

from typing import cast

from ivr.ami import AmiClient
from stack.cluster import Cluster
from stack.core import _agi_accepting


class _Ami:
    def __init__(self, cut_off: bool) -> None:
        self.cut_off = cut_off


class _Cluster:
    def __init__(self, others: list[str]) -> None:
        self.others = others
        self.asked = 0

    async def others_alive(self) -> list[str]:
        self.asked += 1
        return self.others


async def _accepting(cut_off: bool, others: list[str]) -> tuple[bool, int]:
    cluster = _Cluster(others)
    got = await _agi_accepting(cast(AmiClient, _Ami(cut_off)), cast(Cluster, cluster))
    return got, cluster.asked


async def test_cut_off_with_another_instance_present_refuses() -> None:
    assert await _accepting(True, ["core-1"]) == (False, 1)


async def test_cut_off_and_alone_keeps_listening() -> None:
    # No other instance present (cut off too, or dead): as a single instance does.
    assert await _accepting(True, []) == (True, 1)


async def test_on_ami_listens_without_asking_redis() -> None:
    assert await _accepting(False, ["core-1"]) == (True, 0)
    assert await _accepting(False, []) == (True, 0)
