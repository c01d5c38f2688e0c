"""A fake APNs: a real HTTP/2 (prior knowledge, plain text) server on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events

from tests.notifications.fake_push import Received


class FakeH2:
    """Records requests and answers each with `answer(request)`: (status, body dict)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.changed = threading.Condition()
        self.answer: Callable[[Received], tuple[int, dict]] = lambda r: (200, {})
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2conn.initiate_connection()
        conn.sendall(h2conn.data_to_send())
        streams: dict[int, tuple[dict, bytearray]] = {}
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for event in h2conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {k.decode() if isinstance(k, bytes) else k:
                                   v.decode() if isinstance(v, bytes) else v
                                   for k, v in event.headers}
                        streams[event.stream_id] = (headers, bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        h2conn.acknowledge_received_data(event.flow_controlled_length,
                                                         event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        request = Received(headers[":path"], headers, bytes(body))
                        status, answer = self.answer(request)
                        request.status = status
                        with self.changed:
                            self.received.append(request)
                            self.changed.notify_all()
                        payload = json.dumps(answer).encode() if answer else b""
                        h2conn.send_headers(event.stream_id, [
                            (":status", str(status)), ("content-length", str(len(payload))),
                            ("apns-id", "00000000-0000-0000-0000-000000000001")])
                        h2conn.send_data(event.stream_id, payload, end_stream=True)
                conn.sendall(h2conn.data_to_send())

    def wait_for(self, predicate, timeout: float = 20) -> list[Received]:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.received), timeout), \
                f"timed out; received {[r.path for r in self.received]}"
            return list(self.received)

    def close(self) -> None:
        self.closed = True
        self.sock.close()
