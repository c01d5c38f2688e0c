"""python manage.py imserver --host H --http-port P --tcp-port Q [--workers N]"""

from __future__ import annotations

import argparse
import ctypes
import gc
import logging
import os
import signal
import sys

from daphne.endpoints import build_endpoint_description_strings
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

import realtime.transport.server  # noqa: F401, I001 - installs Twisted's asyncio reactor first
from realtime.management.start_checks import refuse_debug_beyond_loopback, start_warnings
from realtime.signals import server_started
from realtime.supervisor import WORKER_READY, Supervisor
from realtime.transport import shared_ports
from realtime.transport.server import ImServer
from realtime.transport.tcp import LISTEN_BACKLOG


class Command(BaseCommand):
    help = "Serve HTTP, WebSocket (/ws/) and TCP in one process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--http-port", type=int, default=8000)
        parser.add_argument("--tcp-port", type=int, default=9000)
        parser.add_argument("--no-tcp", action="store_true", help="do not open the TCP port")
        parser.add_argument(
            "--workers", type=int, default=None,
            help="run N node processes sharing the ports (default IM_WORKERS, 1); more "
                 "than one needs IM_REDIS_URL and a database other than SQLite",
        )
        # Internal: this process is worker I of a supervisor (realtime/supervisor.py).
        parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args, host: str, http_port: int, tcp_port: int, no_tcp: bool,
               workers: int | None, worker: int | None, **options):
        refuse_debug_beyond_loopback(host)
        count = settings.IM_WORKERS if workers is None else workers
        if worker is None:
            for warning in start_warnings(host):
                self.stderr.write(f"imserver: warning: {warning}")
            if count < 1:
                raise CommandError(f"--workers must be at least 1, got {count}")
            if count > 1:
                self._supervise(count, host, http_port, None if no_tcp else tcp_port)
            self._serve(host, http_port, None if no_tcp else tcp_port)
        else:
            self._serve_as_worker(worker, host, http_port, None if no_tcp else tcp_port)

    def _supervise(self, count: int, host: str, http_port: int, tcp_port: int | None):
        refuse_workers_without_cluster(count)
        try:
            # The given ports, shared by every worker, and each plus i for worker i.
            https = shared_ports.reserve_run(host, http_port, count)
            tcps = shared_ports.reserve_run(host, tcp_port, count) if tcp_port is not None else None
        except OSError as error:
            raise CommandError(f"cannot listen on {host}: {error}") from None
        http_address = https[0].getsockname()[:2]
        tcp = tcps[0] if tcps else None
        tcp_address = tcp.getsockname()[:2] if tcp is not None else None
        manage = str(settings.BASE_DIR / "manage.py")

        def command(index: int) -> list[str]:
            ports = ["--tcp-port", str(tcp_address[1])] if tcp else ["--no-tcp"]
            return [sys.executable, manage, "imserver", "--host", host,
                    "--http-port", str(http_address[1]), *ports, "--worker", str(index)]

        def ready() -> None:
            tcp_field = f" tcp={tcp_address[0]}:{tcp_address[1]}" if tcp_address else ""
            print(f"imserver ready http={http_address[0]}:{http_address[1]}{tcp_field} "
                  f"workers={count}", flush=True)

        supervisor = Supervisor(command=command, count=count, cwd=str(settings.BASE_DIR),
                                drain_s=settings.IM_DRAIN_S)
        code = supervisor.run(ready)
        sys.stdout.flush()
        os._exit(code)

    def _serve_as_worker(self, index: int, host: str, http_port: int, tcp_port: int | None):
        stop_with_supervisor()
        http_socket = shared_ports.listen(host, http_port, LISTEN_BACKLOG)
        tcp_socket = (shared_ports.listen(host, tcp_port, LISTEN_BACKLOG)
                      if tcp_port is not None else None)
        own = {}
        if index > 0:  # worker i also on the given ports plus i, its public addresses
            own["own_http_socket"] = shared_ports.listen(host, http_port + index, LISTEN_BACKLOG)
            if tcp_port is not None:
                own["own_tcp_socket"] = shared_ports.listen(host, tcp_port + index,
                                                            LISTEN_BACKLOG)

        def ready(http_address, tcp_address) -> None:
            server_started.send(None)
            print(f"{WORKER_READY} index={index} pid={os.getpid()}", flush=True)

        private = ()
        if settings.IM_WORKER_HTTP_PORT:
            private = tuple(
                f"{endpoint}:backlog={LISTEN_BACKLOG}" for endpoint in
                build_endpoint_description_strings(host=host,
                                                   port=settings.IM_WORKER_HTTP_PORT + index))
        self._serve(host, http_port, tcp_port, ready=ready, worker=index,
                    http_socket=http_socket, tcp_socket=tcp_socket, private_endpoints=private,
                    **own)

    def _serve(self, host: str, http_port: int, tcp_port: int | None, *, ready=None,
               **shared) -> None:
        # The site's ASGI application, named by the settings (the site imports realtime's
        # WebSocket adapter; realtime does not import the site).
        application = import_string(settings.ASGI_APPLICATION)

        def announce(http_address, tcp_address) -> None:
            tcp = f" tcp={tcp_address[0]}:{tcp_address[1]}" if tcp_address else ""
            server_started.send(None)
            # One line for people and for scripts that wait for the server.
            print(f"imserver ready http={http_address[0]}:{http_address[1]}{tcp}", flush=True)

        server = ImServer(
            application=application,
            endpoints=[
                f"{endpoint}:backlog={LISTEN_BACKLOG}"
                for endpoint in build_endpoint_description_strings(host=host, port=http_port)
            ],
            signal_handlers=False,
            graceful_signals=True,
            tcp_host=None if tcp_port is None else host,
            tcp_port=tcp_port,
            on_ready=ready or announce,
            websocket_timeout=-1,
            application_close_timeout=5,
            verbosity=0,
            **shared,
        )
        # Everything loaded at start-up lives as long as the process: keep it out of
        # the collector's way, and collect less often, so that 10,000 connections'
        # objects do not stall the loop for a second at a time.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        server.run()
        # Everything is stored and every client told by now. Skip the interpreter's
        # teardown: collecting Twisted's and asyncio's leftovers can crash it.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


def refuse_workers_without_cluster(count: int) -> None:
    """Workers are nodes of one cluster: they need a router and a shared database."""
    sqlite = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    if sqlite or not settings.IM_REDIS_URL:
        missing = " and ".join(
            ([] if settings.IM_REDIS_URL else ["IM_REDIS_URL (the router between processes)"])
            + (["DATABASE_URL (PostgreSQL; SQLite has one writer)"] if sqlite else []))
        raise CommandError(
            f"--workers {count}: with the embedded defaults one process is the limit. "
            f"Several workers are nodes of one cluster and need {missing}; "
            "or run one process (--workers 1)"
        )
    if not shared_ports.AVAILABLE:
        raise CommandError(f"--workers {count}: this platform has no SO_REUSEPORT to share "
                           "the ports; run one imserver per port instead (docs/cluster.md)")


def stop_with_supervisor() -> None:
    """A worker stops (drains) when its supervisor dies, whatever killed it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor died before that took effect
        os.kill(os.getpid(), signal.SIGTERM)
