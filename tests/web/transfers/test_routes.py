"""The transfer routes on a composed app (migrated SQLite, real token policy): who may
transfer, what input is refused, and that a refused request starts nothing. The telephony
side is a recording stand-in here; tests/e2e/test_transfers.py runs it on real Asterisk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline_core.access import policy_from_mapping
from hotline_core.db import make_engine, make_sessionmaker
from hotline_core.migrate import upgrade
from hotline_core.transfers import (
    TransferError,
    TransferMode,
    TransferStore,
    load_transfer_list,
)
from stack.settings import REPO_ROOT
from web.app import create_app
from web.keys import provide
from web.transfers import routes
from web.transfers.services import TRANSFERS, TransferServices

TOKENS = {"tokens": [
    {"name": "supervisor", "role": "supervisor", "token": "tok-sup"},
    {"name": "1001", "role": "operator", "token": "tok-1001"},
    {"name": "1002", "role": "operator", "token": "tok-1002"},
    {"name": "disp", "role": "dispatcher", "token": "tok-disp"},
    {"name": "dept", "role": "unit", "unit": "dept-x", "token": "tok-unit"},
]}
CALL = "1764000000.7"
LIST = REPO_ROOT / "config" / "transfer_list.toml"


class Telephony:
    """Stands in for ivr/transfer.py: the call CALL is agent 1001's; records every start."""

    def __init__(self, store: TransferStore) -> None:
        self.store = store
        self.started: list[tuple[str, str, TransferMode, str]] = []
        self.finished: list[tuple[int, bool, str]] = []

    async def start(self, call_id: str, target: str, mode: TransferMode, requester: str,
                    supervisor: bool) -> int:
        if call_id != CALL:
            raise TransferError(404, f"no call {call_id} in progress")
        if not supervisor and requester != "1001":
            raise TransferError(403, f"call {call_id} is not agent {requester}'s call")
        self.started.append((call_id, target, mode, requester))
        return self.store.requested(call_id, target, mode, requester)

    async def finish(self, transfer_id: int, complete: bool, requester: str,
                     supervisor: bool) -> None:
        row = self.store.get(transfer_id)
        if row is None or row.mode != TransferMode.ATTENDED:
            raise TransferError(409, f"transfer {transfer_id} is not an attended transfer")
        if not supervisor and requester != row.requested_by:
            raise TransferError(403, f"transfer {transfer_id} is not agent {requester}'s")
        self.finished.append((transfer_id, complete, requester))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Telephony]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    store = TransferStore(sessions)
    telephony = Telephony(store)
    app = create_app(sessions, route_modules=[routes.register], services=[
        provide(TRANSFERS, TransferServices(telephony, store, policy_from_mapping(TOKENS),
                                            load_transfer_list(LIST)))])
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c, telephony


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def test_the_agent_on_the_call_transfers_it(
        client: tuple[TestClient[Any, Any], Telephony]) -> None:
    c, telephony = client
    res = await c.post(f"/api/calls/{CALL}/transfer", json={"target": "119", "mode": "blind"},
                       headers=_auth("tok-1001"))
    assert res.status == 201, await res.text()
    body = await res.json()
    assert (body["call_id"], body["target"], body["mode"], body["requested_by"],
            body["outcome"]) == (CALL, "119", "blind", "1001", "requested")
    assert telephony.started == [(CALL, "119", TransferMode.BLIND, "1001")]
    listed = await (await c.get(f"/api/calls/{CALL}/transfers",
                                headers=_auth("tok-sup"))).json()
    assert [t["id"] for t in listed["transfers"]] == [body["id"]]
    assert body["requested_at"].endswith("Z") or body["requested_at"].endswith("+00:00")


async def test_supervisor_may_transfer_any_call(
        client: tuple[TestClient[Any, Any], Telephony]) -> None:
    c, telephony = client
    res = await c.post(f"/api/calls/{CALL}/transfer",
                       json={"target": "120", "mode": "three-way"}, headers=_auth("tok-sup"))
    assert res.status == 201
    assert telephony.started == [(CALL, "120", TransferMode.THREE_WAY, "supervisor")]


