"""Lean client connections for the load generator: TCP and WebSocket on asyncio.Protocol.

No SDK on the hot path: frames are plain dicts, TCP uses the shared codec's framing
(`improto.pack_tcp`, `improto.TcpFrameDecoder`), WebSocket a minimal RFC 6455 framer
(also used by the raw relay's server side). Incoming payloads are decoded with
`msgpack.unpackb` / `json.loads` directly rather than `improto.decode_payload`: the
generator trusts the server it measures, and the value-domain walk of
`decode_payload` would triple its decoding cost (3.4 us against 1 us a frame).

Writes are coalesced: `send` queues the encoded frame and one `transport.write` per
loop iteration carries everything queued, as a real client's socket buffer would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
from collections.abc import Callable

import msgpack

from improto import TcpFrameDecoder, encode_payload, pack_tcp
from improto.frames import PROTOCOL_VERSION, Auth, command_to_dict
from improto.vocabulary import AUTH_OK

try:  # C masking from python-websockets (a dependency of the project)
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - pure Python fallback
    def apply_mask(data: bytes, mask: bytes) -> bytes:
        return bytes(b ^ mask[i % 4] for i, b in enumerate(data))

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_FRAME = 1 << 24

_unpackb = msgpack.unpackb
_json_loads = json.loads


# --- WebSocket framing (RFC 6455), both roles -------------------------------------------


def ws_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame; `mask` (4 bytes) for client-to-server frames."""
    n = len(payload)
    first = 0x80 | opcode
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        header = bytes((first, mask_bit | n))
    elif n < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


