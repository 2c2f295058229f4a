"""Campaign routes on the composed API (real SQLite, the core's route list): who may read
what, numbers masked but for callback staff, hostile paths and queries refused, and the
rows the dialer's store wrote read back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hotline_core.campaigns.config import KindSettings
from hotline_core.campaigns.model import AttemptOutcome, CampaignKind
from hotline_core.campaigns.store import CampaignStore, Destination
from tests.security.composed import composed

NUMBER = "13800138900"
RULES = KindSettings(max_attempts=1)


def _one_unreached_and_one_pending(maker: sessionmaker[Session]) -> tuple[int, int, int]:
    """A reminder target whose only attempt went unanswered (→ worklist), and a pending
    satisfaction callback. Returns (worklist target, its attempt, pending target)."""
    store = CampaignStore(maker)
    unreached, _ = store.enqueue(CampaignKind.REMINDER, "12345",
                                 [Destination(NUMBER, "A")], "reminder:1", order_id=None)
    attempt = store.begin_attempt(unreached, NUMBER, "A")
    assert attempt is not None
    store.end_attempt(attempt.id, AttemptOutcome.NO_ANSWER, "originate reason 3", RULES)
    pending, _ = store.enqueue(CampaignKind.SATISFACTION_CALLBACK, "12345",
                               [Destination("13900139000")], "order:7:round:1")
    return unreached, attempt.id, pending


async def test_without_a_token_with_a_forged_one_or_the_wrong_role(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        _one_unreached_and_one_pending(app.maker)
        for path in ("/api/campaigns", "/api/campaigns/1/attempts",
                     "/api/campaigns/1/targets", "/api/campaigns/worklist"):
            status, out = await app.json("GET", path)
            assert status == 401 and "bearer" in out["error"], path
            resp = await app.client.get(path, headers={"Authorization": "Bearer forged"})
            assert resp.status == 401, path
            for who in ("1001", "dispatcher", "town-chengguan"):
                status, out = await app.json("GET", path, who)
                assert status == 403, (path, who, out)
        # Callback staff read the worklist only, not the campaigns.
        status, _ = await app.json("GET", "/api/campaigns", "callback")
        assert status == 403
        status, _ = await app.json("GET", "/api/campaigns/worklist", "callback")
        assert status == 200


async def test_supervisors_list_campaigns_targets_and_attempts(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        unreached, attempt_id, pending = _one_unreached_and_one_pending(app.maker)
        status, out = await app.json("GET", "/api/campaigns", "supervisor")
        assert status == 200
        by_kind = {c["kind"]: c for c in out["campaigns"]}
        assert set(by_kind) == {"reminder", "satisfaction_callback"}
        assert by_kind["reminder"]["targets"] == {"worklist": 1}
        assert by_kind["reminder"]["attempts"] == 1
        assert by_kind["satisfaction_callback"]["targets"] == {"pending": 1}
        assert by_kind["satisfaction_callback"]["attempts"] == 0
        assert by_kind["reminder"]["line"] == "12345" and by_kind["reminder"]["standing"]

        cid = by_kind["reminder"]["id"]
        status, out = await app.json("GET", f"/api/campaigns/{cid}/attempts", "supervisor")
        assert status == 200
        [attempt] = out["attempts"]
        assert (attempt["id"], attempt["target_id"], attempt["outcome"], attempt["role"]) == (
            attempt_id, unreached, "no_answer", "A")
        assert attempt["number"] == "138****8900"       # masked for a supervisor
        status, out = await app.json(
            "GET", f"/api/campaigns/{cid}/attempts?outcome=completed", "supervisor")
        assert (status, out) == (200, {"attempts": []})

        sid = by_kind["satisfaction_callback"]["id"]
        status, out = await app.json("GET", f"/api/campaigns/{sid}/targets?state=pending",
                                     "supervisor")
        assert status == 200
        assert [t["id"] for t in out["targets"]] == [pending]
        assert out["targets"][0]["destinations"] == [{"number": "139****9000",
                                                      "role": "citizen"}]


async def test_the_worklist_shows_callback_staff_the_whole_number(
        tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        unreached, _, _ = _one_unreached_and_one_pending(app.maker)
        status, out = await app.json("GET", "/api/campaigns/worklist", "callback")
        assert status == 200
        [target] = out["targets"]
        assert (target["id"], target["kind"], target["state"], target["attempts"]) == (
            unreached, "reminder", "worklist", 1)
        assert target["destinations"] == [{"number": NUMBER, "role": "A"}]
        status, out = await app.json("GET", "/api/campaigns/worklist", "supervisor")
        assert out["targets"][0]["destinations"][0]["number"] == "138****8900"


async def test_hostile_paths_and_queries_are_refused(tmp_path: Path, redis_url: str) -> None:
    async with composed(tmp_path, redis_url) as app:
        _one_unreached_and_one_pending(app.maker)
        for path in ("/api/campaigns/999/attempts", "/api/campaigns/1%3BDROP/attempts",
                     "/api/campaigns/%D9%A1/targets", "/api/campaigns/-1/targets",
                     "/api/campaigns/99999999999999999999/attempts"):
            status, out = await app.json("GET", path, "supervisor")
            assert status == 404, (path, out)
        for query, field in [("limit=0", "limit"), ("limit=501", "limit"),
                             ("limit=abc", "limit"), ("limit=%D9%A1%D9%A0", "limit"),
                             ("before=-5", "before"), ("outcome=dialled_twice", "outcome")]:
            status, out = await app.json("GET", f"/api/campaigns/1/attempts?{query}",
                                         "supervisor")
            assert status == 422 and out["field"] == field, (query, out)
        status, out = await app.json("GET", "/api/campaigns/1/targets?state=open",
                                     "supervisor")
        assert status == 422 and out["field"] == "state"
        status, out = await app.json("GET", "/api/campaigns/worklist?limit=1&before=1",
                                     "callback")
        assert (status, out) == (200, {"targets": []})   # ids below 1: none
