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
import socket
from collections.abc import Callable
from functools import partial

import daphne.server  # noqa: I001 - must come first: it installs Twisted's asyncio reactor
from channels.layers import get_channel_layer
from daphne.server import Server
from django.conf import settings

from realtime import gateway, runtime
from realtime.config import NodeConfig
from realtime.locator import build_locator
from realtime.node import Node
from realtime.transport.http_guard import GuardedHTTPFactory
from realtime.transport.tcp import start_tcp_server
from realtime.transport.ws_protocol import SCOPE_KEY, Inbox, configure_factory

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
        http_socket: socket.socket | None = None,
        tcp_socket: socket.socket | None = None,
        own_http_socket: socket.socket | None = None,
        own_tcp_socket: socket.socket | None = None,
        worker: int | None = None,
        private_endpoints: tuple[str, ...] = (),
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
        # `imserver --workers N`: this process is worker `worker`, listening on sockets
        # it shares with the other workers (realtime/transport/shared_ports.py).
        self.http_socket = http_socket
        self.tcp_socket = tcp_socket
        # Worker i > 0 also listens on the given ports plus i, its own: those are its
        # public addresses in the ring (worker 0's are the given ports themselves).
        self.own_http_socket = own_http_socket
        self.own_tcp_socket = own_tcp_socket
        self._own_http_port = None
        self._own_http_address: tuple[str, int] | None = None
        self.own_tcp_server: asyncio.Server | None = None
        self.worker = worker
        self.private_endpoints = list(private_endpoints)  # this worker's own HTTP port
        self._shared_http_port = None
        self._shared_http_address: tuple[str, int] | None = None
        self.tcp_server: asyncio.Server | None = None
        self.node: Node | None = None
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
        if link is None:
            return super().create_application(protocol, scope)
        # A WebSocket: Daphne's own steps, with the link in the scope and a light input
        # queue (ws_protocol.Inbox) in place of an asyncio.Queue per connection.
        assert "application_instance" not in self.connections[protocol]
        inbox = Inbox()
        scope = {**scope, SCOPE_KEY: link}
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(scope=scope, receive=inbox.get,
                                    send=partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return inbox

    def run(self) -> None:
        from twisted.internet import reactor

        if self.http_socket is not None:
            # Daphne listens on endpoint strings, and Twisted's string for an adopted
            # socket takes IPv4 only: the shared socket is adopted here instead, and
            # Daphne listens on this worker's own port, if it has one.
            self.endpoints = self.private_endpoints
            reactor.callWhenRunning(self._adopt_http_socket)
        reactor.callWhenRunning(lambda: asyncio.ensure_future(self._start_extras()))
        super().run()

    def _adopt_http_socket(self) -> None:
        self._shared_http_port = self._adopt(self.http_socket)
        host = self._shared_http_port.getHost()
        self._shared_http_address = (host.host, host.port)
        if self.own_http_socket is not None:
            self._own_http_port = self._adopt(self.own_http_socket)
            host = self._own_http_port.getHost()
            self._own_http_address = (host.host, host.port)

    def _adopt(self, sock: socket.socket):
        from twisted.internet import reactor

        sock.setblocking(False)
        port = reactor.adoptStreamPort(sock.fileno(), sock.family, self.http_factory)
        sock.close()  # Twisted listens on its own duplicate of the descriptor
        self.listen_success(port)
        return port

    async def _start_extras(self) -> None:
        try:
            tcp_address = None
            if self.tcp_port is not None:
                self.tcp_server = await start_tcp_server(self.tcp_host, self.tcp_port,
                                                         sock=self.tcp_socket)
                tcp_address = self.tcp_server.sockets[0].getsockname()[:2]
                if self.own_tcp_socket is not None:
                    self.own_tcp_server = await start_tcp_server(
                        self.tcp_host, self.tcp_port, sock=self.own_tcp_socket)
                    tcp_address = self.own_tcp_server.sockets[0].getsockname()[:2]
            while not self.listening_addresses:
                await asyncio.sleep(0.01)  # Daphne's own listen is a Twisted deferred
            # A worker's public address is its own port (worker 0: the shared one).
            http_address = (self._own_http_address or self._shared_http_address
                            or self.listening_addresses[0])
            self.node = await self._build_node(http_address)
            await self.node.start(ws=gateway.public_ws_url(http_address),
                                  tcp=gateway.public_tcp(tcp_address))
            self.node.on_drain_requested = lambda: asyncio.ensure_future(self.graceful_stop())
            runtime.install(self.node)
            log.info("node %s started", self.node.node_id)
        except Exception:
            log.exception("the server could not start")
            self.stop()
            return
        if self.graceful_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.graceful_stop()))
        if self.on_ready is not None:
            self.on_ready(http_address, tcp_address)

    async def _build_node(self, http_address: tuple[str, int]) -> Node:
        config = NodeConfig.from_settings(settings)
        return await Node.build(
            node_id=gateway.node_id(http_address, worker=self.worker), config=config,
            layer=get_channel_layer(),
            locator=build_locator(config.redis_url, config.redis_prefix),
            registry=runtime.build_registry(config.redis_url, config.redis_prefix),
        )

    async def graceful_stop(self) -> None:
        """Drain: leave the ring, send every connection to its next node, stop."""
        if self._stopping:
            return
        self._stopping = True
        log.info("stopping: draining this node")
        for server in (self.tcp_server, self.own_tcp_server):
            if server is not None:
                server.close()
        if self._own_http_port is not None:
            self._own_http_port.stopListening()
        if self._shared_http_port is not None:
            # The port stays open in the other workers: a client told to reconnect
            # lands on one of them, never back on this draining node.
            self._shared_http_port.stopListening()
        if self.node is not None:
            try:
                await self.node.drain()
            except Exception:
                log.exception("draining failed; stopping anyway")
                await self.node.shutdown()
        self.stop()
