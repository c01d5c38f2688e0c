"""Production behind a TLS proxy: `check --deploy` is clean, and plain loopback still works."""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets

import pytest

from tests.site.processes import OperatorServer, manage
from tests.support.clients import connect

pytestmark = pytest.mark.server

HTTPS = {"X-Forwarded-Proto": "https"}


def production_env(tmp_path, **extra) -> dict:
    """What a deployment behind a TLS-terminating proxy sets, and nothing else."""
    return {
        "PATH": "/usr/bin:/bin",
        "IM_DATA_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "IM_ALLOWED_HOSTS": "chat.example.org",
        "IM_HTTPS": "1",
        **extra,
    }


def test_check_deploy_is_clean_in_production_configuration(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "security.W" not in output
    assert "System check identified no issues" in output


def test_check_deploy_names_what_is_missing_without_https(tmp_path):
    env = production_env(tmp_path)
    del env["IM_HTTPS"]
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def test_a_redirect_without_the_proxy_header_stops_start_up(tmp_path):
    env = production_env(tmp_path, IM_SECURE_PROXY_SSL_HEADER="off")
    result = manage(env, "check")
    assert result.returncode != 0
    assert "IM_SSL_REDIRECT needs IM_SECURE_PROXY_SSL_HEADER" in result.stderr.splitlines()[-1]


def _request(server, method: str, path: str, headers: dict | None = None,
             body: str | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    host, port = server.http_address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Host": "chat.example.org", "Content-Type": "application/json", **(headers or {})}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response, payload


async def get(server, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    return (await asyncio.to_thread(_request, server, "GET", path, headers))[0]


async def token_through_the_proxy(server) -> str:
    account = json.dumps({"username": f"u{secrets.token_hex(4)}", "password": "a long passphrase"})
    for path, expected in (("/api/auth/register/", 201), ("/api/auth/login/", 200)):
        response, payload = await asyncio.to_thread(_request, server, "POST", path, HTTPS, account)
        assert response.status == expected, payload
    return json.loads(payload)["token"]


async def test_behind_the_proxy_https_is_enforced_and_loopback_still_serves(make_deployment):
    dep = make_deployment(IM_HTTPS=1, IM_ALLOWED_HOSTS="chat.example.org",
                          SECRET_KEY=secrets.token_urlsafe(50))
    server = OperatorServer.launch(dep.env)
    dep.servers.append(server)

    # Plain HTTP that did not come through the proxy is sent to HTTPS...
    plain = await get(server, "/api/gateway/")
    assert plain.status == 301
    assert plain.getheader("Location") == "https://chat.example.org/api/gateway/"
    # ...except health probes, which call the node directly.
    probe = await get(server, "/api/health/")
    assert probe.status == 200 and probe.getheader("Strict-Transport-Security") is None

    # Through the proxy: HSTS, and cookies that only travel over HTTPS.
    proxied = await get(server, "/api/health/", HTTPS)
    assert proxied.status == 200
    assert proxied.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    login_page = await get(server, "/admin/login/", HTTPS)
    assert login_page.status == 200
    assert "; Secure" in login_page.getheader("Set-Cookie")

    # WebSocket and TCP pass no redirect: both work on plain loopback.
    token = await token_through_the_proxy(server)
    for transport in ("tcp", "ws"):
        client = await connect(server, transport)
        assert (await client.auth(token))["type"] == "auth_ok"
        await client.close()
    # Behind a proxy the gateway should name the proxy: imserver says to set it.
    assert any("IM_PUBLIC_WS_URL" in line for line in server.stderr().splitlines())
