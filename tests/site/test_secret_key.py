"""Without SECRET_KEY the server signs with a key of its own, never one from the repository."""

from __future__ import annotations

import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured

from imsite.secret_key import FILE_NAME, load_or_create
from media.links import SALT
from tests.media.helpers import arequest, uploaded
from tests.site.processes import OperatorServer, manage
from tests.support.clients import make_user
from tests.support.servers import PYTHON, ROOT

pytestmark = pytest.mark.server

# The key every server without SECRET_KEY used to sign with, there for anyone to read.
REPOSITORY_KEY = "development-only-insecure-key-do-not-use-in-production"
PRINT_KEY = ["shell", "-v", "0", "-c",
             "from django.conf import settings; print(settings.SECRET_KEY)"]


def _link(key: str, media_id: str, user_id: int) -> str:
    signature = signing.TimestampSigner(key=key, salt=f"{SALT}:{media_id}").sign(str(user_id))
    return f"/api/media/{media_id}/?sig={signature}"


async def test_a_media_link_forged_with_a_known_key_is_refused(make_deployment):
    dep = make_deployment()
    server = dep.start_server()
    alice = await make_user(server.base_url)
    media = await uploaded(server.base_url, alice.token, b"%PDF-1.4 private\n", "p.pdf")

    forged = await arequest(server.base_url, "GET", _link(REPOSITORY_KEY, media["id"], alice.id))
    assert forged.status == 403, forged.body
    assert b"private" not in forged.body
    # The server's own key, from its data folder, does sign links that work.
    genuine = await arequest(server.base_url, "GET",
                             _link(server.secret_key, media["id"], alice.id))
    assert genuine.status == 200 and b"private" in genuine.body


async def test_the_generated_key_is_private_and_kept_across_restarts(make_deployment):
    dep = make_deployment()
    key_file = Path(dep.data_dir) / FILE_NAME  # made by the deployment's migrate
    mode = key_file.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600 and stat.S_ISREG(mode)
    key = key_file.read_text().strip()
    assert len(key) >= 50 and key != REPOSITORY_KEY

    first = OperatorServer.launch(dep.env)
    dep.servers.append(first)
    alice = await make_user(first.base_url)
    media = await uploaded(first.base_url, alice.token, b"%PDF-1.4 kept\n", "k.pdf")
    link = await arequest(first.base_url, "GET", f"{media['url']}link/", token=alice.token)
    assert link.status == 200
    first.stop()

    second = OperatorServer.launch(dep.env)
    dep.servers.append(second)
    # Reused on the next start: a link the first run signed still works.
    got = await arequest(second.base_url, "GET", link.json()["url"])
    assert got.status == 200 and b"kept" in got.body
    assert key_file.read_text().strip() == key
    assert manage(dep.env, *PRINT_KEY).stdout.strip() == key
    assert "SECRET_KEY" not in second.stderr()  # one node, no Redis: nothing to warn of


async def test_no_debug_pages_unless_asked_for(make_deployment):
    dep = make_deployment()  # no SECRET_KEY, no IM_DEBUG: what `make run` gets
    server = dep.start_server()
    page = await arequest(server.base_url, "GET", "/no-such-page/",
                          headers={"Accept": "text/html"})
    assert page.status == 404
    assert page.json() == {"detail": "Not found."}  # not Django's debug page with the URLconf

    debug = dep.start_server(IM_DEBUG="1")
    page = await arequest(debug.base_url, "GET", "/no-such-page/",
                          headers={"Accept": "text/html"})
    assert page.status == 404 and b"URLconf" in page.body


def test_processes_starting_at_once_agree_on_one_key():
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"IM_DATA_DIR": data_dir, "PATH": "/usr/bin:/bin"}
        procs = [subprocess.Popen([PYTHON, "manage.py", *PRINT_KEY], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
        keys = {proc.communicate(timeout=120)[0].strip() for proc in procs}
        assert len(keys) == 1 and all(len(k) >= 50 for k in keys)
        assert keys == {(Path(data_dir) / FILE_NAME).read_text().strip()}
        assert [p.name for p in Path(data_dir).iterdir() if "secret" in p.name] == [FILE_NAME]


def test_threads_racing_on_an_empty_folder_get_one_key():
    with tempfile.TemporaryDirectory() as data_dir:
        start = threading.Barrier(16)
        keys = []

        def load() -> None:
            start.wait()
            keys.append(load_or_create(Path(data_dir) / "fresh")[0])

        threads = [threading.Thread(target=load) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(keys) == 16 and len(set(keys)) == 1


def test_a_key_file_others_can_read_stops_start_up():
    with tempfile.TemporaryDirectory() as data_dir:
        key_file = Path(data_dir) / FILE_NAME
        load_or_create(Path(data_dir))
        key_file.chmod(0o644)
        with pytest.raises(ImproperlyConfigured, match="only its owner"):
            load_or_create(Path(data_dir))
        result = manage({"IM_DATA_DIR": data_dir, "PATH": "/usr/bin:/bin"}, "check")
        assert result.returncode != 0
        assert "only its owner can read" in result.stderr.strip().splitlines()[-1]


def test_a_cluster_node_without_secret_key_says_so(make_deployment):
    dep = make_deployment(redis=True)
    env = {k: v for k, v in dep.env.items() if k != "SECRET_KEY"}
    server = OperatorServer.launch(env)
    dep.servers.append(server)
    warning = [line for line in server.stderr().splitlines() if "SECRET_KEY" in line]
    assert len(warning) == 1, server.stderr()
    assert "must share one SECRET_KEY" in warning[0]
    assert str(Path(dep.data_dir) / FILE_NAME) in warning[0]

    with_key = OperatorServer.launch(dep.env)  # the deployment's shared SECRET_KEY
    dep.servers.append(with_key)
    assert "SECRET_KEY" not in with_key.stderr()


async def test_with_nothing_configured_the_admin_and_api_docs_answer(make_deployment):
    """What `make run` gets: DEBUG off, a generated key, and still a working admin and
    API browser (Swagger UI loads its scripts from its CDN, not from this server)."""
    server = make_deployment().start_server()
    for path, kind in (("/admin/login/", "text/html"), ("/api/docs/", "text/html"),
                       ("/api/schema/", "application/vnd.oai.openapi")):
        reply = await arequest(server.base_url, "GET", path)
        assert reply.status == 200, path
        assert reply.headers["content-type"].startswith(kind), path
