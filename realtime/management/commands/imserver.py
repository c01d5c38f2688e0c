"""python manage.py imserver --host H --http-port P --tcp-port Q"""

from __future__ import annotations

import gc
import logging
import os
import sys

from daphne.endpoints import build_endpoint_description_strings
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

import realtime.transport.server  # noqa: F401, I001 - installs Twisted's asyncio reactor first
from realtime.management.start_checks import refuse_debug_beyond_loopback, start_warnings
from realtime.signals import server_started
from realtime.transport.server import ImServer
from realtime.transport.tcp import LISTEN_BACKLOG


class Command(BaseCommand):
    help = "Serve HTTP, WebSocket (/ws/) and TCP in one process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--http-port", type=int, default=8000)
        parser.add_argument("--tcp-port", type=int, default=9000)
        parser.add_argument("--no-tcp", action="store_true", help="do not open the TCP port")

    def handle(self, *args, host: str, http_port: int, tcp_port: int, no_tcp: bool, **options):
        # The site's ASGI application, named by the settings (the site imports realtime's
        # WebSocket adapter; realtime does not import the site).
        application = import_string(settings.ASGI_APPLICATION)

        refuse_debug_beyond_loopback(host)
        for warning in start_warnings(host):
            self.stderr.write(f"imserver: warning: {warning}")

        def ready(http_address, tcp_address) -> None:
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
            tcp_host=None if no_tcp else host,
            tcp_port=None if no_tcp else tcp_port,
            on_ready=ready,
            websocket_timeout=-1,
            application_close_timeout=5,
            verbosity=0,
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
