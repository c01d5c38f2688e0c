"""Frames on their way out: a frame fanned out to many connections is encoded once
per wire form, not once per connection.

The forms: "tcp" (length-prefixed MessagePack), "ws-json" and "ws-msgpack" (a whole
WebSocket frame, header included, written to the socket as it is), and "json" and
"msgpack" (the bare payload).
"""

from __future__ import annotations

from improto.codec import encode_json, encode_payload, pack_tcp
from improto.framing import ws_server_frame


class SharedFrame:
    __slots__ = ("frame", "_encoded")

    def __init__(self, frame: dict) -> None:
        self.frame = frame
        self._encoded: dict[str, bytes | str] = {}

    def encoded(self, form: str) -> bytes | str:
        data = self._encoded.get(form)
        if data is None:
            data = self._encoded[form] = _encode(self.frame, form)
        return data


Outgoing = dict | SharedFrame


def encode_for(item: Outgoing, form: str) -> bytes | str:
    if isinstance(item, SharedFrame):
        return item.encoded(form)
    return _encode(item, form)


def _encode(frame: dict, form: str) -> bytes | str:
    if form == "tcp":
        return pack_tcp(frame)
    if form == "ws-json":
        return ws_server_frame(encode_json(frame), binary=False)
    if form == "ws-msgpack":
        return ws_server_frame(encode_payload(frame, "msgpack"), binary=True)
    return encode_payload(frame, form)
