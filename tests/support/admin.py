"""Django admin from a test: a moderator's browser session against a real server."""

from __future__ import annotations

import http.cookiejar
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request

from tests.support.servers import ROOT


class AdminSession:
    """A moderator logged into Django admin with a browser's cookies and CSRF token."""

    def __init__(self, server) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    @classmethod
    def create(cls, server) -> AdminSession:
        name, password = f"mod{secrets.token_hex(4)}", secrets.token_hex(12)
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from accounts.models import User; "
             f"User.objects.create_superuser({name!r}, password={password!r})"],
            cwd=ROOT, env=server.env, check=True, timeout=60,
        )
        session = cls(server)
        session.username = name
        session.post("/admin/login/?next=/admin/", {"username": name, "password": password})
        assert any(c.name == "sessionid" for c in session.jar)
        return session

    def post(self, path: str, fields: dict) -> int:
        self.opener.open(self.server.base_url + path, timeout=10).read()  # CSRF cookie
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        with self.opener.open(self.server.base_url + path, data=body, timeout=10) as response:
            return response.status

    def get(self, path: str) -> str:
        """A page of the admin, as HTML."""
        with self.opener.open(self.server.base_url + path, timeout=10) as response:
            return response.read().decode()

    def ban(self, user_id: int) -> int:
        """The admin's ban action: deactivate, revoke tokens, offline/kicked."""
        return self.post("/admin/accounts/user/",
                         {"action": "ban", "_selected_action": str(user_id)})


def django_shell(server, code: str) -> None:
    """Run Python in the server's Django settings, straight on its database: a change
    that reaches no live connection (no event, no kick), as a lost event would."""
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code],
                   cwd=ROOT, env=server.env, check=True, timeout=60)
