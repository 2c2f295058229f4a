"""Open311 GeoReport v2 façade and the OpenAPI document."""

from __future__ import annotations

from tests.workorders.conftest import Api
from tests.workorders.test_lifecycle_api import NEW, complaint


async def test_services_map_categories_to_service_codes(api: Api) -> None:
    resp = await api.client.get("/open311/v2/services.json")
    services = await resp.json()
    assert resp.status == 200
    assert {s["service_code"]: s["service_name"] for s in services} == {
        "consult": "咨询", "help": "求助", "complaint": "投诉", "report": "举报",
        "suggestion": "建议", "other": "其他"}


async def test_requests_are_public_without_identity_or_confidential_orders(api: Api) -> None:
    _, open_ = await api.post(NEW, "operator", complaint(publish_consent=True))
    await api.post(f"{NEW}/{open_['order']['id']}/dispatch", "dispatcher", {})
    _, secret = await api.post(NEW, "operator", complaint(
        confidential=True, matter="食品安全", caller_number="13500000000",
        publish_consent=True))
    resp = await api.client.get("/open311/v2/requests.json?service_code=complaint")
    body = await resp.json()
    assert resp.status == 200
    assert [r["service_request_id"] for r in body] == [str(open_["order"]["id"])]
    req = body[0]
    assert req["status"] == "open" and req["agency_responsible"] == "城关镇人民政府"
    assert req["expected_datetime"] == "2026-06-17T09:00:00+08:00"
    assert "13812345678" not in str(body) and "张三" not in str(body)
    resp = await api.client.get(f"/open311/v2/requests/{secret['order']['id']}.json")
    assert resp.status == 404
    assert (await resp.json())[0]["code"] == 404
    resp = await api.client.get("/open311/v2/requests.json?service_code=pizza")
    assert resp.status == 400 and "pizza" in (await resp.json())[0]["description"]


async def test_posting_a_request_creates_an_api_order(api: Api) -> None:
    resp = await api.client.post("/open311/v2/requests.json", data={
        "api_key": "tok-operator", "service_code": "suggestion",
        "description": "建议在南关村增设公交站", "address_string": "南关村"})
    assert resp.status == 201
    created = (await resp.json())[0]
    _, detail = await api.get(f"{NEW}/{created['service_request_id']}", "supervisor")
    assert detail["channel"] == "api" and detail["category"] == "suggestion"
    resp = await api.client.post("/open311/v2/requests.json", data={
        "api_key": "unit:town-chengguan", "service_code": "help", "description": "x"})
    assert resp.status == 403
    resp = await api.client.post("/open311/v2/requests.json", data={
        "api_key": "tok-operator", "service_code": "help", "description": ""})
    assert resp.status == 400 and "description" in (await resp.json())[0]["description"]


async def test_openapi_lists_every_route_with_a_summary(api: Api) -> None:
    resp = await api.client.get("/api/openapi.json")
    doc = await resp.json()
    assert resp.status == 200 and doc["openapi"].startswith("3.")
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    registered = set()
    for route in api.client.app.router.routes():  # type: ignore[union-attr]
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path != "/api/health":
            registered.add((route.method, path))
    assert registered <= listed
    for method, path in registered:
        assert doc["paths"][path][method.lower()]["summary"], (method, path)
    create = doc["paths"]["/api/workorders"]["post"]["requestBody"]
    schema = create["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"channel", "category", "description"}
