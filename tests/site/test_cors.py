"""CORS (docs/protocol.md, Web client): only the origins in IM_CORS_ORIGINS may call /api/
from a browser; none by default."""

from __future__ import annotations

import asyncio
import os
import tempfile
import urllib.error
import urllib.request

import pytest

from tests.site.processes import manage

pytestmark = pytest.mark.server

ALLOWED = "https://app.example.com"


def call(base_url: str, method: str, path: str, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(base_url + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


async def acall(*args) -> tuple[int, dict]:
    return await asyncio.to_thread(call, *args)


async def test_only_listed_origins_get_cors_headers(make_deployment):
    server = make_deployment(IM_CORS_ORIGINS=f"{ALLOWED}, http://localhost:5173").start_server()

    status, headers = await acall(server.base_url, "GET", "/api/health/", {"Origin": ALLOWED})
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in headers["vary"]
    assert "access-control-allow-credentials" not in headers

    # A preflight for an authenticated JSON POST is answered at once.
    status, headers = await acall(server.base_url, "OPTIONS", "/api/groups/", {
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in headers["access-control-allow-methods"]
    assert "Authorization" in headers["access-control-allow-headers"]

    # An answer that is an error carries the header too (the page can read why).
    status, headers = await acall(server.base_url, "GET", "/api/users/me/", {"Origin": ALLOWED})
    assert status == 401 and headers["access-control-allow-origin"] == ALLOWED

    for origin in ("https://evil.example.com", "https://app.example.com.evil.net", "null"):
        status, headers = await acall(server.base_url, "GET", "/api/health/", {"Origin": origin})
        assert status == 200 and "access-control-allow-origin" not in headers
        status, headers = await acall(server.base_url, "OPTIONS", "/api/groups/", {
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in headers

    # Not the API: the page and the admin get no CORS header from this.
    status, headers = await acall(server.base_url, "GET", "/", {"Origin": ALLOWED})
    assert status == 200 and "access-control-allow-origin" not in headers


async def test_no_origin_is_allowed_by_default(make_deployment):
    server = make_deployment().start_server()
    status, headers = await acall(server.base_url, "GET", "/api/health/", {"Origin": ALLOWED})
    assert status == 200 and "access-control-allow-origin" not in headers


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/path",
                                   "ftp://app.example.com", "https://user@app.example.com",
                                   "https://app.example.com:99999"])
def test_a_bad_origin_stops_start_up(value):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "DATABASE_URL"))}
    env.update(IM_DATA_DIR=tempfile.mkdtemp(prefix="im-settings-"), IM_CORS_ORIGINS=value)
    result = manage(env, "check")
    assert result.returncode != 0
    assert "IM_CORS_ORIGINS must be origins like https://app.example.com" in result.stderr
