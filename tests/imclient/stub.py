"""A scripted fake IM server for what the real one does not do yet: `offline` with a
reconnect address (cluster resizing comes with the next version). It speaks the wire format through
improto on TCP and on WebSocket; a script drives each accepted connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import serve

from improto.codec import decode_payload, encode_payload, pack_tcp
from improto.framing import TcpFrameDecoder


class StubConn:
    async def send(self, frame: dict) -> None:
        raise NotImplementedError

    async def recv(self) -> dict:
        raise NotImplementedError

    async def expect(self, kind: str) -> dict:
        """The next frame of `kind`, skipping heartbeats."""
        while True:
            frame = await asyncio.wait_for(self.recv(), 10)
            if frame.get("type") == kind:
                return frame
            assert frame.get("type") == "heartbeat", frame


class _TcpConn(StubConn):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = TcpFrameDecoder()
        self.ready: list[bytes] = []

    async def send(self, frame: dict) -> None:
        self.writer.write(pack_tcp(frame))
        await self.writer.drain()

    async def recv(self) -> dict:
        while not self.ready:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("closed")
            self.ready.extend(self.decoder.feed(data))
        return decode_payload(self.ready.pop(0), "msgpack")


class _WsConn(StubConn):
    def __init__(self, ws) -> None:
        self.ws = ws
        self.encoding = "json"

    async def send(self, frame: dict) -> None:
        await self.ws.send(encode_payload(frame, self.encoding))

    async def recv(self) -> dict:
        data = await self.ws.recv()
        self.encoding = "msgpack" if isinstance(data, bytes) else "json"
        return decode_payload(data, self.encoding)


Script = Callable[[StubConn], Awaitable[None]]


class StubServer:
    def __init__(self, transport: str, script: Script) -> None:
        self.transport = transport
        self.script = script
        self.connections = 0
        self._server = None

    async def start(self) -> StubServer:
        if self.transport == "tcp":
            self._server = await asyncio.start_server(self._tcp, "127.0.0.1", 0)
        else:
            self._server = await serve(self._ws, "127.0.0.1", 0)
        self.port = list(self._server.sockets)[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        if self.transport == "tcp":
            return f"127.0.0.1:{self.port}"
        return f"ws://127.0.0.1:{self.port}/ws/"

    async def _tcp(self, reader, writer) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            await self.script(_TcpConn(reader, writer))
        writer.close()

    async def _ws(self, ws) -> None:
        self.connections += 1
        with contextlib.suppress(Exception):
            await self.script(_WsConn(ws))

    async def close(self) -> None:
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)
