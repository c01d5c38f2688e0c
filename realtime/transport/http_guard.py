"""Guards on Daphne's HTTP connections, in force before the application sees a byte.

`GuardedHTTPFactory` (installed by realtime/transport/server.py in place of Daphne's
HTTPFactory) gives every HTTP connection, WebSockets included (they start as HTTP on
the same socket), these limits:

- **Request head deadline** (IM_HTTP_HEAD_TIMEOUT_S): the request line and headers
  must arrive whole within that time, counted from the accept for a new connection
  and from the first byte of the next request on a kept-alive one. Twisted's own
  timeout is an idle timeout, reset by every byte, so a client sending one header line
  every few seconds (slowloris) held its connection forever. Late: a 408 with a JSON
  body, and the connection is closed. A WebSocket's head is complete before its
  handshake is, so an open WebSocket is never cut by this deadline.
- **Idle timeout** (IM_HTTP_IDLE_TIMEOUT_S): Twisted's channel timeout, which closes a
  connection that sends nothing for that long while it is not being answered: between
  keep-alive requests, in a head, in a body. Twisted suspends it while a request is
  being answered and for good once a connection is a WebSocket.
- **Connections per client address** (IM_MAX_CONNS_PER_IP, one count with the TCP
  port: realtime.transport.address_limit). With no trusted proxy the connection is
  counted from its accept to its close under the peer's address, and one over the cap
  is answered 429 (JSON, `Connection: close`) at once, before its request is read.
  Behind IM_NUM_PROXIES proxies the peer is a proxy, so what counts is each request
  being answered, and each WebSocket until it closes, under the forwarded client
  address; a request over the cap is answered 429 before the application sees it.
- **Body size**: media.body_limit.LimitedWebRequest (IM_MAX_UPLOAD_BYTES).

`ConnectionGuard` wraps the connection's protocol (a Twisted ProtocolWrapper, the way
TLS does), so it sees every byte and every close, RST included, also after Daphne
hands the connection to its WebSocket protocol.
"""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.settings import api_settings
from twisted.internet.protocol import Protocol
from twisted.protocols.policies import ProtocolWrapper
from zope.interface import directlyProvides, providedBy

from imsite.forwarding import forwarded_client
from media.body_limit import LimitedHTTPFactory, LimitedWebRequest, answer_and_close, json_answer
from realtime.transport import address_limit

log = logging.getLogger(__name__)


def too_many_connections_answer() -> bytes:
    return json_answer(429, "Too Many Requests", "Too many connections from your address.")


def head_timeout_answer() -> bytes:
    return json_answer(408, "Request Timeout", f"The request head did not arrive within "
                       f"{settings.IM_HTTP_HEAD_TIMEOUT_S} s.")


def _host(address) -> str:
    return str(getattr(address, "host", None) or "unknown")


