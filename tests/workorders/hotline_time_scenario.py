"""Run by ``test_hotline_time.py`` in a child process whose ``TZ`` the test sets: the work-
order API composed from a settings file, asked the same questions under every host zone.
Prints one JSON object (the answers) as its last line; the test holds the expectations."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.workorders.composed_desk import served, write_settings

# Instants the desk's clock returns, in UTC as the production clock gives them.
DEADLINE_CASES = {
    "monday_0700_cst": datetime(2026, 6, 14, 23, 0, tzinfo=UTC),
    "saturday_0600_cst": datetime(2026, 6, 12, 22, 0, tzinfo=UTC),
    "duanwu_friday_0500_cst": datetime(2026, 6, 18, 21, 0, tzinfo=UTC),
    "tuesday_midnight_cst": datetime(2026, 6, 15, 16, 0, tzinfo=UTC),
}


def help_request(**over: Any) -> dict[str, Any]:
    body = {"channel": "web", "category": "help", "description": "路灯不亮, 请派人修理",
            "locality": "南关村", "matter": "路灯维修", "caller_number": "13812345678",
            "publish_consent": True}
    body.update(over)
    return body


async def main(tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"host_utc_offset": time.strftime("%z")}
    # The real clock (the desk's default): received_at is the instant of the request.
    async with served(write_settings(tmp / "real")) as (api, _):
        before = time.time()
        status, body = await api.post("/api/workorders", "operator", help_request())
        after = time.time()
        assert status == 201, body
        oid = body["order"]["id"]
        _, detail = await api.get(f"/api/workorders/{oid}", "operator")
        resp = await api.client.get(f"/open311/v2/requests/{oid}.json")
        out["real"] = {"before": before, "after": after,
                       "received_at": detail["received_at"],
                       "open311_requested": (await resp.json())[0]["requested_datetime"]}
    # A clock set by hand to UTC instants: the deadlines they give.
    now = {"t": datetime(2026, 6, 8, 1, 0, tzinfo=UTC)}
    due: dict[str, Any] = {}
    async with served(write_settings(tmp / "set"), clock=lambda: now["t"]) as (api, _):
        for i, (name, instant) in enumerate(DEADLINE_CASES.items()):
            now["t"] = instant
            status, body = await api.post("/api/workorders", "operator", help_request(
                matter=f"路灯维修{i}"))
            assert status == 201, body
            oid = body["order"]["id"]
            resp = await api.client.get(f"/open311/v2/requests/{oid}.json")
            due[name] = {"due_at": body["order"]["due_at"],
                         "received_at": body["order"]["received_at"],
                         "open311_expected": (await resp.json())[0]["expected_datetime"]}
    out["deadlines"] = due
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
