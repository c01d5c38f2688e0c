"""Debug pages: only on loopback, and never with a service password in them."""

from __future__ import annotations

import pytest

from tests.site.processes import OperatorServer, manage
from tests.support.servers import free_port

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
