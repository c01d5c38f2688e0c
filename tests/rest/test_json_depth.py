"""Deeply nested JSON is a 400 with a JSON body on every JSON endpoint, never a 500.

Python's json module recurses once per level; past the interpreter's limit it raises
RecursionError, which is not the ValueError DRF's parser turns into a 400.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.clients import make_user


def post_raw(base_url: str, method: str, path: str, body: bytes,
             token: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(base_url + path, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


ENDPOINTS = [
    ("POST", "/api/auth/register/", False),
    ("POST", "/api/auth/login/", False),
    ("PATCH", "/api/users/me/", True),
    ("POST", "/api/groups/", True),
]

BODIES = {
    # Past the C scanner's recursion limit: RecursionError inside json.loads.
    "lists-100k": nested(100_000),
    "objects-100k": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    # Parses, but nests far deeper than any request of the API: refused as well.
    "lists-500": nested(500),
    "inside-a-field": b'{"username":' + nested(50_000) + b',"password":"x"}',
}


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
@pytest.mark.parametrize(("method", "path", "needs_token"), ENDPOINTS,
                         ids=[p for _, p, _ in ENDPOINTS])
async def test_deeply_nested_json_is_a_json_400(server, method, path, needs_token, body):
    token = (await make_user(server.base_url)).token if needs_token else None

    status, content_type, payload = post_raw(server.base_url, method, path, BODIES[body], token)

    assert status == 400, payload[:300]
    assert content_type.startswith("application/json")
    assert "detail" in json.loads(payload)


async def test_ordinary_nesting_still_works(server):
    alice = await make_user(server.base_url, "n")
    body = json.dumps({"name": "nested ok", "members": []}).encode()

    status, _, payload = post_raw(server.base_url, "POST", "/api/groups/", body, alice.token)

    assert status == 201, payload