class ConnectionGuard(ProtocolWrapper):
    """One HTTP connection's address slot and request-head deadline.

    `wrappedProtocol` is Twisted's HTTP channel until Daphne upgrades the connection,
    then Daphne's WebSocket protocol (Daphne swaps it in, as it does under TLS).
    """

    def __init__(self, factory, wrapped, *, count_peer: bool) -> None:
        super().__init__(factory, wrapped)
        self.count_peer = count_peer
        self._held: list[str] = []  # addresses this connection counts against
        self._inner_connected = False
        self._discarding = False  # answered and closing: what arrives is dropped
        self._awaiting_head = True
        self._head_deadline = None

    # --- the connection -------------------------------------------------------------

    def makeConnection(self, transport) -> None:
        # ProtocolWrapper's, without its factory registry (this factory keeps none).
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        if self.count_peer:
            address = _host(transport.getPeer())
            if not address_limit.acquire(address):
                log.debug("refused an HTTP connection from %s: too many", address)
                self._discarding = True
                answer_and_close(transport, too_many_connections_answer())
                return
            self._held.append(address)
        self._start_head_deadline()
        self._inner_connected = True
        self.wrappedProtocol.makeConnection(self)

    def dataReceived(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._awaiting_head and self._head_deadline is None:
            self._start_head_deadline()  # the first byte of a kept-alive connection's next request
        self.wrappedProtocol.dataReceived(data)

    def connectionLost(self, reason) -> None:
        self.connected = 0
        self._cancel_head_deadline()
        for address in self._held:
            address_limit.release(address)
        self._held.clear()
        if self._inner_connected:
            self.wrappedProtocol.connectionLost(reason)
        self.wrappedProtocol = None

    # --- what the requests tell it --------------------------------------------------------

    def head_complete(self) -> None:
        self._awaiting_head = False
        self._cancel_head_deadline()

    def awaiting_head(self) -> None:
        """A request was answered: the next one's head gets its deadline from its first byte."""
        self._awaiting_head = True

    def head_started(self) -> None:
        """Part of the next request's head was already buffered when the last was answered."""
        if self._awaiting_head and self._head_deadline is None and not self._discarding:
            self._start_head_deadline()

    def adopt(self, address: str) -> None:
        """Count this connection against `address` (already acquired) until it closes."""
        self._held.append(address)

    # --- the deadline ------------------------------------------------------------------

    def _start_head_deadline(self) -> None:
        self._head_deadline = self.factory.reactor.callLater(
            settings.IM_HTTP_HEAD_TIMEOUT_S, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            if self._head_deadline.active():
                self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self._awaiting_head or self._discarding or not self.connected:
            return
        log.debug("request head from %s not complete in %s s", _host(self.getPeer()),
                  settings.IM_HTTP_HEAD_TIMEOUT_S)
        self._awaiting_head = False
        self._discarding = True
        answer_and_close(self.transport, head_timeout_answer())


def _guard_of(channel) -> ConnectionGuard | None:
    transport = getattr(channel, "transport", None)
    return transport if isinstance(transport, ConnectionGuard) else None


class GuardedWebRequest(LimitedWebRequest):
    """A request that tells its connection's guard where it is, and, behind proxies,
    counts against its forwarded client address while it is answered."""

    _slot: str | None = None  # the address this request counts against (behind proxies)
    _guard: ConnectionGuard | None = None

    def gotLength(self, length):
        # Twisted calls this once the whole head is in, before it reads any body.
        self._guard = guard = _guard_of(self.channel)
        if guard is not None:
            guard.head_complete()
            if not guard.count_peer:
                address = self._forwarded_client()
                if not address_limit.acquire(address):
                    log.debug("refused an HTTP request from %s: too many", address)
                    self.refuse(too_many_connections_answer())
                    return
                self._slot = address
        super().gotLength(length)

    def process(self):
        upgrade = (self.requestHeaders.getRawHeaders(b"upgrade") or [b""])[0].lower()
        result = super().process()
        if self._slot is not None and upgrade == b"websocket" and self.transport is None:
            # Daphne took the transport for its WebSocket protocol: the connection now
            # counts against this address until it closes.
            self._guard.adopt(self._slot)
            self._slot = None
        return result

    def finish(self):
        channel = self.channel
        guard = self._guard
        self._release_slot()
        if guard is not None:
            # Before Twisted's finish: it parses a pipelined next request at once.
            guard.awaiting_head()
        super().finish()
        if guard is not None and channel is not None and channel.requests:
            guard.head_started()

    def connectionLost(self, reason):
        self._release_slot()
        super().connectionLost(reason)

    def _release_slot(self) -> None:
        if self._slot is not None:
            address_limit.release(self._slot)
            self._slot = None

    def _forwarded_client(self) -> str:
        forwarded = self.requestHeaders.getRawHeaders(b"x-forwarded-for")
        return forwarded_client(
            _host(self.channel.transport.getPeer()),
            b",".join(forwarded).decode("latin-1") if forwarded else None,
            api_settings.NUM_PROXIES,
        )


class GuardedHTTPFactory(LimitedHTTPFactory):
    """Daphne's HTTP factory with the guards above on every connection."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timeOut = settings.IM_HTTP_IDLE_TIMEOUT_S

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        if protocol is None:
            return None
        protocol.requestFactory = GuardedWebRequest
        return ConnectionGuard(self, protocol, count_peer=not api_settings.NUM_PROXIES)
