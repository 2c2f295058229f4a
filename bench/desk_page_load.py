"""Desktop page load (坐席工作台加载): navigation start → the page interactive, and → its
first data in place (the agent's state, the voice-message inbox and the live socket open),
measured in the page with the Navigation Timing and ``performance.now()`` clocks.

    .venv/bin/python bench/desk_page_load.py [--loads 50] [--agents 200] [--messages 20]

Starts one stack with :class:`testkit.stack.HotlineStack` (redis-server, Asterisk 22 in the
sid chroot, the core as a subprocess) with agent 1001 (skills general and fire-hazard) and
``--agents`` more agents of skill general, registering phones not started, logged in and
paused (every figures snapshot the socket sends first holds them); ``--messages`` voice
messages wait in 1001's inbox (call records written as the inbound flow leaves them, line
96119). An operator bound to 1001 signs in on the sign-in page of Debian's headless Chromium;
then ``/desk`` is loaded ``--loads`` times in that tab (the session cookie and the browser's
cache warm after the first load, as for an agent who reloads). Per load: ``domInteractive``
(HTML parsed, scripts run) and the last of the three first-data marks desk.js sets
(``window.hotlineDesk.firstState``, ``firstInbox``, ``firstLive``). Bounded: at most 200
loads, 500 agents, 200 messages; every wait has a time-out; loopback only; the stack is
stopped and its files removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from hotline_core.call_records import CallRecord, Disposition  # noqa: E402
from testkit.browser import chromium  # noqa: E402
from testkit.desk_bench import paused_agents, signed_in_page, summary  # noqa: E402
from testkit.people import add_user  # noqa: E402
from testkit.stack import Agent, HotlineStack  # noqa: E402

AGENT = "1001"
FIRST_DATA = ("() => { const d = window.hotlineDesk; return d && d.firstState !== null &&"
              " d.firstInbox !== null && d.firstLive !== null; }")
MARKS = ("() => { const n = performance.getEntriesByType('navigation')[0];"
         " const d = window.hotlineDesk;"
         " return [n.domInteractive, Math.max(d.firstState, d.firstInbox, d.firstLive)]; }")


def _messages(url: str, count: int) -> None:
    engine = create_engine(url)
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        with Session(engine) as s, s.begin():
            s.add_all(CallRecord(
                id=f"bench-vm-{i}", linkedid=f"bench-vm-{i}", line="96119",
                caller=f"1390000{i:04d}", offered_at=start + timedelta(seconds=i),
                disposition=Disposition.VOICE_MESSAGE.value,
                message=f"bench/bench-vm-{i}-message.wav") for i in range(count))
    finally:
        engine.dispose()


async def run(loads: int, extra_agents: int, messages: int) -> tuple[list[float], list[float]]:
    agents = [Agent(AGENT, {"general": 1, "fire-hazard": 1})] + [
        Agent(str(3000 + i), {"general": 1}, registers=True) for i in range(extra_agents)]
    stack = HotlineStack(agents=agents).start()
    try:
        stack.wait_healthy()
        add_user(stack.settings.database_url, "bench-op", "operator", agent_id=AGENT)
        _messages(stack.settings.database_url, messages)
        await paused_agents(stack, [str(3000 + i) for i in range(extra_agents)])
        interactive: list[float] = []
        first_data: list[float] = []
        async with chromium() as browser:
            page = await signed_in_page(browser, stack, "bench-op", "/desk")
            base = f"http://127.0.0.1:{stack.http_port}"
            for _ in range(loads):
                await page.goto(f"{base}/desk", timeout=60_000)
                await page.wait_for_function(FIRST_DATA, timeout=60_000)
                shown = await page.locator("#inbox-table tbody tr").count()
                assert shown == messages, f"inbox shows {shown} of {messages} messages"
                dom, data = await page.evaluate(MARKS)
                interactive.append(float(dom))
                first_data.append(float(data))
        return interactive, first_data
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=50)
    parser.add_argument("--agents", type=int, default=200, help="extra paused agents")
    parser.add_argument("--messages", type=int, default=20, help="voice messages waiting")
    args = parser.parse_args()
    if not (1 <= args.loads <= 200 and 0 <= args.agents <= 500
            and 0 <= args.messages <= 200):
        parser.error("bounds: 1-200 loads, 0-500 agents, 0-200 messages")
    interactive, first_data = asyncio.run(run(args.loads, args.agents, args.messages))
    print(f"desk page load, {1 + args.agents} agents, {args.messages} messages, "
          f"{args.loads} loads")
    print(f"  navigation -> interactive (domInteractive): {summary(interactive)}")
    print(f"  navigation -> first data (state, inbox, socket): {summary(first_data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
