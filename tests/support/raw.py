"""Clients that behave badly on purpose: plain blocking sockets that send and never
read, on TCP and on WebSocket, and a way to see when the server has cut them."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time

from improto.codec import pack_tcp

TCP_CLOSE_WAIT, TCP_CLOSE = 8, 7


class RawClient:
    """A connection that writes frames and reads nothing (unless asked to)."""

    def __init__(self, sock: socket.socket, transport: str) -> None:
        self.sock = sock
        self.transport = transport

    @classmethod
    def open(cls, server, transport: str, *, rcvbuf: int = 4096) -> RawClient:
        sock = socket.socket()
        # A small receive buffer: the server's writes back up soon after we stop reading.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if transport == "tcp":
            sock.connect((server.tcp_host, server.tcp_port))
            return cls(sock, transport)
        host, port = server.http_address.rsplit(":", 1)
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /ws/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                raise ConnectionError("no handshake answer")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock, transport)

    def send(self, frame: dict) -> None:
        if self.transport == "tcp":
            self.sock.sendall(pack_tcp(frame))
        else:
            self.sock.sendall(ws_client_frame(json.dumps(frame).encode()))

    def cut_by_server(self, timeout: float) -> bool:
        """Wait until the server has closed or reset this connection (its TCP state
        says so, without reading a byte); False if it has not within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return True
            state = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if state in (TCP_CLOSE_WAIT, TCP_CLOSE):
                return True
            time.sleep(0.02)  # polling the kernel's state of the socket
        return False

    def close(self) -> None:
        self.sock.close()


def ws_client_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One masked WebSocket frame, as a client must send it."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
