"""Plain clients for tests: REST over urllib, WebSocket and TCP speaking the wire
protocol (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass

import msgpack
import websockets

from improto.codec import decode_payload, encode_payload, pack_tcp
from improto.framing import TcpFrameDecoder

TIMEOUT = 10.0


def http(base_url: str, method: str, path: str, body=None, token: str | None = None,
         raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base_url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        payload = error.read()
        status = error.code
    return status, (json.loads(payload) if payload else None)


async def ahttp(*args, **kwargs) -> tuple[int, object]:
    return await asyncio.to_thread(http, *args, **kwargs)


@dataclass
class Account:
    id: int
    username: str
    token: str


async def make_user(base_url: str, prefix: str = "u") -> Account:
    username = f"{prefix}{secrets.token_hex(5)}"
    password = "correct horse battery staple"
    status, body = await ahttp(base_url, "POST", "/api/auth/register/",
                               {"username": username, "password": password})
    assert status == 201, body
    status, body = await ahttp(base_url, "POST", "/api/auth/login/",
                               {"username": username, "password": password})
    assert status == 200, body
    return Account(id=body["user"]["id"], username=username, token=body["token"])


async def login_again(base_url: str, account: Account) -> str:
    status, body = await ahttp(base_url, "POST", "/api/auth/login/",
                               {"username": account.username,
                                "password": "correct horse battery staple"})
    assert status == 200, body
    return body["token"]


class Closed(Exception):
    pass


class WireClient:
    """Common part: frames as dicts in, dicts out, with timeouts on every wait."""

    async def send(self, frame: dict) -> None:
        raise NotImplementedError

    async def recv(self, timeout: float = TIMEOUT) -> dict:
        raise NotImplementedError

    async def expect(self, kind: str, timeout: float = TIMEOUT) -> dict:
        """The next frame of `kind`, skipping heartbeat replies; fails on anything else."""
        while True:
            frame = await self.recv(timeout)
            if frame.get("type") == "heartbeat" and kind != "heartbeat":
                continue
            assert frame.get("type") == kind, f"expected {kind}, got {frame}"
            return frame

    async def expect_any(self, kinds: tuple[str, ...], timeout: float = TIMEOUT) -> dict:
        """The next frame whose type is one of `kinds`, skipping heartbeat replies."""
        while True:
            frame = await self.recv(timeout)
            if frame.get("type") == "heartbeat" and "heartbeat" not in kinds:
                continue
            assert frame.get("type") in kinds, f"expected one of {kinds}, got {frame}"
            return frame

    async def acks(self, count: int, timeout: float = TIMEOUT) -> list[dict]:
        """The next `count` acks, skipping whatever else arrives meanwhile."""
        acks = []
        while len(acks) < count:
            frame = await self.recv(timeout)
            if frame["type"] == "ack":
                acks.append(frame)
        return acks

    async def auth(self, token: str, device: str = "dev", frame_id: str = "a1") -> dict:
        await self.send({"type": "auth", "id": frame_id, "token": token, "device": device,
                         "v": 1})
        return await self.expect("auth_ok")

    async def send_text(self, *, text: str, to: int | None = None, group: int | None = None,
                        client_id: str | None = None) -> dict:
        frame = {"type": "text", "id": client_id or secrets.token_hex(8), "body": {"text": text}}
        frame.update({"to": to} if to is not None else {"group": group})
        await self.send(frame)
        return frame

    async def closed(self, timeout: float = TIMEOUT) -> list[dict]:
        """Read until the server closes; return what arrived meanwhile."""
        frames = []
        try:
            while True:
                frames.append(await self.recv(timeout))
        except Closed:
            return frames


class TcpClient(WireClient):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = TcpFrameDecoder(1 << 24)
        self.pending: list[bytes] = []

    @classmethod
    async def connect(cls, host: str, port: int) -> TcpClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, frame: dict) -> None:
        await self.send_raw(pack_tcp(frame))

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = TIMEOUT) -> dict:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise Closed()
            self.pending.extend(self.decoder.feed(data))
        return decode_payload(self.pending.pop(0), "msgpack")

    async def close(self) -> None:
        self.writer.close()


class WsClient(WireClient):
    def __init__(self, ws, encoding: str) -> None:
        self.ws = ws
        self.encoding = encoding

    @classmethod
    async def connect(cls, url: str, encoding: str = "json") -> WsClient:
        ws = await websockets.connect(url, max_size=None, open_timeout=TIMEOUT)
        return cls(ws, encoding)

    async def send(self, frame: dict) -> None:
        await self.ws.send(encode_payload(frame, self.encoding))

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = TIMEOUT) -> dict:
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed:
            raise Closed() from None
        if isinstance(data, bytes):
            return msgpack.unpackb(data, raw=False)
        return json.loads(data)

    async def close(self) -> None:
        await self.ws.close()


async def connect(server, transport: str) -> WireClient:
    if transport == "tcp":
        return await TcpClient.connect(server.tcp_host, server.tcp_port)
    if transport == "ws-msgpack":
        return await WsClient.connect(server.ws_url, "msgpack")
    return await WsClient.connect(server.ws_url, "json")
