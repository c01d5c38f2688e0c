"""Real Celery workers and a restartable private Redis broker for the tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

from devtools.processes import start_redis
from tests.support.servers import PYTHON, ROOT, free_port


class Broker:
    """A private redis-server used as the Celery broker; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="im-broker-")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis(self.port, self.dir)

    def stop(self) -> None:
        """Gone with everything it held (no persistence): a lost queue."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """`celery -A imsite worker` in its own process group."""

    def __init__(self, env: dict, concurrency: int = 2, pool: str = "prefork") -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "imsite", "worker", "-l", "WARNING",
             "-c", str(concurrency), "--pool", pool, "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"w{free_port()}@%h"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=None,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: nothing gets to clean up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
