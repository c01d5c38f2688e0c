"""Run schemathesis against a live imserver: the users, image and token it needs, and
the `st run` command line (used by test_schemathesis.py and `make fuzz`)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.media.helpers import png, upload
from tests.support.clients import http
from tests.support.servers import ROOT

CONFIG = Path(__file__).with_name("schemathesis.toml")
PASSWORD = "correct horse battery staple"
SEED = 20261129


def _account(base_url: str, username: str) -> tuple[int, str]:
    status, body = http(base_url, "POST", "/api/auth/register/",
                        {"username": username, "password": PASSWORD})
    assert status == 201, body
    status, body = http(base_url, "POST", "/api/auth/login/",
                        {"username": username, "password": PASSWORD})
    assert status == 200, body
    return body["user"]["id"], body["token"]


def prepare(base_url: str) -> dict[str, str]:
    """The run's user (with a token and an uploaded image) and a few other users."""
    username = f"fuzzer{secrets.token_hex(4)}"
    user_id, token = _account(base_url, username)
    others = [_account(base_url, f"fuzzpeer{secrets.token_hex(4)}")[0] for _ in range(3)]
    reply = upload(base_url, token, png(), "avatar.png")
    assert reply.status == 201, reply.body
    return {
        "IM_FUZZ_BASE_URL": base_url,
        "IM_FUZZ_USERNAME": username,
        "IM_FUZZ_PASSWORD": PASSWORD,
        "IM_FUZZ_TOKEN": token,
        "IM_FUZZ_USER_IDS": ",".join(map(str, [user_id, *others])),
        "IM_FUZZ_AVATAR": reply.json()["id"],
    }


def run_schemathesis(base_url: str, env: dict[str, str], *, max_examples: int,
                     seed: int = SEED, timeout: float = 600) -> subprocess.CompletedProcess:
    """`st run` with every check on, a fixed seed and an example budget per operation."""
    command = [
        str(Path(sys.executable).with_name("st")), "--config-file", str(CONFIG), "--no-color",
        "run", f"{base_url}/api/schema/",
        "--seed", str(seed), "--max-examples", str(max_examples), "--workers", "1",
    ]
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True, text=True, timeout=timeout,
    )
