"""Debug pages: only on loopback, and never with a service password in them."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from django.views.debug import ExceptionReporter

from imsite.reporting import mask_url_credentials
from tests.media.helpers import arequest
from tests.site.processes import OperatorServer, manage
from tests.support.clients import make_user
from tests.support.servers import free_port, postgres_base_url

pytestmark = pytest.mark.server


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "chat.example.com"])
def test_imserver_refuses_debug_beyond_loopback(make_deployment, host):
    dep = make_deployment(IM_DEBUG=1)
    result = manage(dep.env, "imserver", "--host", host, "--http-port", "0", "--tcp-port", "0",
                    timeout=60)
    assert result.returncode != 0
    assert result.stdout == ""  # never got as far as listening
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "IM_DEBUG" in lines[0] and host in lines[0], result.stderr


def test_runserver_refuses_debug_beyond_loopback(make_deployment):
    dep = make_deployment(IM_DEBUG=1)
    result = manage(dep.env, "runserver", "--noreload", "--no-tcp", f"0.0.0.0:{free_port()}",
                    timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "IM_DEBUG" in lines[0], result.stderr


def test_debug_on_loopback_still_starts_and_says_so(make_deployment):
    dep = make_deployment(IM_DEBUG=1)
    server = OperatorServer.launch(dep.env, host="127.0.0.1")
    dep.servers.append(server)
    assert "warning: IM_DEBUG is on" in server.stderr()


class PasswordRedis:
    """A redis-server that wants a password, as a production one does."""

    def __init__(self) -> None:
        self.password = f"redis-pw-{secrets.token_hex(8)}"
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="im-redis-pw-")
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                    if b"+PONG" in conn.recv(64):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def url(self, db: int) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def password_redis():
    redis = PasswordRedis()
    yield redis
    redis.stop()


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user_host = rest.split("@", 1)[-1]
    user = rest.split("@", 1)[0].split(":", 1)[0] if "@" in rest else "postgres"
    return f"{scheme}://{user}:{password}@{user_host}"


async def test_a_real_500_with_debug_on_shows_no_service_password(make_deployment, password_redis):
    """Redis going down makes registration fail (its rate limit lives in Redis): a real
    500, answered with Django's debug page since IM_DEBUG is on."""
    dep = make_deployment(IM_DEBUG=1, CELERY_BROKER_URL=password_redis.url(2))
    dep.env["IM_REDIS_URL"] = password_redis.url(1)
    passwords = [password_redis.password]
    if postgres_base_url():  # trust authentication on the test server: any password does
        db_password = f"db-pw-{secrets.token_hex(8)}"
        dep.env["DATABASE_URL"] = _with_password(dep.env["DATABASE_URL"], db_password)
        passwords.append(db_password)
    server = OperatorServer.launch(dep.env)
    dep.servers.append(server)
    await make_user(server.base_url)  # everything works while Redis is up
    await asyncio.to_thread(password_redis.stop)

    register = {"username": f"u{secrets.token_hex(4)}", "password": "a long passphrase"}
    # A browser's Accept gets the HTML page, an API client's the plain-text one.
    for accept, kind in (("*/*", "text/html"), ("application/json", "text/plain")):
        page = await arequest(server.base_url, "POST", "/api/auth/register/",
                              body=json.dumps(register).encode(),
                              content_type="application/json", headers={"Accept": accept})
        assert page.status == 500, page.body[:300]
        assert page.headers["content-type"].startswith(kind)
        text = page.body.decode()
        assert "ConnectionError" in text and "IM_REDIS_URL" in text  # the debug page
        for password in passwords:
            assert password not in text, f"{password} shown ({accept})"
        # The settings are there, with the password masked.
        assert f"redis://:********************@127.0.0.1:{password_redis.port}/1" in text
        assert f"redis://:********************@127.0.0.1:{password_redis.port}/2" in text
    # The server's own log of the failures (the error and its traceback) names none.
    log = server.stderr()
    assert "Internal Server Error: /api/auth/register/" in log
    for password in passwords:
        assert password not in log


def _fail_with(url: str, settings: dict) -> None:
    client = {"url": url, "options": [url]}  # noqa: F841 - the report shows locals
    raise ConnectionError("the service did not answer")


def test_the_report_masks_urls_in_local_variables():
    password = f"amqp-{secrets.token_hex(6)}"  # not in the source the report quotes
    url = f"amqp://im:{password}@broker.internal:5672/im"
    try:
        _fail_with(url, {"BROKER": url})
    except ConnectionError:
        report = ExceptionReporter(None, *sys.exc_info())
        text = report.get_traceback_text()
        html = report.get_traceback_html()
    assert password not in text  # the plain-text page lists no local variables
    assert password not in html
    # The HTML page shows each frame's locals: the string, and the objects holding it.
    assert html.count("amqp://im:********************@broker.internal:5672/im") >= 4


@pytest.mark.parametrize(("shown", "masked"), [
    ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
    ("postgres://user:pw@db/im?sslmode=require", "postgres://user:***@db/im?sslmode=require"),
    # A raw "@" in a password, and a bare token as the user part.
    ("rediss://default:p@ss:w0rd@h:1/2 or https://token@api.example",
     "rediss://default:***@h:1/2 or https://***@api.example"),
    ("redis://h:6379/0 and http://example.com/a@b", "redis://h:6379/0 and http://example.com/a@b"),
])
def test_mask_url_credentials(shown, masked):
    assert mask_url_credentials(shown, "***") == masked
