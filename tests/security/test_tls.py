"""HTTPS when the HTTP API listens beyond loopback: the setting, the generated certificate,
and a real aiohttp site served with it (the core's own site is checked end to end in
tests/security/test_stack_files.py)."""

from __future__ import annotations

import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hotline_core.config_errors import ConfigError
from stack.settings import Settings, load_settings
from stack.tls import check_certificate, client_context, ensure_certificate, server_context
from testkit.redis_server import free_port


def _settings(tmp_path: Path, network: str) -> Settings:
    path = tmp_path / "hotline.toml"
    path.write_text(f'[network]\n{network}\n[paths]\nstate_dir = "{tmp_path / "var"}"\n')
    return load_settings(path, env={"HOTLINE_AMI_SECRET": "x", "HOTLINE_REDIS_PASSWORD": "y"})


@pytest.mark.parametrize(("network", "https"), [
    ('bind_address = "0.0.0.0"', True),                   # every interface: beyond loopback
    ('bind_address = "192.0.2.10"', True),                # a LAN address
    ('bind_address = "::"', True),
    ('bind_address = "127.0.0.1"', False),                # loopback stays plain HTTP
    ('bind_address = "127.0.0.5"', False),                # all of 127.0.0.0/8 is loopback
    ('bind_address = "::1"', False),
    ('bind_address = "127.0.0.1"\ntls = "on"', True),     # forced on
    ('bind_address = "0.0.0.0"\ntls = "off"', False),     # forced off (behind a proxy)
])
def test_tls_auto_is_on_beyond_loopback(tmp_path: Path, network: str, https: bool) -> None:
    """On 4b97079 the HTTP API was plain HTTP on every address, a LAN one included: bearer
    tokens and citizens' complaints crossed the network readable by anyone on it."""
    settings = _settings(tmp_path, network)
    assert settings.https is https
    assert settings.http_url.startswith("https://" if https else "http://")


def test_bad_tls_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, 'tls = "yes"')
    assert (err.value.setting, err.value.line) == ("network.tls", 2)
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, f'tls_cert = "{tmp_path / "c.pem"}"')
    assert err.value.setting == "network.tls_key"
    missing = _settings(tmp_path, f'tls = "on"\ntls_cert = "{tmp_path / "c.pem"}"\n'
                                  f'tls_key = "{tmp_path / "k.pem"}"')
    with pytest.raises(ConfigError) as err:
        check_certificate(missing)
    assert err.value.setting == "network.tls_cert"
    assert str(tmp_path / "c.pem") in str(err.value)


def test_generated_pair_is_private_and_kept(tmp_path: Path) -> None:
    settings = _settings(tmp_path, 'bind_address = "0.0.0.0"')
    cert, key = ensure_certificate(settings)
    assert (cert, key) == (tmp_path / "var" / "secrets" / "tls.crt",
                           tmp_path / "var" / "secrets" / "tls.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()
    before = cert.read_bytes()
    ensure_certificate(settings)                   # a second start keeps the same pair
    assert cert.read_bytes() == before


@pytest.fixture
async def https_site(tmp_path: Path) -> AsyncIterator[tuple[Settings, str]]:
    """An aiohttp site on 127.0.0.1 with tls = "on", served as the core serves its own."""
    port = free_port()
    settings = _settings(tmp_path, f'tls = "on"\nhttp_port = {port}')

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context(settings)).start()
    try:
        yield settings, f"127.0.0.1:{port}/hello"
    finally:
        await runner.cleanup()


async def test_site_speaks_https_with_the_generated_certificate(
        https_site: tuple[Settings, str]) -> None:
    """The stack's own clients verify the served certificate; a client that trusts only the
    public CAs refuses it (so it is really TLS with this self-signed pair); plain HTTP gets
    no answer."""
    settings, where = https_site
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"https://{where}", ssl=client_context(settings)) as resp:
            assert (resp.status, await resp.text()) == (200, "hello")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with session.get(f"https://{where}", ssl=ssl.create_default_context()):
                pass
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"http://{where}") as resp:
                await resp.read()