class WsFrameParser:
    """Incremental parser: feed bytes, get complete messages as (opcode, payload)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_op = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if n > MAX_FRAME:
                raise ValueError(f"WebSocket frame of {n} bytes")
            masked = b1 & 0x80
            start = pos + head + (4 if masked else 0)
            end = start + n
            if end > size:
                break
            payload = bytes(buf[start:end])
            if masked:
                payload = apply_mask(payload, bytes(buf[start - 4 : start]))
            pos = end
            opcode = b0 & 0x0F
            if not b0 & 0x80:  # a fragment: keep it until the final one
                if opcode:
                    self._fragment_op = opcode
                self._fragments.append(payload)
                continue
            if opcode == OP_CONT:
                self._fragments.append(payload)
                payload = b"".join(self._fragments)
                opcode, self._fragments = self._fragment_op, []
            out.append((opcode, payload))
        if pos:
            del buf[:pos]
        return out


def take_http_head(buffer: bytearray, data: bytes) -> tuple[bytes, bytes] | None:
    """Add `data` to `buffer`; once it holds a whole HTTP head, (head, what follows)."""
    buffer += data
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    return bytes(buffer[:end]), bytes(buffer[end + 4 :])


def ws_accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


# --- the client connection ------------------------------------------------------------------


class ConnClosed(Exception):
    pass


FrameHandler = Callable[["Conn", dict], None]


def _ignore(conn: Conn, frame: dict) -> None:
    pass


class CoalescedWrites(asyncio.Protocol):
    """Everything written in one loop iteration goes out in one transport write (the
    load generator's connections and the raw relay's alike)."""

    transport: asyncio.Transport | None = None

    def __init__(self) -> None:
        self._out: list[bytes] = []
        self._flush_pending = False
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()


class Conn(CoalescedWrites):
    """One client connection. `on_frame(conn, frame)` gets every frame not awaited
    through `request`; scenario code sets it and reads/writes the free `tag` slot."""

    def __init__(self, transport_kind: str, encoding: str, host: str, path: str = "/ws/") -> None:
        super().__init__()
        self.kind = transport_kind  # "tcp" or "ws"
        self.encoding = "msgpack" if transport_kind == "tcp" else encoding
        self.on_frame: FrameHandler = _ignore
        self.tag: object = None
        self.user_id: int | None = None
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiters: dict[str, asyncio.Future] = {}
        self.heartbeat_sent: dict[str, float] = {}
        self._host, self._path = host, path
        self._tcp = TcpFrameDecoder(MAX_FRAME) if transport_kind == "tcp" else None
        self._ws = WsFrameParser() if transport_kind == "ws" else None
        self._handshake: bytearray | None = bytearray() if transport_kind == "ws" else None
        self._mask = os.urandom(4)

    # -- opening ---------------------------------------------------------------------

    @classmethod
    async def open(cls, kind: str, address: str, *, encoding: str = "json",
                   timeout: float = 30.0) -> Conn:
        """Connect to "host:port" (TCP) or "ws://host:port/path" (WebSocket)."""
        if kind == "ws":
            rest = address.split("://", 1)[1]
            hostport, _, path = rest.partition("/")
            path = "/" + path
        else:
            hostport, path = address, ""
        host, port = hostport.rsplit(":", 1)
        loop = asyncio.get_running_loop()
        conn_holder: list[Conn] = []

        def factory() -> Conn:
            conn = cls(kind, encoding, hostport, path)
            conn_holder.append(conn)
            return conn

        async def _open() -> Conn:
            await loop.create_connection(factory, host, int(port))
            conn = conn_holder[0]
            await conn.ready
            return conn

        try:
            return await asyncio.wait_for(_open(), timeout)
        except BaseException:
            if conn_holder:
                conn_holder[0].abort()
            raise

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.kind == "ws":
            self._ws_key = base64.b64encode(os.urandom(16))
            transport.write(
                b"GET " + self._path.encode() + b" HTTP/1.1\r\nHost: " + self._host.encode()
                + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                + self._ws_key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
        else:
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnClosed("closed before it was ready"))
        if not self.closed.done():
            self.closed.set_result(exc)
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnClosed("connection closed"))
        self.waiters.clear()

    # -- receiving -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._tcp is not None:
            for payload in self._tcp.feed(data):
                self._dispatch(_unpackb(payload, raw=False))
            return
        if self._handshake is not None:
            split = take_http_head(self._handshake, data)
            if split is None:
                return
            (head, data), self._handshake = split, None
            if not head.startswith(b"HTTP/1.1 101") or ws_accept(self._ws_key) not in head:
                self.ready.set_exception(ConnClosed(f"WebSocket refused: {head[:80]!r}"))
                self.transport.close()
                return
            self.ready.set_result(None)
            if not data:
                return
        for opcode, payload in self._ws.feed(data):
            if opcode == OP_TEXT:
                self._dispatch(_json_loads(payload))
            elif opcode == OP_BINARY:
                self._dispatch(_unpackb(payload, raw=False))
            elif opcode == OP_PING:
                self.write(ws_frame(OP_PONG, payload, self._mask))
            elif opcode == OP_CLOSE:
                self.write(ws_frame(OP_CLOSE, payload[:2], self._mask))
                self.transport.close()

    def _dispatch(self, frame: dict) -> None:
        frame_id = frame.get("id")
        if frame_id is not None and frame_id in self.waiters:
            waiter = self.waiters.pop(frame_id)
            if not waiter.done():
                waiter.set_result(frame)
            return
        self.on_frame(self, frame)

    # -- sending ----------------------------------------------------------------------

    def encode(self, frame: dict) -> bytes:
        if self.kind == "tcp":
            return pack_tcp(frame)
        payload = encode_payload(frame, self.encoding)
        if isinstance(payload, str):
            return ws_frame(OP_TEXT, payload.encode("utf-8"), self._mask)
        return ws_frame(OP_BINARY, payload, self._mask)

    def send(self, frame: dict) -> None:
        self.write(self.encode(frame))

    async def request(self, frame: dict, timeout: float = 30.0) -> dict:
        """Send a frame with an `id` and wait for the server frame carrying that id."""
        waiter = self._loop.create_future()
        self.waiters[frame["id"]] = waiter
        self.send(frame)
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self.waiters.pop(frame["id"], None)

    # -- closing ----------------------------------------------------------------------

    def abort(self) -> None:
        """Close at once with a reset: no TIME_WAIT left behind on the generator's ports,
        which thousands of connections a run would otherwise exhaust."""
        if self.transport is None or self.transport.is_closing():
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()


async def open_authenticated(kind: str, address: str, token: str, device: str, *,
                             encoding: str = "json", timeout: float = 30.0) -> tuple[Conn, dict]:
    """Connect and authenticate; return the connection and its `auth_ok` frame."""
    conn = await Conn.open(kind, address, encoding=encoding, timeout=timeout)
    try:
        auth = Auth(id="a1", token=token, device=device, v=PROTOCOL_VERSION)
        reply = await conn.request(command_to_dict(auth), timeout)
    except BaseException:
        conn.abort()
        raise
    if reply.get("type") != AUTH_OK:
        conn.abort()
        raise ConnClosed(f"auth refused: {reply}")
    return conn, reply
