"""One live link to the server: frames (dicts) in and out over TCP or WebSocket.

Framing and payload encoding are improto's (the codec the server uses); this module
only moves bytes. A link that fails raises ConnectionLost; reconnecting is the
client's business, not this module's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

import websockets
from websockets.asyncio.client import connect as ws_connect

from improto.codec import decode_payload, encode_payload, pack_tcp
from improto.errors import ProtocolError
from improto.frames import parse_server_frame
from improto.framing import TcpFrameDecoder

# Server frames can be far larger than client frames (a sync page of 500 messages).
MAX_INBOUND_FRAME_BYTES = 64 * 1024 * 1024
READ_CHUNK = 65536


class ConnectionLost(Exception):
    """The link is gone (closed, reset, unreadable, or silent for too long)."""


class Connection(Protocol):
    address: str
    last_rx: float  # time.monotonic() of the last bytes received

    async def send(self, frame: dict) -> None: ...

    async def recv(self) -> dict: ...

    def abort(self) -> None: ...


def split_tcp_address(address: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"a TCP address is host:port, got {address!r}")
    return host.strip("[]"), int(port)


class TcpConnection:
    """Length-prefixed MessagePack frames (docs/protocol.md, Transports and framing)."""

    def __init__(self, address: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.address = address
        self.last_rx = time.monotonic()
        self._reader = reader
        self._writer = writer
        self._decoder = TcpFrameDecoder(MAX_INBOUND_FRAME_BYTES)
        self._ready: deque[bytes] = deque()

    @classmethod
    async def open(cls, address: str, *, timeout: float) -> TcpConnection:
        host, port = split_tcp_address(address)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=READ_CHUNK), timeout
            )
        except (OSError, TimeoutError) as error:
            raise ConnectionLost(f"cannot connect to {address}: {error!r}") from None
        return cls(address, reader, writer)

    async def send(self, frame: dict) -> None:
        if self._writer.is_closing():
            raise ConnectionLost("connection closed")
        try:
            self._writer.write(pack_tcp(frame))
            await self._writer.drain()
        except (OSError, RuntimeError) as error:
            raise ConnectionLost(f"write failed: {error!r}") from None

    async def recv(self) -> dict:
        while not self._ready:
            try:
                data = await self._reader.read(READ_CHUNK)
            except OSError as error:
                raise ConnectionLost(f"read failed: {error!r}") from None
            if not data:
                raise ConnectionLost("closed by the server")
            self.last_rx = time.monotonic()
            try:
                self._ready.extend(self._decoder.feed(data))
            except ProtocolError as error:
                raise ConnectionLost(f"unreadable stream: {error}") from None
        return _decode(self._ready.popleft(), "msgpack")

    def abort(self) -> None:
        transport = self._writer.transport
        if not transport.is_closing():
            transport.abort()


class WsConnection:
    """One WebSocket message per frame: MessagePack (binary) or JSON (text)."""

    def __init__(self, address: str, ws, encoding: str) -> None:
        self.address = address
        self.last_rx = time.monotonic()
        self._ws = ws
        self._encoding = encoding

    @classmethod
    async def open(cls, address: str, *, timeout: float, encoding: str) -> WsConnection:
        try:
            ws = await ws_connect(
                address,
                open_timeout=timeout,
                ping_interval=None,  # the protocol's own heartbeats keep the link alive
                compression=None,
                max_size=MAX_INBOUND_FRAME_BYTES,
                close_timeout=2,
            )
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as error:
            raise ConnectionLost(f"cannot connect to {address}: {error!r}") from None
        return cls(address, ws, encoding)

    async def send(self, frame: dict) -> None:
        try:
            await self._ws.send(encode_payload(frame, self._encoding))
        except (OSError, websockets.exceptions.WebSocketException) as error:
            raise ConnectionLost(f"write failed: {error!r}") from None

    async def recv(self) -> dict:
        try:
            data = await self._ws.recv()
        except (OSError, websockets.exceptions.WebSocketException) as error:
            raise ConnectionLost(f"read failed: {error!r}") from None
        self.last_rx = time.monotonic()
        return _decode(data, "msgpack" if isinstance(data, bytes) else "json")

    def abort(self) -> None:
        transport = getattr(self._ws, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()


def _decode(payload: bytes | str, encoding: str) -> dict:
    try:
        return parse_server_frame(decode_payload(payload, encoding))
    except ProtocolError as error:
        raise ConnectionLost(f"unreadable frame: {error}") from None


async def open_connection(address: str, *, transport: str, timeout: float,
                          ws_encoding: str = "msgpack") -> Connection:
    if transport == "tcp":
        return await TcpConnection.open(address, timeout=timeout)
    return await WsConnection.open(address, timeout=timeout, encoding=ws_encoding)
