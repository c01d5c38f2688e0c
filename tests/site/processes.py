"""manage.py commands as the operator runs them: any listen address, stderr kept."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from devtools.processes import start_imserver
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
        try:
            proc, ready = start_imserver(env, host=host, stderr=stderr, timeout=timeout)
        except RuntimeError:
            raise RuntimeError(f"imserver did not start: {Path(stderr.name).read_text()}")
        finally:
            stderr.close()
        server = cls(proc, _dialable(ready["http"]), _dialable(ready["tcp"]), env)
        server.stderr_path = Path(stderr.name)
        return server

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
