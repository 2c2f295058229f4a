"""Knowledge base: private entries only for the hotline's staff (and the unit that keeps
them); a unit cannot publish to the public base without a supervisor's review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.security.composed import Composed, composed

QUESTION = "退休人员资格认证怎么做?"
SEARCH = "/api/kb/search?q=退休资格认证"


async def _questions(app: Composed, who: str | None) -> list[str]:
    status, body = await app.json("GET", SEARCH, who)
    assert status == 200, body
    return [r["question"] for r in body["results"]]


async def _unit_entry(app: Composed, public: bool, **over: Any) -> dict[str, Any]:
    body = {"question": QUESTION, "answer": "每年通过手机App人脸识别完成认证。",
            "keywords": "资格认证;退休", "public": public, **over}
    status, entry = await app.json("POST", "/api/kb/entries", "dept-housing", body)
    assert status == 201, entry
    return dict(entry)


async def test_private_entries_are_for_staff_and_their_unit_only(tmp_path: Path,
                                                                 redis_url: str) -> None:
    """On main 4b97079 any token — another unit's too — found private entries: only a
    request without a token was limited to public ones."""
    async with composed(tmp_path, redis_url) as app:
        await _unit_entry(app, public=False)
        for who in ("1001", "dispatcher", "supervisor", "callback", "dept-housing"):
            assert await _questions(app, who) == [QUESTION], who
        assert await _questions(app, "town-chengguan") == []
        assert await _questions(app, None) == []


async def test_a_unit_cannot_publish_without_review(tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 a unit's entry with ``public: true`` was public at once, and so was
    any later rewrite of it."""
    async with composed(tmp_path, redis_url) as app:
        entry = await _unit_entry(app, public=True)
        assert (entry["public"], entry["review_pending"]) == (False, True)
        assert await _questions(app, None) == []
        status, done = await app.json("POST", f"/api/kb/entries/{entry['id']}/review",
                                      "supervisor", {"approve": True})
        assert status == 200 and (done["public"], done["review_pending"]) == (True, False)
        assert await _questions(app, None) == [QUESTION]
        # Rewriting the approved entry takes it off the public base until reviewed again.
        status, edited = await app.json(
            "PUT", f"/api/kb/entries/{entry['id']}", "dept-housing",
            {"question": QUESTION, "answer": "请拨打 13900000000 找王科长办理", "public": True})
        assert status == 200 and (edited["public"], edited["review_pending"]) == (False, True)
        assert await _questions(app, None) == []
        status, done = await app.json("POST", f"/api/kb/entries/{entry['id']}/review",
                                      "supervisor", {"approve": False})
        assert status == 200 and (done["public"], done["review_pending"]) == (False, False)
        assert await _questions(app, None) == []


async def test_only_a_supervisor_reviews(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        entry = await _unit_entry(app, public=True)
        path = f"/api/kb/entries/{entry['id']}/review"
        assert (await app.json("POST", path, None, {"approve": True}))[0] == 401
        for who in ("dept-housing", "town-chengguan", "1001", "dispatcher", "callback"):
            status, _ = await app.json("POST", path, who, {"approve": True})
            assert status == 403, who
        assert await _questions(app, None) == []
        # Hostile or malformed review requests: named 4xx, nothing changed.
        assert (await app.json("POST", path, "supervisor", {}))[0] == 422
        assert (await app.json("POST", path, "supervisor", {"approve": "yes"}))[0] == 422
        for bad in ("²", "9" * 40, "0"):
            status, _ = await app.json("POST", f"/api/kb/entries/{bad}/review", "supervisor",
                                       {"approve": True})
            assert status == 404, bad
        assert await _questions(app, None) == []
        assert (await app.json("POST", path, "supervisor", {"approve": True}))[0] == 200
        # Decided once: a second decision is a conflict, not a silent re-publication.
        status, body = await app.json("POST", path, "supervisor", {"approve": False})
        assert status == 409 and "not waiting" in body["error"]
        assert await _questions(app, None) == [QUESTION]


async def test_staff_publish_directly(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        status, entry = await app.json("POST", "/api/kb/entries", "dispatcher", {
            "question": QUESTION, "answer": "每年通过手机App人脸识别完成认证。",
            "keywords": "资格认证;退休", "public": True, "unit": "dept-hrss"})
        assert status == 201 and (entry["public"], entry["review_pending"]) == (True, False)
        assert await _questions(app, None) == [QUESTION]
