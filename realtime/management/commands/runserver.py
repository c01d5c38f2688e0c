"""Daphne's development server, plus the TCP listener on the same loop (unless --no-tcp)."""

from __future__ import annotations

import functools

from daphne.management.commands.runserver import Command as DaphneRunserver

from realtime.management.start_checks import refuse_debug_beyond_loopback, start_warnings
from realtime.transport.server import ImServer


class Command(DaphneRunserver):
    help = "Development server: HTTP and WebSocket through Daphne, and TCP (--tcp-port)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tcp-port", type=int, default=9000)
        parser.add_argument("--no-tcp", action="store_true", help="do not open the TCP port")

    def handle(self, *args, **options):
        tcp_port = None if options["no_tcp"] else options["tcp_port"]
        self.server_cls = functools.partial(ImServer, tcp_host="127.0.0.1", tcp_port=tcp_port)
        return super().handle(*args, **options)

    def run(self, **options):
        # Called once Django has parsed the address, before anything listens.
        host = "0.0.0.0" if self.addr == "0" else self.addr
        refuse_debug_beyond_loopback(host)
        for warning in start_warnings(host):
            self.stderr.write(f"runserver: warning: {warning}")
        return super().run(**options)
