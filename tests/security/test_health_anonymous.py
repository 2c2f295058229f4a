"""``GET /api/health``: up or not for anyone, component details for supervisors only, and
never an address or URL (the Redis URL carries its password)."""

from __future__ import annotations

from pathlib import Path

from tests.security.composed import TOKENS, composed


async def test_without_a_token_health_says_only_ok(tmp_path: Path, redis_url: str) -> None:
    """On main 4b97079 the anonymous answer listed every component with the Redis URL
    (``redis://127.0.0.1:…/0``) and the database URL (``sqlite:///…/hotline.db``)."""
    async with composed(tmp_path, redis_url) as app:
        resp = await app.client.get("/api/health")
        # AMI and FastAGI are not running in this composition: not ok, 503 for a balancer.
        assert resp.status == 503
        assert await resp.json() == {"ok": False}


async def test_a_supervisor_sees_components_without_any_url(tmp_path: Path,
                                                           redis_url: str) -> None:
    """On main 4b97079 the details held the Redis URL and the database URL."""
    async with composed(tmp_path, redis_url) as app:
        status, body = await app.json("GET", "/api/health", "supervisor")
        # AMI and FastAGI are not running in this composition: down, hence 503.
        assert status == 503 and body["ok"] is False
        assert body["components"] == {
            "redis": {"ok": True, "detail": "reachable"},
            "asterisk_ami": {"ok": False, "detail": "not connected"},
            "fastagi": {"ok": False, "detail": "not serving"},
            "database": {"ok": True, "detail": "reachable (sqlite)"},
        }
        text = str(body)
        assert redis_url not in text and "redis://" not in text
        assert "sqlite://" not in text and str(tmp_path) not in text


async def test_other_roles_get_the_short_answer_and_a_bad_token_401(tmp_path: Path,
                                                                    redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        for who in ("1001", "dispatcher", "callback", "town-chengguan"):
            status, body = await app.json("GET", "/api/health", who)
            assert (status, body) == (503, {"ok": False}), who
        # A wrong or malformed token is refused rather than silently treated as anonymous.
        for header in ("Bearer not-a-token", "Basic " + TOKENS["supervisor"],
                       "Bearer " + TOKENS["supervisor"] + "\u200b"):
            resp = await app.client.get("/api/health", headers={"Authorization": header})
            assert resp.status == 401, header
            assert "components" not in await resp.json()
