"""`imserver --workers N`: one supervising process and N worker processes.

Each worker is a whole imserver (`manage.py imserver --worker I`, same host and
ports) and a node of the cluster; the workers share the listening ports
(realtime/transport/shared_ports.py), and the router carries messages between them.
The supervisor serves nothing itself and touches no database: it starts the workers,
says `imserver ready` once all of them are, passes SIGTERM and SIGINT on (each worker
drains as a lone node would), and exits once every worker has stopped. Until then it
keeps N workers running: a worker that dies (a crash, SIGKILL) is started again after
a backoff; one that stopped cleanly on its own (drained by `imcluster drain`, or a
SIGTERM sent to it alone) is started again at once, on the code now on disk: a
rolling restart of one machine's workers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

# What a worker prints when it serves (the supervisor's own line is `imserver ready`).
WORKER_READY = "imserver worker ready"
# A worker that dies is started again after this, doubling up to the maximum; one that
# ran this long before dying starts the backoff afresh.
RESTART_INITIAL_S = 1.0
RESTART_MAX_S = 30.0
STABLE_S = 30.0
POLL_S = 0.1
# On top of IM_DRAIN_S: how long a stopping worker may take before it is killed.
STOP_GRACE_S = 20.0


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen | None = None
    started: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    backoff_s: float = RESTART_INITIAL_S
    restart_at: float | None = None


class Supervisor:
    def __init__(self, *, command: Callable[[int], list[str]], count: int, cwd: str,
                 drain_s: float, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> None:
        self.command = command  # worker index -> its argv
        self.workers = [Worker(i) for i in range(count)]
        self.cwd = cwd
        self.drain_s = drain_s
        self.out = out
        self.err = err
        self._stop_signal: int | None = None
        self._forwarded: int | None = None

    def say(self, text: str) -> None:
        self.err.write(f"imserver: {text}\n")
        self.err.flush()

    def run(self, on_ready: Callable[[], None]) -> int:
        """Serve until SIGTERM or SIGINT; the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._request_stop)
        for worker in self.workers:
            self._start(worker)
        announced = False
        while self._stop_signal is None:
            time.sleep(POLL_S)
            now = time.monotonic()
            for worker in self.workers:
                if worker.proc is not None and worker.proc.poll() is not None:
                    if not announced:
                        self.say(f"worker {worker.index} exited with {worker.proc.returncode} "
                                 "before the server was ready; stopping")
                        self._stop_signal = signal.SIGTERM
                        self._stop_all()
                        return 1
                    self._schedule_restart(worker, now)
                elif worker.proc is None and worker.restart_at is not None \
                        and now >= worker.restart_at:
                    self._start(worker)
            if not announced and all(w.ready.is_set() for w in self.workers):
                announced = True
                on_ready()
        return self._stop_all()

    def _request_stop(self, signum, frame) -> None:
        self._stop_signal = signum

    def _start(self, worker: Worker) -> None:
        worker.ready = threading.Event()
        worker.restart_at = None
        worker.started = time.monotonic()
        worker.proc = subprocess.Popen(self.command(worker.index), cwd=self.cwd,
                                       stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._relay, args=(worker, worker.proc), daemon=True,
                         name=f"worker-{worker.index}-out").start()

    def _relay(self, worker: Worker, proc: subprocess.Popen) -> None:
        """Pass the worker's output on; notice its ready line."""
        for line in proc.stdout:
            if line.startswith(WORKER_READY):
                worker.ready.set()
            self.out.write(line)
            self.out.flush()

    def _schedule_restart(self, worker: Worker, now: float) -> None:
        code = worker.proc.returncode
        worker.proc = None
        if code == 0:  # drained and stopped on request
            worker.backoff_s = RESTART_INITIAL_S
            worker.restart_at = now
            self.say(f"worker {worker.index} stopped; starting it again")
            return
        if now - worker.started >= STABLE_S:
            worker.backoff_s = RESTART_INITIAL_S
        worker.restart_at = now + worker.backoff_s
        self.say(f"worker {worker.index} exited with {code}; restarting it in "
                 f"{worker.backoff_s:g} s")
        worker.backoff_s = min(RESTART_MAX_S, worker.backoff_s * 2)

    def _stop_all(self) -> int:
        """Pass the stop signal on (again, if another comes) and wait for every worker."""
        live = [w.proc for w in self.workers if w.proc is not None]
        deadline = time.monotonic() + self.drain_s + STOP_GRACE_S
        while True:
            sig = self._stop_signal
            if sig != self._forwarded:
                self._forwarded = sig
                for proc in live:
                    if proc.poll() is None:
                        proc.send_signal(sig)
            if all(proc.poll() is not None for proc in live):
                break
            if time.monotonic() > deadline:
                self.say("workers still running past the drain time; killing them")
                for proc in live:
                    if proc.poll() is None:
                        proc.kill()
                for proc in live:
                    proc.wait()
                return 1
            time.sleep(POLL_S)
        failed = [p.returncode for p in live if p.returncode != 0]
        if failed:
            self.say(f"workers exited with {failed}")
        return 1 if failed else 0
