"""The OpenAPI document describes what the server really answers.

schemathesis reads GET /api/schema/ from a real imserver and sends it generated
requests, valid and invalid, to every operation (media upload included), with every
check on: no 5xx, no status code, content type, header or body the schema does not
describe, valid requests accepted and invalid ones refused, missing credentials
refused. A fixed seed and a small example budget keep this run short;
`make fuzz` runs the same with many more examples (IM_FUZZ_EXAMPLES).

What the schema cannot express (a free username, a strong password, ids of existing
users, an image of one's own) is supplied by tests/schema/hooks.py for requests
generated as valid; logout gets a fresh token per call there, so nothing is excluded.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.schema import run
from tests.schema.run import prepare, run_schemathesis

EXAMPLES = int(os.environ.get("IM_FUZZ_EXAMPLES", "40"))
SEED = int(os.environ.get("IM_FUZZ_SEED", str(run.SEED)))
# The subprocess's own limit; `make fuzz` raises pytest's timeout along with it.
TIMEOUT_S = float(os.environ.get("IM_FUZZ_TIMEOUT_S", "280"))


@pytest.fixture(scope="module")
def fuzz_server(deployment_factory_module):
    dep = deployment_factory_module(
        # The run registers and logs in thousands of times from one address.
        IM_LOGIN_RATE_USER="1000000/min", IM_LOGIN_RATE_IP="1000000/min",
        IM_REGISTER_RATE_IP="1000000/min",
        # Push targets are not resolved (the run has no DNS to count on).
        IM_PUSH_ALLOW_PRIVATE=1,
    )
    return dep.start_server()


def test_schemathesis_finds_no_error_and_no_contradiction(fuzz_server):
    env = prepare(fuzz_server.base_url)

    result = run_schemathesis(fuzz_server.base_url, env, max_examples=EXAMPLES, seed=SEED,
                              timeout=TIMEOUT_S)

    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-30000:]
    # A run that reached nothing proves nothing: every operation tested, as the user.
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    assert selected and selected.group(1) == selected.group(2), report[-5000:]
    assert re.search(rf"Tested: {selected.group(1)}\b", report), report[-5000:]
    assert "Authentication failed" not in report, report[-5000:]
