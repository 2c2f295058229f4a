"""Sign-in on the real stack (the core as `hotline up` runs it, real Asterisk and redis):
a user made with the `hotline user add` command signs in over HTTP; the operator's session
logs in its own agent (CSRF header sent) and is refused the supervisor's figures; the
cookie key file is 0600; sign-out ends the session; neither the password nor the cookie
reaches the core's log."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from stack.settings import REPO_ROOT
from testkit.people import CSRF_HEADER, sign_in
from testkit.stack import Agent, HotlineStack

pytestmark = pytest.mark.e2e

PASSWORD = "e2e password 12345"


@pytest.fixture(scope="module")
def hotline() -> Iterator[HotlineStack]:
    stack = HotlineStack(agents=[Agent("1001", {"general": 1})]).start()
    try:
        yield stack
    finally:
        stack.stop()


def _add_operator(hotline: HotlineStack) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stack.cli", "--config", str(hotline.config),
                           "user", "add", "op1001", "--role", "operator", "--agent", "1001"],
                          input=PASSWORD + "\n", capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT, check=False)


async def test_an_operator_signs_in_to_the_running_core(hotline: HotlineStack) -> None:
    done = await asyncio.to_thread(_add_operator, hotline)
    assert done.returncode == 0, done.stderr
    key = hotline.settings.state_dir / "secrets" / "session_cookie_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    base = f"http://127.0.0.1:{hotline.http_port}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=timeout) as web:
        csrf = await sign_in(web, base, "op1001", PASSWORD)
        cookie = next(m.value for m in web.cookie_jar if m.key == "hotline_session")
        async with web.get(f"{base}/api/session") as resp:
            me = await resp.json()
        assert (me["role"], me["agent"]) == ("operator", "1001")
        async with web.post(f"{base}/api/agents/1001/login", json={}) as resp:
            assert resp.status == 403                     # no CSRF token
        async with web.post(f"{base}/api/agents/1001/login", json={},
                            headers={CSRF_HEADER: csrf}) as resp:
            assert resp.status == 200, await resp.text()
        agents = await hotline.aapi("GET", "/api/agents")
        assert [(a["agent_id"], a["state"]) for a in agents["agents"]] == [("1001", "ready")]
        async with web.get(f"{base}/api/call-figures/day?date=2026-06-08") as resp:
            assert resp.status == 403
        async with web.delete(f"{base}/api/session", headers={CSRF_HEADER: csrf}) as resp:
            assert resp.status == 200
        async with web.get(f"{base}/api/agents") as resp:
            assert resp.status == 401
    log = hotline.core_log()
    assert PASSWORD not in log and cookie not in log and csrf not in log
