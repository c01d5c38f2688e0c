"""The server's WebSocket frames, as a WebSocket library reads them (RFC 6455)."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from improto.framing import ws_server_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
@pytest.mark.parametrize("binary", [True, False])
def test_a_frame_of_any_length_reads_back_whole(size, binary):
    payload = bytes(i % 251 for i in range(size)) if binary else ("é" * (size // 2)).encode()
    reader = StreamReader()
    reader.feed_data(ws_server_frame(payload, binary=binary))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was not complete")
    assert frame.fin and frame.opcode == (Opcode.BINARY if binary else Opcode.TEXT)
    assert frame.data == payload
