"""Knowledge base: fuzzy Chinese search with synonyms, departments' own entries, and a
consult answered and closed on the spot."""

from __future__ import annotations

from tests.workorders.conftest import CONFIG, Api
from tests.workorders.test_lifecycle_api import NEW


async def _load(api: Api) -> None:
    status, out = await api.post("/api/kb/synonyms", "dispatcher",
                                 raw=(CONFIG / "kb_synonyms.sample.csv").read_bytes())
    assert status == 200, out
    status, out = await api.post("/api/kb/import", "dispatcher",
                                 raw=(CONFIG / "knowledge_base.sample.csv").read_bytes())
    assert status == 200 and out["imported"] == 8


async def _top(api: Api, q: str, who: str = "operator") -> str:
    status, out = await api.get(f"/api/kb/search?q={q}", who)
    assert status == 200 and out["results"], q
    return str(out["results"][0]["question"])


async def test_search_finds_entries_by_other_words_and_synonyms(api: Api) -> None:
    await _load(api)
    # "社保" is a synonym of 社会保险; "怎么交" is not in the entry at all.
    assert await _top(api, "社保怎么交") == "灵活就业人员如何缴纳社会保险?"
    assert await _top(api, "我家断电了") == "家里突然停电怎么办?"
    assert await _top(api, "失业金") == "失业保险金怎么申领?"
    assert await _top(api, "孩子上学要什么材料") == "新生入学需要准备哪些材料?"
    status, out = await api.get("/api/kb/search?q=", "operator")
    assert status == 422 and out["field"] == "q"


async def test_units_keep_their_own_entries_and_the_public_sees_public_ones(api: Api) -> None:
    await _load(api)
    status, entry = await api.post("/api/kb/entries", "dept-hrss", {
        "question": "退休人员资格认证怎么做?", "answer": "每年通过手机App人脸识别完成认证。",
        "keywords": "资格认证;退休", "public": False, "unit": "dept-market"})
    assert status == 201 and entry["unit"] == "dept-hrss"  # a unit cannot write for another
    status, _ = await api.call("PUT", f"/api/kb/entries/{entry['id']}", "dept-market",
                               {"question": "x", "answer": "y"})
    assert status == 403
    status, updated = await api.call("PUT", f"/api/kb/entries/{entry['id']}", "dept-hrss", {
        "question": "退休人员资格认证怎么做?", "answer": "在“甘肃人社”App人脸识别即可。",
        "keywords": "资格认证;退休", "public": False})
    assert status == 200 and "甘肃人社" in updated["answer"]
    assert await _top(api, "退休资格认证") == "退休人员资格认证怎么做?"
    # Without a token: public entries only.
    resp = await api.client.get("/api/kb/search?q=退休资格认证")
    body = await resp.json()
    assert resp.status == 200
    assert all(r["question"] != "退休人员资格认证怎么做?" for r in body["results"])


async def test_a_consult_answered_from_the_knowledge_base_is_closed_on_the_spot(api: Api) -> None:
    await _load(api)
    _, found = await api.get("/api/kb/search?q=公交几点收班", "operator")
    entry_id = found["results"][0]["id"]
    status, out = await api.post(NEW, "operator", {
        "channel": "phone", "call_record_id": "call-9", "category": "consult",
        "description": "县城公交晚上几点停运", "caller_number": "13600000000",
        "kb_entry_id": entry_id})
    assert status == 201 and out["order"]["status"] == "closed"
    _, ev = await api.get(f"{NEW}/{out['order']['id']}/events", "supervisor")
    assert [e["kind"] for e in ev["events"]] == ["created", "kb_answered"]
    assert "19:30" in ev["events"][1]["data"]["answer"]
    status, out = await api.post(NEW, "operator", {
        "channel": "web", "category": "complaint", "description": "投诉公交司机",
        "kb_entry_id": entry_id})
    assert status == 422 and out["field"] == "category"


async def test_bad_knowledge_base_csv_imports_nothing(api: Api) -> None:
    bad = "unit,question,answer,keywords,public\ndept-hrss,问题,,k,是\nnobody,问,答,k,是\n"
    status, out = await api.post("/api/kb/import", "dispatcher", raw=bad.encode())
    assert status == 422
    assert {(p["line"], p["column"]) for p in out["problems"]} == {(2, "answer"), (3, "unit")}
    status, out = await api.get("/api/kb/search?q=问题", "operator")
    assert out["results"] == []
