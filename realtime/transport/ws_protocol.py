"""Daphne's WebSocket protocol with back-pressure, real closes, and the size rule.

Daphne hands every frame the application sends straight to the socket's transport,
which buffers without bound and tells the application nothing. This protocol
registers a push producer (`WriteGate`) on the transport once the connection is a
WebSocket: Twisted pauses it when its write buffer is full and resumes it when the
buffer drains, and the application's adapter waits on it before writing more.

ASGI can close a WebSocket only with the codes autobahn's `sendClose` takes (1000,
3000-4999) and cannot drop one; `WsLink` can do both (close with 1009, reset a
connection whose peer reads nothing). The link reaches the application in the
connection's ASGI scope (`SCOPE_KEY`).

A message over IM_MAX_FRAME_BYTES is refused at its frame header, before its body is
buffered: the client gets `error/frame_too_large` (in the encoding of the message's
own type) and the close code 1009, never a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from pprint import pformat
from types import FunctionType

import autobahn.websocket.protocol as autobahn_protocol
import txaio
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from improto.codec import encode_payload
from improto.errors import FRAME_TOO_LARGE
from improto.frames import error

SCOPE_KEY = "im.ws_link"
_BINARY = 2  # the WebSocket opcode of a binary message
_DEBUG_LEVELS = frozenset({"debug", "trace"})
# What autobahn and Daphne keep on a connection from its opening handshake and never
# read again once it is open.
_HANDSHAKE_ONLY = (
    "http_request_data", "http_response_data", "http_headers", "http_status_line",
    "http_request_uri", "http_request_path", "http_request_params", "http_request_host",
    "_wskey", "websocket_protocols", "websocket_extensions", "websocket_origin",
    "clean_headers",
)


@implementer(IPushProducer)
class WriteGate:
    """Open while the transport takes data; closed while its buffer is full.

    A future exists only while someone waits on a closed gate (an idle connection
    holds none; an asyncio.Event would hold a deque for ever)."""

    __slots__ = ("_paused", "_waiter", "stopped")

    def __init__(self) -> None:
        self._paused = False
        self._waiter: asyncio.Future | None = None
        self.stopped = False

    @property
    def is_open(self) -> bool:
        return not self._paused

    async def wait_open(self) -> None:
        if not self._paused:
            return
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._waiter)

    # IPushProducer: called by the transport.
    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stopProducing(self) -> None:
        # The connection is gone: nobody must wait on it any more.
        self.stopped = True
        self.resumeProducing()


class Inbox:
    """A WebSocket application's input queue: what Daphne uses of asyncio.Queue
    (`put_nowait`, `get`), without its three deques and their waiters, which every
    idle connection would hold for its whole life. One reader (the consumer)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque | None = None  # made on the first event
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self):
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item


class WsLink:
    """What the application may do to its WebSocket beyond ASGI."""

    def __init__(self, protocol: WebSocketProtocol) -> None:
        self._protocol = protocol
        self.gate = WriteGate()

    def write_frames(self, data: bytes) -> bool:
        """Write whole frames (improto.framing.ws_server_frame) to the socket; False if
        the WebSocket is not open (nothing written)."""
        protocol = self._protocol
        if protocol.state != protocol.STATE_OPEN or protocol.transport is None:
            return False
        protocol.transport.write(data)
        protocol.trafficStats.outgoingOctetsWireLevel += len(data)
        return True

    def close(self, code: int) -> None:
        """Start the closing handshake with `code` (any code, 1009 included)."""
        if self._protocol.state == self._protocol.STATE_OPEN:
            self._protocol.sendCloseFrame(code=code, isReply=False)

    def reset(self) -> None:
        """Drop the connection at once with a reset, unsent data and all."""
        transport = self._protocol.transport
        if transport is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            transport.getHandle().setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        transport.abortConnection()


class _Formatted:
    """pprint's text of a value, made only when a log line shows it."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def __str__(self) -> str:
        return pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


# Autobahn pretty-prints its thirty options for a debug line on every connection it
# makes (115 us, a fifth of a WebSocket connect), whether or not debug logging is on;
# txaio drops a disabled level's line unformatted, so the text is now made only when
# the line is written. The module's other pformat is on the client side.
autobahn_protocol.pformat = _Formatted


class _OpenedRequest:
    """What Daphne still reads of the handshake's request once the socket is open."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class _SendQueue:
    """Autobahn's `send_queue`, made on first use. Autobahn gives every connection a
    deque (760 bytes) that only chopped and synchronous sends fill; this server makes
    neither but through autobahn's own sendData, which gets a real deque first
    (GuardedWebSocketProtocol.sendData). Until then the queue reads as empty."""

    def __get__(self, protocol, owner=None):
        if protocol is None:
            return self
        queue = protocol.__dict__.get("_send_queue")
        return () if queue is None else queue

    def __set__(self, protocol, queue) -> None:
        protocol.__dict__["_send_queue"] = queue if queue else None


