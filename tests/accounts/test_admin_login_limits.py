"""The Django admin's login page takes the API's failed-login policy, on a real server.

Before, 40 wrong passwords in under a second were 40 answers of 200. Now failures
count per address and per username, in the same counters as POST /api/auth/login/,
and past the limit the page answers 429 (plain text, or JSON when asked), never 500.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.support.clients import http
from tests.support.servers import ROOT

PASSWORD = "correct horse battery staple"


class AdminLoginPage:
    """A browser on /admin/login/: cookies, the CSRF token, and a client address."""

    def __init__(self, server, via: str | None = None, accept: str | None = None) -> None:
        self.server = server
        self.headers = {}
        if via:
            self.headers["X-Forwarded-For"] = via
        if accept:
            self.headers["Accept"] = accept
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _open(self, data: bytes | None = None):
        request = urllib.request.Request(
            self.server.base_url + "/admin/login/?next=/admin/", data=data, headers=self.headers
        )
        return self.opener.open(request, timeout=20)

    def login(self, username: str, password: str):
        """(status, content type, body, Retry-After, logged in?)."""
        self._open().read()
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        fields = {"username": username, "password": password, "csrfmiddlewaretoken": token,
                  "next": "/admin/"}
        try:
            with self._open(urllib.parse.urlencode(fields).encode()) as response:
                body = response.read()
                logged_in = urllib.parse.urlparse(response.geturl()).path == "/admin/"
                return (response.status, response.headers.get("Content-Type"), body, None,
                        logged_in)
        except urllib.error.HTTPError as error:
            return (error.code, error.headers.get("Content-Type"), error.read(),
                    error.headers.get("Retry-After"), False)


def make_staff(server) -> str:
    name = f"mod{secrets.token_hex(4)}"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from accounts.models import User; "
         f"User.objects.create_superuser({name!r}, password={PASSWORD!r})"],
        cwd=ROOT, env=server.env, check=True, timeout=60,
    )
    return name


@pytest.fixture(scope="module")
def limited(deployment_factory_module):
    dep = deployment_factory_module(
        IM_LOGIN_RATE_USER="3/min", IM_LOGIN_RATE_IP="8/min", IM_NUM_PROXIES=1
    )
    return dep.start_server()


def test_wrong_passwords_are_limited_per_username(limited):
    moderator = make_staff(limited)
    statuses = [
        AdminLoginPage(limited, via=f"10.5.0.{i}").login(moderator, "wrong")[0]
        for i in range(40)
    ]

    assert statuses[:3] == [200] * 3  # the form again, with its error
    assert set(statuses[3:]) == {429}
    status, content_type, body, retry_after, logged_in = AdminLoginPage(
        limited, via="10.5.1.1").login(moderator, PASSWORD)
    assert (status, logged_in) == (429, False)
    assert content_type.startswith("text/plain")
    assert b"Too many failed logins" in body
    assert 1 <= int(retry_after) <= 120


def test_wrong_passwords_are_limited_per_address(limited):
    for i in range(8):
        assert AdminLoginPage(limited, via="10.6.0.1").login(f"ghost{i}", "wrong")[0] == 200

    assert AdminLoginPage(limited, via="10.6.0.1").login(make_staff(limited), PASSWORD)[0] == 429
    assert AdminLoginPage(limited, via="10.6.0.2").login(make_staff(limited), PASSWORD)[4]


def test_successful_admin_logins_do_not_count(limited):
    moderator = make_staff(limited)

    results = [AdminLoginPage(limited, via="10.7.0.1").login(moderator, PASSWORD)
               for _ in range(5)]

    assert [(r[0], r[4]) for r in results] == [(200, True)] * 5


def test_lockout_answers_json_to_a_client_that_asks(limited):
    moderator = make_staff(limited)
    for _ in range(3):
        AdminLoginPage(limited, via="10.8.0.1").login(moderator, "wrong")

    status, content_type, body, retry_after, _ = AdminLoginPage(
        limited, via="10.8.0.2", accept="application/json").login(moderator, PASSWORD)

    assert status == 429
    assert content_type == "application/json"
    assert "detail" in json.loads(body)
    assert int(retry_after) >= 1


def test_the_api_and_the_admin_share_one_budget(limited):
    moderator = make_staff(limited)
    for i in range(2):
        status, _ = http(limited.base_url, "POST", "/api/auth/login/",
                         {"username": moderator, "password": f"wrong {i}"})
        assert status == 400
    assert AdminLoginPage(limited, via="10.9.0.1").login(moderator, "wrong")[0] == 200

    status, _ = http(limited.base_url, "POST", "/api/auth/login/",
                     {"username": moderator, "password": PASSWORD})
    assert status == 429
    assert AdminLoginPage(limited, via="10.9.0.2").login(moderator, PASSWORD)[0] == 429
