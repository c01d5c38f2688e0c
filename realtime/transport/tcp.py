"""The TCP adapter: length-prefixed MessagePack frames around the shared session.

One `TcpConnection` (an asyncio protocol) per connection. Bytes in are cut into
frames as they arrive and handed to the session in order by a worker task that
exists only while frames wait; frames out are written as the session's drainer
hands them over, waiting while the socket's buffer is over its mark. An idle
connection holds no task, no stream objects, no waiter: a few KB less each.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
import struct

from django.conf import settings

from improto import frames
from improto.codec import decode_payload, pack_tcp
from improto.errors import RATE_LIMITED, ProtocolError
from improto.framing import FrameError, TcpFrameDecoder
from realtime.runtime import wait_for_node
from realtime.session import Session
from realtime.transport import address_limit

log = logging.getLogger(__name__)

# A connection's input waiting to be handled (frames cut, not yet taken by the
# session) stops its reading beyond this many bytes, until it is handled.
READ_CHUNK = 65536
# A connect storm (clients coming back after a restart) must queue, not overflow the
# kernel's accept queue into SYN retries seconds apart.
LISTEN_BACKLOG = 4096
# How long a refused connection is read and dropped after its error frame, so that
# the client reads the frame instead of a reset.
REFUSAL_LINGER_S = 2.0


def reset(transport: asyncio.BaseTransport) -> None:
    """Drop the connection with a reset: a plain close would leave what the peer did
    not read in the kernel, behind a FIN it never reads either."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


class TcpConnection(asyncio.Protocol):
    """One client connection: the session's adapter on this side, asyncio's protocol
    on the other."""

    form = "tcp"

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.closed = False  # the session wrote its last frame and closed
        self._address: str | None = None  # counted in address_limit while set
        self._refused: asyncio.TimerHandle | None = None
        self._decoder = TcpFrameDecoder(settings.IM_MAX_FRAME_BYTES)
        self._inbox: list[bytes | FrameError] = []  # a FrameError comes last
        self._inbox_bytes = 0
        self._broken = False  # a bad frame header: nothing after it is a frame
        self._worker: asyncio.Task | None = None
        self._context: contextvars.Context | None = None  # the session's (its log id)
        self._gone = False  # end of input or connection lost: end after the inbox
        self._ended = False
        self._reading_paused = False
        self._writing_paused = False
        self._writable: asyncio.Future | None = None  # exists while a write waits

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        address = _peer(transport)
        if not address_limit.acquire(address):
            self._refuse()
            return
        self._address = address
        self._kick()  # the session starts (and its auth timer) once the node is up

    def data_received(self, data: bytes) -> None:
        if self._refused is not None or self._gone or self._broken:
            return
        if self.session is not None and self.session.closing:
            # Read and drop what the client still sends until it closes (the session's
            # close grace bounds the wait): closing on unread input would reset the
            # connection and destroy the last frames sent to it.
            return
        try:
            payloads, error = self._decoder.feed(data), None
        except FrameError as bad:
            # The good frames that came before the bad header are handled first.
            payloads, error = list(bad.payloads), bad
            self._broken = True
        self._inbox.extend(payloads)
        self._inbox_bytes += sum(map(len, payloads))
        if error is not None:
            self._inbox.append(error)
        if self._inbox_bytes > READ_CHUNK and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        if self._inbox:
            self._kick()

    def eof_received(self) -> bool:
        if self._refused is not None:
            return False  # the client has closed its side: a clean close
        self._gone = True
        self._kick()
        return True  # this side closes (or resets) once the session is done

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused is not None:
            self._refused.cancel()
            return
        self._gone = True
        self._inbox.clear()
        self._wake_writer(ConnectionResetError("connection lost"))
        self._kick()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writer(None)

    # --- the session's adapter interface ------------------------------------------------

    async def write(self, payloads: list[bytes]) -> None:
        if self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        self.transport.write(b"".join(payloads))
        if self._writing_paused:  # return once the socket can take more
            if self._writable is None:
                self._writable = asyncio.get_running_loop().create_future()
            await self._writable

    async def close(self, code: int = 1000) -> None:
        """Everything is written: half-close, and let the client close its side."""
        self.closed = True
        if not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    def abort(self) -> None:
        reset(self.transport)

    # --- the worker -----------------------------------------------------------------------

    def _kick(self) -> None:
        if self._ended or (self._worker is not None and not self._worker.done()):
            return
        loop = asyncio.get_running_loop()
        self._worker = loop.create_task(self._work(), context=self._context)

    async def _work(self) -> None:
        try:
            if self.session is None:
                node = await wait_for_node()
                if self._gone and not self._inbox:
                    await self._end()
                    return
                self.session = Session(node, self)  # sets this context's log id
                self._context = contextvars.copy_context()
                self.session.start()
            session = self.session
            while self._inbox:
                items, self._inbox, self._inbox_bytes = self._inbox, [], 0
                for item in items:
                    if session.closing:
                        break
                    if isinstance(item, FrameError):
                        session.fail(item)
                        break
                    try:
                        await session.receive(decode_payload(item, "msgpack"))
                    except ProtocolError as error:
                        session.fail(error)
                if self._reading_paused and not self._gone:
                    self._reading_paused = False
                    self.transport.resume_reading()
            if self._gone:
                await self._end()
        except asyncio.CancelledError:
            reset(self.transport)
            await self._end()
            raise

    async def _end(self) -> None:
        """The connection is over: once, whichever way it ended."""
        if self._ended:
            return
        self._ended = True
        if self._address is not None:
            address_limit.release(self._address)
            self._address = None
        if self.session is not None:
            await self.session.transport_closed()
        transport = self.transport
        if not transport.is_closing():
            if self.closed and not transport.get_write_buffer_size():
                transport.close()  # all written, the client gone: a plain close
            else:
                # What could not be flushed by now never will be: a graceful close
                # would keep the connection and its buffer until the peer reads.
                reset(transport)

    def _wake_writer(self, error: Exception | None) -> None:
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _refuse(self) -> None:
        """Over the address's cap: `error`/`rate_limited`, then close.

        The write side is closed first and what the client sends meanwhile (its `auth`)
        is read and dropped for up to REFUSAL_LINGER_S: closing with unread bytes would
        send a reset, which can destroy the error frame before the client reads it."""
        transport = self.transport
        transport.write(pack_tcp(frames.error(code=RATE_LIMITED, message=address_limit.TOO_MANY,
                                              id=None)))
        if transport.can_write_eof():
            transport.write_eof()
        self._refused = asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, transport.abort)


async def start_tcp_server(host: str, port: int, *,
                           sock: socket.socket | None = None) -> asyncio.Server:
    """Listen on (host, port), or on `sock`, a listening socket shared with other workers."""
    loop = asyncio.get_running_loop()
    if sock is not None:
        return await loop.create_server(TcpConnection, sock=sock)
    return await loop.create_server(
        TcpConnection, host, port, reuse_address=True, backlog=LISTEN_BACKLOG
    )
