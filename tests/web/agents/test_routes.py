"""Agent routes on the composed API (real redis-server, the core's route list): tokens,
roles, hostile bodies, and the distributor's refusals answered through the one middleware."""

from __future__ import annotations

from pathlib import Path

from tests.security.composed import composed


async def test_without_or_with_a_foreign_token(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        status, out = await app.json("POST", "/api/agents/1001/login")
        assert status == 401 and "bearer" in out["error"]
        resp = await app.client.post("/api/agents/1001/login",
                                     headers={"Authorization": "Bearer forged"})
        assert resp.status == 401
        # Agent 1002's token may not act for 1001 (a spoofed identity), nor may a unit.
        status, out = await app.json("POST", "/api/agents/1001/login", "1002", {})
        assert status == 403 and "1002 may not change the state of agent 1001" in out["error"]
        status, _ = await app.json("POST", "/api/agents/1001/pause", "town-chengguan",
                                   {"reason": "lunch"})
        assert status == 403
        assert await app.distributor.view.agents() == []   # nobody was logged in


async def test_hostile_bodies_are_refused_naming_the_field(tmp_path: Path,
                                                           redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        for body, field in [({"skills": {"tax": 1}}, "skills"),     # not in its directory
                            ({"skills": {}}, "skills"),
                            ({"skills": {"general": "1"}}, "skills.general"),
                            ({"skills": ["general"]}, "skills")]:
            status, out = await app.json("POST", "/api/agents/1001/login", "1001", body)
            assert status == 422 and out["field"] == field, (body, out)
        status, out = await app.json("POST", "/api/agents/1001/pause", "1001",
                                     {"reason": " "})
        assert status == 422 and out["field"] == "reason"
        resp = await app.client.post("/api/agents/1001/pause", data=b"{\"reason\": ",
                                     headers={"Authorization": "Bearer tok-agent-1001",
                                              "Content-Type": "application/json"})
        assert resp.status == 400
        assert await app.distributor.view.agents() == []


async def test_a_refused_state_change_is_a_409(tmp_path: Path, redis_url: str) -> None:
    """Pausing an agent who is not logged in: the distributor refuses, the middleware
    answers 409 with the distributor's reason; logged in, the same request works."""
    async with composed(tmp_path, redis_url) as app:
        status, out = await app.json("POST", "/api/agents/1001/pause", "1001",
                                     {"reason": "lunch"})
        assert status == 409 and "1001" in out["error"], out
        status, out = await app.json("POST", "/api/agents/1001/login", "1001", {})
        assert (status, out) == (200, {"agent": "1001", "state": "ready",
                                       "skills": {"general": 1}})
        status, out = await app.json("POST", "/api/agents/1001/pause", "supervisor",
                                     {"reason": "lunch"})
        assert (status, out) == (200, {"agent": "1001", "state": "paused", "reason": "lunch"})
        status, out = await app.json("GET", "/api/agents", "1002")
        assert status == 200
        (agent,) = out["agents"]
        assert (agent["agent_id"], agent["state"], agent["pause_reason"]) == (
            "1001", "paused", "lunch")
