"""Frames on their way out: a frame fanned out to many connections is encoded once
per wire format, not once per connection."""

from __future__ import annotations

from improto.codec import encode_payload, pack_tcp


class SharedFrame:
    __slots__ = ("frame", "_encoded")

    def __init__(self, frame: dict) -> None:
        self.frame = frame
        self._encoded: dict[str, bytes | str] = {}

    def encoded(self, form: str) -> bytes | str:
        """`form` is "tcp" (length-prefixed MessagePack), "json" or "msgpack"."""
        data = self._encoded.get(form)
        if data is None:
            data = pack_tcp(self.frame) if form == "tcp" else encode_payload(self.frame, form)
            self._encoded[form] = data
        return data


Outgoing = dict | SharedFrame


def encode_for(item: Outgoing, form: str) -> bytes | str:
    if isinstance(item, SharedFrame):
        return item.encoded(form)
    return pack_tcp(item) if form == "tcp" else encode_payload(item, form)