class GuardedWebSocketProtocol(WebSocketProtocol):
    link: WsLink | None = None
    send_queue = _SendQueue()
    # The factory whose options this class holds (_share_options).
    _options_of: WebSocketFactory | None = None

    def connectionMade(self) -> None:
        self._share_options()
        super().connectionMade()
        transport = self.transport
        self.link = WsLink(self)
        if hasattr(transport, "registerProducer"):
            # The HTTP channel that upgraded this connection registered itself as
            # the producer; from here on the WebSocket is what writes.
            transport.unregisterProducer()
            transport.registerProducer(self.link.gate, True)

    def _share_options(self) -> None:
        # Autobahn copies its thirty options from the factory onto every connection,
        # unless the protocol already has them (its documented way to configure one
        # connection): held once on the class, they cost an idle connection nothing.
        # Options set on the factory after the first connection are not seen, as
        # autobahn's own copy would not see them for connections already made.
        cls = type(self)
        if cls._options_of is None:
            for name in self.CONFIG_ATTRS:
                value = getattr(self.factory, name)
                # A function on a class would be bound to each connection as a method.
                setattr(cls, name, staticmethod(value) if isinstance(value, FunctionType)
                        else value)
            cls._options_of = self.factory
        elif cls._options_of is not self.factory:  # another factory: its own options
            for name in self.CONFIG_ATTRS:
                setattr(self, name, getattr(self.factory, name))

    def onOpen(self) -> None:
        super().onOpen()
        # An idle connection's largest part was its instance dict (over a hundred
        # attributes) and the handshake it keeps: headers, raw request and response.
        # Drop what only the handshake reads; the dict is rebuilt at the size of
        # what is left (a dict never shrinks by deletion).
        state = self.__dict__
        headers = state.get("clean_headers")
        if headers is not None:
            # The same list is the ASGI scope's headers, which the application reads
            # when it accepts (ws_origins.py) and never after.
            headers.clear()
        for name in _HANDSHAKE_ONLY:
            state.pop(name, None)
        request = state.get("request")
        if request is not None:
            state["request"] = _OpenedRequest(request.path)
        self.__dict__ = dict(state)

    def connectionLost(self, reason) -> None:
        if self.link is not None:
            self.link.gate.stopProducing()
        super().connectionLost(reason)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Autobahn's sendData formats the arguments of a debug line (colour codes through
        # click) for every frame it writes, whether or not debug logging is on: an eighth
        # of the server's time in a group fan-out. The common write (not chopped, not
        # synchronous, nothing queued, no octet logging) is done here without that line,
        # counting the same traffic statistics; every other case, and every write while
        # Twisted logs at debug level, is autobahn's own.
        if (chopsize or sync or self.send_queue or self.logOctets
                or txaio.get_global_log_level() in _DEBUG_LEVELS):
            if self.__dict__.get("_send_queue") is None:
                self.__dict__["_send_queue"] = deque()
            super().sendData(data, sync, chopsize)
            return
        self.transport.write(data)
        if self.state == self.STATE_OPEN:
            self.trafficStats.outgoingOctetsWireLevel += len(data)
        elif self.state in (self.STATE_CONNECTING, self.STATE_PROXY_CONNECTING):
            self.trafficStats.preopenOutgoingOctetsWireLevel += len(data)

    def onMessageFrameBegin(self, length: int) -> None:
        # Autobahn's own limit applies to what we send too (server frames may be
        # larger than the client's limit), so the client's limit is checked here.
        super().onMessageFrameBegin(length)
        limit = settings.IM_MAX_FRAME_BYTES
        if not self.failedByMe and self.message_data_total_length > limit:
            self._max_message_size_exceeded(
                self.message_data_total_length, limit, "message over the frame limit"
            )

    def _max_message_size_exceeded(self, msg_size, max_msg_size, reason) -> None:
        # Autobahn's hook for an oversized message, called from its frame header.
        if self.state == self.STATE_OPEN:
            binary = getattr(self, "message_opcode", None) == _BINARY
            frame = error(code=FRAME_TOO_LARGE, message=f"a frame is at most {max_msg_size} bytes")
            payload = encode_payload(frame, "msgpack" if binary else "json")
            self.sendMessage(payload if binary else payload.encode(), binary)
        super()._max_message_size_exceeded(msg_size, max_msg_size, reason)


def configure_factory(factory: WebSocketFactory) -> None:
    """Make Daphne's WebSocket factory build guarded protocols."""
    factory.protocol = GuardedWebSocketProtocol
    # Fail a connection with a close frame and its code, not a dropped socket. No
    # compression extension is accepted (autobahn's default, made explicit): the
    # adapter writes whole uncompressed frames itself (WsLink.write_frames).
    factory.setProtocolOptions(failByDrop=False, perMessageCompressionAccept=lambda offer: None)
