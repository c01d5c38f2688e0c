"""A TCP chat client from the protocol alone: tcp_chat.py HOST:PORT TOKEN PEER_ID"""

import socket
import struct
import sys
import threading
import uuid

import msgpack


def send(sock, frame):
    body = msgpack.packb(frame)
    sock.sendall(struct.pack(">I", len(body)) + body)


def frames(sock):
    buf = b""
    while chunk := sock.recv(65536):
        buf += chunk
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            n = struct.unpack(">I", buf[:4])[0]
            yield msgpack.unpackb(buf[4 : 4 + n])
            buf = buf[4 + n :]


host, port = sys.argv[1].rsplit(":", 1)
token, peer = sys.argv[2], int(sys.argv[3])
sock = socket.create_connection((host, int(port)))
send(sock, {"type": "auth", "id": "a1", "token": token, "device": "tcp-script"})
threading.Thread(target=lambda: [print(f, flush=True) for f in frames(sock)], daemon=True).start()
for line in sys.stdin:
    text = {"text": line.strip()}
    send(sock, {"type": "text", "id": str(uuid.uuid4()), "to": peer, "body": text})
