"""Open311 reads: the public sees only orders whose citizen agreed to publication, without
identity or exact address; a unit only its own orders; staff every order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.security.composed import TOKENS, Composed, composed

REQUESTS = "/open311/v2/requests.json"


def _order(**over: Any) -> dict[str, Any]:
    body = {"channel": "web", "category": "complaint", "caller_number": "13812345678",
            "caller_name": "张三", "description": "南关村村口垃圾堆放一个多月无人清运",
            "locality": "南关村", "address": "城关镇南关村村口第三户",
            "matter": "噪声扰民"}
    body.update(over)
    return body


async def _orders(app: Composed) -> dict[str, int]:
    """Three orders: consenting (dispatched to 城关镇), not consenting (城关镇), consenting
    but dispatched to another unit (dept-housing)."""
    ids = {}
    for name, body, lead in (
        ("consenting", _order(publish_consent=True), "town-chengguan"),
        ("silent", _order(description="李四家门口下水道堵塞", locality="北关村",
                          address="城关镇北关村12号", caller_number="13812345679"),
         "town-chengguan"),
        ("housing", _order(publish_consent=True, description="小区电梯停运三天",
                           locality="城关镇", matter="小区物业管理",
                           address="城关镇幸福小区5号楼", caller_number="13812345670"),
         "dept-housing"),
    ):
        status, out = await app.json("POST", "/api/workorders", "1001", body)
        assert status == 201, out
        ids[name] = out["order"]["id"]
        status, out = await app.json("POST", f"/api/workorders/{ids[name]}/dispatch",
                                     "dispatcher", {"lead": lead, "reason": "职责所在"})
        assert status == 200, out
        assert [a["unit"] for a in out["assignments"]] == [lead]
    return ids


async def _read(app: Composed, path: str, who: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"} if who else {}
    resp = await app.client.get(path, headers=headers)
    return resp.status, await resp.json()


async def test_the_public_sees_consenting_orders_only_without_identity(
        tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 ``GET /open311/v2/requests.json`` without a token listed every
    non-confidential order — the non-consenting one too — with its description and its
    exact address (``城关镇北关村12号``)."""
    async with composed(tmp_path, redis_url) as app:
        ids = await _orders(app)
        status, body = await _read(app, REQUESTS)
        assert status == 200
        assert sorted(int(r["service_request_id"]) for r in body) == sorted(
            [ids["consenting"], ids["housing"]])
        text = str(body)
        for private in ("13812345678", "13812345670", "张三", "城关镇南关村村口第三户",
                        "李四", "北关村", "幸福小区"):
            assert private not in text, private
        shown = {int(r["service_request_id"]): r for r in body}
        assert shown[ids["consenting"]]["address"] == "南关村"  # the locality only
        status, body = await _read(app, f"/open311/v2/requests/{ids['silent']}.json")
        assert status == 404 and body[0]["code"] == 404


async def test_a_unit_sees_only_its_own_orders(tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 a unit's token was ignored: it read every public order, other
    units' included."""
    async with composed(tmp_path, redis_url) as app:
        ids = await _orders(app)
        status, body = await _read(app, REQUESTS, "dept-housing")
        assert status == 200
        assert [int(r["service_request_id"]) for r in body] == [ids["housing"]]
        status, body = await _read(app, REQUESTS, "town-chengguan")
        assert sorted(int(r["service_request_id"]) for r in body) == sorted(
            [ids["consenting"], ids["silent"]])
        status, _ = await _read(app, f"/open311/v2/requests/{ids['consenting']}.json",
                                "dept-housing")
        assert status == 404


async def test_staff_see_every_order_still_without_identity(tmp_path: Path,
                                                            redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        ids = await _orders(app)
        for who in ("1001", "dispatcher", "supervisor", "callback"):
            status, body = await _read(app, REQUESTS, who)
            assert status == 200
            assert sorted(int(r["service_request_id"]) for r in body) == sorted(ids.values())
            for private in ("138123456", "张三", "村口第三户", "北关村12号", "幸福小区"):
                assert private not in str(body), (who, private)


async def test_bad_tokens_and_hostile_ids_are_refused(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        await _orders(app)
        resp = await app.client.get(REQUESTS, headers={"Authorization": "Bearer guessed"})
        assert resp.status == 401 and (await resp.json())[0]["code"] == 401
        for bad in ("²", "1" * 40, "1,abc"):
            status, body = await _read(app, f"{REQUESTS}?service_request_id={bad}")
            assert status == 400 and "service_request_id" in body[0]["description"], bad
        for bad in ("²", "9" * 40):
            status, body = await _read(app, f"/open311/v2/requests/{bad}.json")
            assert status == 404, bad
