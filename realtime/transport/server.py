"""HTTP, WebSocket and TCP in one process, on one event loop.

Daphne runs Twisted on an asyncio loop (`daphne.server.twisted_loop`); once that
reactor runs, the TCP listener is started on the same loop, so the whole server is
one process with no external service. SIGTERM and SIGINT stop it gracefully: every
client is told `offline`/`shutdown` before the loop ends.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import daphne.server  # noqa: I001 - must come first: it installs Twisted's asyncio reactor
from daphne.server import Server
from django.conf import settings

from improto.vocabulary import SHUTDOWN
from realtime import gateway
from realtime.node import current_node, get_node
from realtime.transport.http_guard import GuardedHTTPFactory
from realtime.transport.tcp import start_tcp_server
from realtime.transport.ws_protocol import SCOPE_KEY, configure_factory

log = logging.getLogger(__name__)

twisted_loop = daphne.server.twisted_loop


class ImServer(Server):
    def __init__(
        self,
        *args,
        tcp_host: str | None = None,
        tcp_port: int | None = None,
        on_ready: Callable[[tuple[str, int], tuple[str, int] | None], None] | None = None,
        graceful_signals: bool = False,
        **kwargs,
    ) -> None:
        # Autobahn applies these to both directions: they bound what the server
        # sends (a frame larger than IM_OUTBOUND_BYTES would cut the reader anyway).
        # What a client may send is IM_MAX_FRAME_BYTES (ws_protocol.py checks it).
        kwargs["websocket_max_message_size"] = settings.IM_OUTBOUND_BYTES
        kwargs["websocket_max_frame_size"] = settings.IM_OUTBOUND_BYTES
        super().__init__(*args, **kwargs)
        self.tcp_host = tcp_host
        self.tcp_port = tcp_port
        self.on_ready = on_ready
        self.graceful_signals = graceful_signals
        self.tcp_server: asyncio.Server | None = None
        self._stopping = False

    # Daphne's run() builds its HTTP factory and assigns it here, before the server
    # listens: ours takes its place. It refuses an oversized request body before any
    # of it is buffered, puts a deadline on request heads and caps connections per
    # client address.
    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory) -> None:
        self._http_factory = GuardedHTTPFactory(self)

    # Daphne's run() builds its WebSocket factory and assigns it here: the factory is
    # configured as it arrives, before the server listens.
    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory) -> None:
        configure_factory(factory)
        self._ws_factory = factory

    def create_application(self, protocol, scope):
        link = getattr(protocol, "link", None)
        if link is not None:
            scope = {**scope, SCOPE_KEY: link}
        return super().create_application(protocol, scope)

    def run(self) -> None:
        from twisted.internet import reactor

        reactor.callWhenRunning(lambda: asyncio.ensure_future(self._start_extras()))
        super().run()

    async def _start_extras(self) -> None:
        try:
            await get_node()
            tcp_address = None
            if self.tcp_port is not None:
                self.tcp_server = await start_tcp_server(self.tcp_host, self.tcp_port)
                tcp_address = self.tcp_server.sockets[0].getsockname()[:2]
            while not self.listening_addresses:
                await asyncio.sleep(0.01)  # Daphne's own listen is a Twisted deferred
            http_address = self.listening_addresses[0]
        except Exception:
            log.exception("the server could not start")
            self.stop()
            return
        gateway.set_addresses(http=http_address, tcp=tcp_address)
        if self.graceful_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.graceful_stop()))
        if self.on_ready is not None:
            self.on_ready(http_address, tcp_address)

    async def graceful_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        log.info("stopping: telling every connection offline/shutdown")
        if self.tcp_server is not None:
            self.tcp_server.close()
        node = current_node()
        if node is not None:
            await node.shutdown(SHUTDOWN)
        self.stop()
