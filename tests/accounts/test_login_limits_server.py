"""Failed logins are limited per address and per username, against a real server.

Only failures count: logging in with the right password never uses up an account's
budget (that let anyone lock a user out by logging in as them). The counters live in
the cache, shared by every node through Redis, and a burst of parallel guesses gets
no more than the limit.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.error
import urllib.request

import pytest

from tests.support.clients import http

PASSWORD = "correct horse battery staple"


def login(server, username: str, password: str = PASSWORD, *, via: str | None = None):
    """(status, body, Retry-After) of one login; `via` is the X-Forwarded-For address."""
    data = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(server.base_url + "/api/auth/login/", data=data,
                                     method="POST")
    request.add_header("Content-Type", "application/json")
    if via:
        request.add_header("X-Forwarded-For", via)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Retry-After")


def register(server) -> str:
    username = f"lim{secrets.token_hex(4)}"
    status, body = http(server.base_url, "POST", "/api/auth/register/",
                        {"username": username, "password": PASSWORD})
    assert status == 201, body
    return username


@pytest.fixture(scope="module")
def limited(deployment_factory_module):
    dep = deployment_factory_module(
        IM_LOGIN_RATE_USER="3/min", IM_LOGIN_RATE_IP="6/min", IM_NUM_PROXIES=1
    )
    return dep.start_server()


def test_successful_logins_do_not_count(limited):
    alice = register(limited)

    statuses = [login(limited, alice, via="10.0.0.1")[0] for _ in range(8)]

    assert statuses == [200] * 8


def test_failures_per_username_from_any_address(limited):
    alice = register(limited)
    for i in range(3):
        assert login(limited, alice, "wrong password", via=f"10.1.0.{i}")[0] == 400

    status, body, retry_after = login(limited, alice, via="10.1.0.99")

    assert status == 429
    assert "detail" in body
    assert 1 <= int(retry_after) <= 120
    assert login(limited, alice.upper(), via="10.1.0.98")[0] == 429  # same name
    assert login(limited, register(limited), via="10.1.0.97")[0] == 200


def test_failures_per_address_across_usernames(limited):
    for i in range(6):
        assert login(limited, f"nobody{i}", via="10.2.0.1")[0] == 400

    assert login(limited, register(limited), via="10.2.0.1")[0] == 429
    assert login(limited, register(limited), via="10.2.0.2")[0] == 200


def test_a_success_does_not_refill_an_address(limited):
    alice = register(limited)
    for i in range(5):
        assert login(limited, f"ghost{i}", via="10.3.0.1")[0] == 400
    assert login(limited, alice, via="10.3.0.1")[0] == 200

    assert login(limited, "ghost9", via="10.3.0.1")[0] == 400
    assert login(limited, alice, via="10.3.0.1")[0] == 429


async def test_parallel_guesses_get_no_more_than_the_limit(limited):
    alice = register(limited)

    results = await asyncio.gather(*[
        asyncio.to_thread(login, limited, alice, f"guess {i}", via=f"10.4.{i}.1")
        for i in range(24)
    ])

    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(400) <= 3
    assert set(statuses) <= {400, 429}


def test_nodes_share_the_counters(make_deployment):
    dep = make_deployment(redis=True, IM_LOGIN_RATE_USER="2/min")
    first, second = dep.start_server(), dep.start_server()
    alice = register(first)

    assert login(first, alice, "wrong password")[0] == 400
    assert login(second, alice, "wrong password")[0] == 400

    assert login(first, alice)[0] == 429
    assert login(second, alice)[0] == 429
