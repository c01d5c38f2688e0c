"""The TCP adapter: length-prefixed MessagePack frames around the shared session."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from improto.codec import decode_payload
from improto.errors import ProtocolError
from improto.framing import TcpFrameDecoder
from messaging.realtime.node import get_node
from messaging.realtime.outgoing import Outgoing, encode_for
from messaging.realtime.session import Session
from messaging.transport import address_limit

log = logging.getLogger(__name__)

READ_CHUNK = 65536
# A connect storm (clients coming back after a restart) must queue, not overflow the
# kernel's accept queue into SYN retries seconds apart.
LISTEN_BACKLOG = 4096


class TcpAdapter:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, frames: list[Outgoing]) -> None:
        self._writer.write(b"".join(encode_for(frame, "tcp") for frame in frames))
        await self._writer.drain()

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()

    def abort(self) -> None:
        self._writer.transport.abort()


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    address = address_limit.tcp_peer(writer)
    if not address_limit.acquire(address):
        await address_limit.refuse_tcp(reader, writer)
        return
    node = await get_node()
    session = Session(node, TcpAdapter(writer), transport="tcp")
    session.start()
    decoder = TcpFrameDecoder(settings.IM_MAX_FRAME_BYTES)
    try:
        while not session.closing:
            data = await reader.read(READ_CHUNK)
            if not data:
                break
            try:
                payloads = decoder.feed(data)
                for payload in payloads:
                    await session.receive(decode_payload(payload, "msgpack"))
                    if session.closing:
                        break
            except ProtocolError as error:
                session.fail(error)
                break
        # Let the session flush what it has queued (it closes the socket itself).
        if session.closing:
            await session.flushed(timeout=5)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    finally:
        address_limit.release(address)
        await session.transport_closed()
        if not writer.is_closing():
            writer.close()


async def start_tcp_server(host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(
        handle_connection, host, port, limit=READ_CHUNK, reuse_address=True, backlog=LISTEN_BACKLOG
    )
