"""The TCP adapter: length-prefixed MessagePack frames around the shared session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

from django.conf import settings

from improto.codec import decode_payload
from improto.errors import ProtocolError
from improto.framing import FrameError, TcpFrameDecoder
from realtime.runtime import wait_for_node
from realtime.session import Session
from realtime.transport import address_limit

log = logging.getLogger(__name__)

READ_CHUNK = 65536
# A connect storm (clients coming back after a restart) must queue, not overflow the
# kernel's accept queue into SYN retries seconds apart.
LISTEN_BACKLOG = 4096


class TcpAdapter:
    form = "tcp"
    closed = False  # the session wrote its last frame and closed

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, payloads: list[bytes]) -> None:
        self._writer.write(b"".join(payloads))
        await self._writer.drain()  # waits while the socket's buffer is over its mark

    async def close(self, code: int = 1000) -> None:
        """Everything is written: half-close, and let the client close its side."""
        self.closed = True
        if not self._writer.is_closing() and self._writer.can_write_eof():
            self._writer.write_eof()

    def abort(self) -> None:
        reset(self._writer.transport)


def reset(transport: asyncio.Transport) -> None:
    """Drop the connection with a reset: a plain close would leave what the peer did
    not read in the kernel, behind a FIN it never reads either."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    address = address_limit.tcp_peer(writer)
    if not address_limit.acquire(address):
        await address_limit.refuse_tcp(reader, writer)
        return
    node = await wait_for_node()
    adapter = TcpAdapter(writer)
    session = Session(node, adapter)
    session.start()
    decoder = TcpFrameDecoder(settings.IM_MAX_FRAME_BYTES)
    try:
        while data := await reader.read(READ_CHUNK):
            if session.closing:
                # Read and drop what the client still sends until it closes (the
                # session's close grace bounds the wait): closing on unread input
                # would reset the connection and destroy the last frames sent to it.
                continue
            try:
                payloads, framing_error = decoder.feed(data), None
            except FrameError as error:
                # The good frames that came before the bad header are handled first.
                payloads, framing_error = error.payloads, error
            try:
                for payload in payloads:
                    await session.receive(decode_payload(payload, "msgpack"))
                    if session.closing:
                        break
                if framing_error is not None:
                    raise framing_error
            except ProtocolError as error:
                session.fail(error)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        reset(writer.transport)
        raise
    finally:
        address_limit.release(address)
        await session.transport_closed()
        if not writer.is_closing():
            if adapter.closed and not writer.transport.get_write_buffer_size():
                writer.close()  # all written, the client gone: a plain close
            else:
                # What could not be flushed by now never will be: a graceful close
                # would keep the connection and its buffer until the peer reads.
                reset(writer.transport)


async def start_tcp_server(host: str, port: int, *,
                           sock: socket.socket | None = None) -> asyncio.Server:
    """Listen on (host, port), or on `sock`, a listening socket shared with other workers."""
    if sock is not None:
        return await asyncio.start_server(handle_connection, sock=sock, limit=READ_CHUNK)
    return await asyncio.start_server(
        handle_connection, host, port, limit=READ_CHUNK, reuse_address=True, backlog=LISTEN_BACKLOG
    )
