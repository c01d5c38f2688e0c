"""HTTP over a bare socket, for tests that need to control every byte and every close."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from dataclasses import dataclass

TIMEOUT = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class RawHttp:
    """One HTTP/1.1 connection driven by hand, on asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, server) -> RawHttp:
        host, port = server.http_address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, timeout: float = TIMEOUT) -> Answer:
        """The next whole answer (its body by Content-Length)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return Answer(int(status_line.split()[1]), headers, body)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        await self.send(request_head("GET", path, headers))
        return await self.answer()

    async def closed_by_server(self, timeout: float = TIMEOUT) -> bytes:
        """Read until the server closes; what arrived meanwhile."""
        data = b""
        async with asyncio.timeout(timeout):
            try:
                while chunk := await self.reader.read(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        return data

    def close(self) -> None:
        self.writer.close()



def reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed client or a middlebox does."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def request_head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_answer(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


async def eventually(check, timeout: float = TIMEOUT, interval: float = 0.05):
    """Await `check()` until it returns something true (what it returns), or fail.

    For state the server changes on its own schedule with nothing a client can await,
    such as a slot freed when the server notices a reset.
    """
    async with asyncio.timeout(timeout):
        while not (result := await check()):
            await asyncio.sleep(interval)
    return result
