"""TCP framing: a 4-byte unsigned big-endian length N, then N payload bytes.

The decoder is incremental and does no I/O: the transport feeds it whatever the
socket returned and gets back the complete payloads. Also the one WebSocket frame a
server writes (`ws_server_frame`), so that a frame fanned out to many WebSocket
connections is framed once, like its TCP form.
"""

from __future__ import annotations

import struct

from .errors import BAD_FRAME, FRAME_TOO_LARGE, ProtocolError

MAX_FRAME_BYTES_DEFAULT = 65536
HEADER_BYTES = 4
_MAX_LENGTH = 2**32 - 1


class FrameError(ProtocolError):
    """A framing error raised by TcpFrameDecoder.feed.

    `payloads` holds the complete frames that preceded the bad header in the
    stream and had not been returned yet: the stream is processed up to the
    error whatever the chunking, so a caller may handle them before closing.
    """

    def __init__(self, code: str, message: str, payloads: tuple[bytes, ...] = ()):
        super().__init__(code, message)
        self.payloads = payloads

    def __reduce__(self):
        return (type(self), (self.code, self.message, self.payloads))


class TcpFrameDecoder:
    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES_DEFAULT):
        if type(max_frame_bytes) is not int or max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be a positive int")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._error: FrameError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add received bytes; return the payloads completed by them, in order."""
        if self._error is not None:
            raise FrameError(self._error.code, self._error.message)
        buffer = self._buffer
        buffer += data
        payloads: list[bytes] = []
        available = len(buffer)
        offset = 0
        while available - offset >= HEADER_BYTES:
            length = int.from_bytes(buffer[offset : offset + HEADER_BYTES], "big")
            if length == 0 or length > self.max_frame_bytes:
                self._poison(length, tuple(payloads))
            end = offset + HEADER_BYTES + length
            if end > available:
                break
            payloads.append(bytes(buffer[offset + HEADER_BYTES : end]))
            offset = end
        if offset:
            # Deleting a prefix of a bytearray is cheap in CPython, and the tail kept is
            # at most this chunk, so the total work stays linear in the bytes fed.
            del buffer[:offset]
        return payloads

    def pending(self) -> int:
        """The number of bytes buffered towards the next frame."""
        return len(self._buffer)

    def _poison(self, length: int, payloads: tuple[bytes, ...]) -> None:
        if length == 0:
            error = FrameError(BAD_FRAME, "empty frame", payloads)
        else:
            error = FrameError(
                FRAME_TOO_LARGE,
                f"frame of {length} bytes exceeds the limit of {self.max_frame_bytes}",
                payloads,
            )
        # Drop whatever was buffered: the body of a rejected frame is never kept.
        self._buffer = bytearray()
        self._error = error
        raise error


def encode_tcp_frame(payload: bytes) -> bytes:
    """Prefix a payload with its length."""
    length = len(payload)
    if not 1 <= length <= _MAX_LENGTH:
        raise ValueError("a frame payload must be 1..2**32-1 bytes")
    return length.to_bytes(HEADER_BYTES, "big") + bytes(payload)


def ws_server_frame(payload: bytes, *, binary: bool) -> bytes:
    """One whole WebSocket message as a server sends it (RFC 6455, 5.2): FIN set, no
    extension, unmasked; opcode 2 (binary) or 1 (text, `payload` UTF-8)."""
    first = 0x82 if binary else 0x81
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload
