"""The raw relay: the same frames as imserver, with no auth, storage or validation.

What one Python process on this machine can relay at most; every other throughput is
reported as a share of it. One asyncio process serving TCP (length-prefixed
MessagePack, the shared codec's framing) and WebSocket (a minimal RFC 6455 server
framer) with the server's wire frames:

- `auth`: the token is the user id as a string; answered `auth_ok`, no check.
- `heartbeat`: answered.
- a content frame with `to` or `group`: the next seq of its channel (in memory),
  `ack` to the sender, the message to every other connection of the recipients,
  encoded once per encoding.
- `join` (relay only, set-up): `{"type":"join","id":..,"group":g}` adds the user to g.

It runs on the stock asyncio loop, as imserver does (`--uvloop` to compare).

    python bench/raw_relay.py --host 127.0.0.1 --tcp-port 0 --ws-port 0
    -> relay ready tcp=127.0.0.1:PORT ws=127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import time
from collections import defaultdict
from pathlib import Path

import msgpack

if __package__ in (None, ""):  # run as a script: make `bench` and `improto` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CoalescedWrites,
    WsFrameParser,
    take_http_head,
    ws_accept,
    ws_frame,
)
from improto import TcpFrameDecoder, frames, pack_tcp
from improto import vocabulary as words
from improto.errors import UNKNOWN_TYPE

_packb = msgpack.Packer(use_bin_type=True).pack
_unpackb = msgpack.unpackb


def _dumps(frame: dict) -> bytes:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Relay:
    def __init__(self) -> None:
        self.by_user: dict[int, list[RelayConn]] = defaultdict(list)
        self.seqs: dict[str, int] = defaultdict(int)
        self.groups: dict[int, list[int]] = defaultdict(list)

    def handle(self, conn: RelayConn, frame: dict) -> None:
        kind = frame.get("type")
        if kind == words.HEARTBEAT:
            conn.push(frames.heartbeat_reply(ts=_now_ms(), id=frame.get("id")))
        elif kind == words.AUTH:
            conn.user = int(frame["token"])
            self.by_user[conn.user].append(conn)
            conn.push(frames.auth_ok(id=frame.get("id"), user=conn.user,
                                     device=frame.get("device", "default"), heartbeat=30,
                                     ts=_now_ms()))
        elif kind == "join":
            self.groups[frame["group"]].append(conn.user)
            conn.push({"type": "joined", "id": frame.get("id"), "group": frame["group"]})
        elif "group" in frame or "to" in frame:
            self.relay(conn, frame)
        else:
            conn.push(frames.error(code=UNKNOWN_TYPE, message="not relayed", id=frame.get("id")))

    def relay(self, conn: RelayConn, frame: dict) -> None:
        sender = conn.user
        group = frame.get("group")
        if group is not None:
            channel = f"g:{group}"
            recipients = self.groups.get(group, ())
        else:
            to = frame["to"]
            a, b = (sender, to) if sender <= to else (to, sender)
            channel = f"p:{a}:{b}"
            recipients = (sender, to) if sender != to else (sender,)
        seq = self.seqs[channel] + 1
        self.seqs[channel] = seq
        ts = _now_ms()
        conn.push(frames.ack(id=frame["id"], channel=channel, seq=seq, ts=ts))
        message = frames.message(type=frame["type"], id=frame["id"], channel=channel, seq=seq,
                                 ts=ts, sender=sender, body=frame.get("body"),
                                 to=frame.get("to") if group is None else None, group=group)
        encoded: dict[str, bytes] = {}
        for uid in recipients:
            for peer in self.by_user.get(uid, ()):
                if peer is conn:
                    continue
                data = encoded.get(peer.wire)
                if data is None:
                    data = encoded[peer.wire] = peer.encode(message)
                peer.write(data)

    def gone(self, conn: RelayConn) -> None:
        if conn.user is not None:
            peers = self.by_user.get(conn.user)
            if peers and conn in peers:
                peers.remove(conn)


class RelayConn(CoalescedWrites):
    def __init__(self, relay: Relay, kind: str) -> None:
        super().__init__()
        self.relay = relay
        self.kind = kind
        self.user: int | None = None
        # The connection's wire format: tcp, ws-json or ws-msgpack (set by the first frame).
        self.wire = "tcp" if kind == "tcp" else "ws-json"
        self.transport: asyncio.Transport | None = None
        self._tcp = TcpFrameDecoder(1 << 24) if kind == "tcp" else None
        self._ws = WsFrameParser() if kind == "ws" else None
        self._handshake: bytearray | None = bytearray() if kind == "ws" else None
        self._first = True

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:
        self.relay.gone(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except Exception as exc:  # a bench tool: drop the connection, keep serving
            print(f"relay: dropping a connection: {exc!r}", file=sys.stderr)
            self.transport.abort()

    def _receive(self, data: bytes) -> None:
        handle = self.relay.handle
        if self._tcp is not None:
            for payload in self._tcp.feed(data):
                handle(self, _unpackb(payload, raw=False))
            return
        if self._handshake is not None:
            split = take_http_head(self._handshake, data)
            if split is None:
                return
            (head, data), self._handshake = split, None
            key = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + ws_accept(key) + b"\r\n\r\n"
            )
        for opcode, payload in self._ws.feed(data):
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if self._first:
                    self._first = False
                    self.wire = "ws-json" if opcode == OP_TEXT else "ws-msgpack"
                frame = json.loads(payload) if opcode == OP_TEXT else _unpackb(payload, raw=False)
                handle(self, frame)
            elif opcode == OP_PING:
                self.write(ws_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.write(ws_frame(OP_CLOSE, payload[:2]))
                self._loop.call_soon(self.transport.close)

    def encode(self, frame: dict) -> bytes:
        if self.wire == "tcp":
            return pack_tcp(frame)
        if self.wire == "ws-json":
            return ws_frame(OP_TEXT, _dumps(frame))
        return ws_frame(OP_BINARY, _packb(frame))

    def push(self, frame: dict) -> None:
        self.write(self.encode(frame))


async def serve(host: str, tcp_port: int, ws_port: int) -> None:
    loop = asyncio.get_running_loop()
    relay = Relay()
    tcp = await loop.create_server(lambda: RelayConn(relay, "tcp"), host, tcp_port, backlog=4096)
    ws = await loop.create_server(lambda: RelayConn(relay, "ws"), host, ws_port, backlog=4096)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    t_host, t_port = tcp.sockets[0].getsockname()[:2]
    w_host, w_port = ws.sockets[0].getsockname()[:2]
    print(f"relay ready tcp={t_host}:{t_port} ws={w_host}:{w_port}", flush=True)
    await stop
    tcp.close()
    ws.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tcp-port", type=int, default=0)
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead")
    args = parser.parse_args(argv)
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(serve(args.host, args.tcp_port, args.ws_port))


if __name__ == "__main__":
    main()