@pytest.mark.parametrize(("token", "status"), [
    (None, 401), ("wrong-token", 401), ("tok-disp", 403), ("tok-unit", 403),
    ("tok-1002", 403),        # another agent: the call is 1001's, whatever 1002 claims
])
async def test_who_may_not_transfer(client: tuple[TestClient[Any, Any], Telephony],
                                    token: str | None, status: int) -> None:
    c, telephony = client
    res = await c.post(f"/api/calls/{CALL}/transfer", json={"target": "119", "mode": "blind",
                                                             "requested_by": "1001"},
                       headers=_auth(token))
    assert res.status == status, await res.text()
    assert "error" in await res.json()
    assert telephony.started == []


@pytest.mark.parametrize(("body", "field"), [
    ({"target": "911", "mode": "blind"}, "target"),
    ({"target": "119;Dial(PJSIP/x@carrier)", "mode": "blind"}, "target"),
    ({"target": "119\r\nX: y", "mode": "blind"}, "target"),
    ({"target": 119, "mode": "blind"}, "target"),
    ({"mode": "blind"}, "target"),
    ({"target": "119", "mode": "conference"}, "mode"),
])
async def test_hostile_or_wrong_input_is_refused_naming_the_field(
        client: tuple[TestClient[Any, Any], Telephony], body: dict[str, Any],
        field: str) -> None:
    c, telephony = client
    res = await c.post(f"/api/calls/{CALL}/transfer", json=body, headers=_auth("tok-1001"))
    assert res.status == 422, await res.text()
    assert (await res.json()).get("field") == field
    assert telephony.started == []


async def test_not_json_and_unknown_calls(
        client: tuple[TestClient[Any, Any], Telephony]) -> None:
    c, telephony = client
    res = await c.post(f"/api/calls/{CALL}/transfer", data=b"target=119",
                       headers=_auth("tok-1001"))
    assert res.status == 400
    for call in ("1.2", "..%2F..", "1' OR '1'='1"):
        res = await c.post(f"/api/calls/{call}/transfer",
                           json={"target": "119", "mode": "blind"}, headers=_auth("tok-1001"))
        assert res.status == 404, (call, await res.text())
    assert telephony.started == []


async def test_attended_complete_and_cancel_only_by_its_agent(
        client: tuple[TestClient[Any, Any], Telephony]) -> None:
    c, telephony = client
    res = await c.post(f"/api/calls/{CALL}/transfer",
                       json={"target": "110", "mode": "attended"}, headers=_auth("tok-1001"))
    tid = (await res.json())["id"]
    for token, status in ((None, 401), ("tok-disp", 403), ("tok-1002", 403)):
        res = await c.post(f"/api/transfers/{tid}/complete", headers=_auth(token))
        assert res.status == status, await res.text()
    for bad in ("abc", "1;DROP", "99999999999999999999"):
        res = await c.post(f"/api/transfers/{bad}/cancel", headers=_auth("tok-1001"))
        assert res.status == 404, (bad, await res.text())
    assert telephony.finished == []
    res = await c.post(f"/api/transfers/{tid}/complete", headers=_auth("tok-1001"))
    assert res.status == 200 and (await res.json())["id"] == tid
    res = await c.post(f"/api/transfers/{tid}/cancel", headers=_auth("tok-sup"))
    assert res.status == 200
    assert telephony.finished == [(tid, True, "1001"), (tid, False, "supervisor")]


async def test_the_transfer_list_is_read_by_call_takers_not_by_units(
        client: tuple[TestClient[Any, Any], Telephony]) -> None:
    c, _ = client
    res = await c.get("/api/transfer-list", headers=_auth("tok-1001"))
    assert res.status == 200
    body = await res.json()
    gas = [cat for cat in body["outbound"] if "燃气泄漏" in cat["items"]]
    assert [cat["centre"] for cat in gas] == ["119"]
    assert {cat["centre"] for cat in body["inbound"]} <= {"110", "119", "120", "122"}
    assert body["inbound"]
    for token, status in ((None, 401), ("tok-unit", 403)):
        assert (await c.get("/api/transfer-list", headers=_auth(token))).status == status
