"""IM_LOG_FORMAT=json: every line a JSON object with the id of its work; no message
body and no token in any line."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

import pytest

from devtools.processes import start_imserver, stop_process
from tests.support.clients import connect, make_user
from tests.support.servers import ImServer

pytestmark = pytest.mark.server


async def test_json_lines_carry_their_connection_and_never_a_body_or_token(
        make_deployment, tmp_path):
    dep = make_deployment()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log_file:
        proc, ready = start_imserver(
            dep.env | {"IM_LOG_FORMAT": "json", "IM_LOG_LEVEL": "DEBUG"}, stderr=log_file)
    server = ImServer(proc, ready["http"], ready["tcp"], dep.env)
    try:
        alice, bob = await make_user(server.base_url), await make_user(server.base_url)
        secret_text = f"never-logged-{secrets.token_hex(8)}"
        sender, receiver = await connect(server, "tcp"), await connect(server, "ws")
        await sender.auth(alice.token)
        await receiver.auth(bob.token)
        await sender.send_text(text=secret_text, to=bob.id)
        await sender.acks(1)
        assert (await receiver.expect("text"))["body"]["text"] == secret_text
        await sender.close()
        await receiver.close()
        request = urllib.request.Request(server.base_url + "/api/health/",
                                         headers={"X-Request-ID": "probe-1"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["X-Request-ID"] == "probe-1"
        missing = urllib.request.Request(server.base_url + "/api/no-such-thing/",
                                         headers={"X-Request-ID": "probe-2"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(missing, timeout=10)
        assert answer.value.code == 404 and answer.value.headers["X-Request-ID"] == "probe-2"
    finally:
        assert stop_process(server.proc) == 0
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "ctx", "msg"} <= set(line) for line in lines)
    authenticated = [line for line in lines if line["msg"].startswith("authenticated user")]
    assert len(authenticated) == 2
    assert all(line["ctx"].startswith("c") for line in authenticated)
    assert len({line["ctx"] for line in authenticated}) == 2  # one id per connection
    # Django's own line about the 404 carries the request's id.
    assert any(line["ctx"] == "rprobe-2" and line["logger"] == "django.request"
               for line in lines), [line for line in lines if line["logger"] == "django.request"]
    assert secret_text not in text
    assert alice.token not in text and bob.token not in text
