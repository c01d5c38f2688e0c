"""manage.py commands as the operator runs them: any listen address, stderr kept."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.servers import PYTHON, ROOT, ImServer

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def manage(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)


class OperatorServer(ImServer):
    """imserver on the host a test chooses, with its stderr in a file to read."""

    stderr_path: Path

    @classmethod
    def launch(cls, env: dict, *, host: str = "127.0.0.1", timeout: float = 60) -> OperatorServer:
        stderr = tempfile.NamedTemporaryFile(prefix="imserver-stderr-", delete=False)
        proc = subprocess.Popen(
            [PYTHON, "manage.py", "imserver", "--host", host,
             "--http-port", "0", "--tcp-port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        stderr.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("imserver ready"):
                parts = dict(p.split("=", 1) for p in line.split()[2:])
                server = cls(proc, _dialable(parts["http"]), _dialable(parts["tcp"]), env)
                server.stderr_path = Path(stderr.name)
                return server
        proc.kill()
        raise RuntimeError(f"imserver did not start: {Path(stderr.name).read_text()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, *args, **kwargs) -> int:
        code = super().stop(*args, **kwargs)
        self.stderr_path.unlink(missing_ok=True)
        return code


def _dialable(address: str) -> str:
    host, port = address.rsplit(":", 1)
    host = WILDCARDS.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
