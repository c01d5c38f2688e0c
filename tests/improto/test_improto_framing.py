import pickle
import time

import pytest

from improto import (
    MAX_FRAME_BYTES_DEFAULT,
    FrameError,
    ProtocolError,
    TcpFrameDecoder,
    encode_tcp_frame,
)


def header(n: int) -> bytes:
    return n.to_bytes(4, "big")


def test_encode():
    assert encode_tcp_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_tcp_frame(bytearray(b"x")) == b"\x00\x00\x00\x01x"


def test_encode_rejects_empty_payload():
    with pytest.raises(ValueError):
        encode_tcp_frame(b"")


def test_default_limit():
    assert MAX_FRAME_BYTES_DEFAULT == 65536
    assert TcpFrameDecoder().max_frame_bytes == 65536


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, None])
def test_rejects_bad_limit(bad):
    with pytest.raises(ValueError):
        TcpFrameDecoder(bad)


def test_several_frames_in_one_chunk():
    decoder = TcpFrameDecoder()
    data = encode_tcp_frame(b"one") + encode_tcp_frame(b"two") + encode_tcp_frame(b"3")
    assert decoder.feed(data) == [b"one", b"two", b"3"]
    assert decoder.pending() == 0


def test_partial_frames_are_buffered():
    decoder = TcpFrameDecoder()
    data = encode_tcp_frame(b"hello") + encode_tcp_frame(b"world")
    assert decoder.feed(data[:2]) == []
    assert decoder.pending() == 2
    assert decoder.feed(data[2:7]) == []
    assert decoder.pending() == 7
    assert decoder.feed(data[7:11]) == [b"hello"]
    assert decoder.pending() == 2
    assert decoder.feed(data[11:]) == [b"world"]
    assert decoder.pending() == 0
    assert decoder.feed(b"") == []


def test_payloads_are_bytes_and_accepts_memoryview():
    decoder = TcpFrameDecoder()
    (payload,) = decoder.feed(memoryview(encode_tcp_frame(b"abc")))
    assert type(payload) is bytes


def test_frame_at_the_limit_is_accepted():
    decoder = TcpFrameDecoder(max_frame_bytes=10)
    assert decoder.feed(encode_tcp_frame(b"x" * 10)) == [b"x" * 10]


def test_oversized_header_raises_before_the_body_arrives():
    decoder = TcpFrameDecoder(max_frame_bytes=10)
    assert decoder.feed(header(11)[:3]) == []
    with pytest.raises(ProtocolError) as info:
        decoder.feed(header(11)[3:])  # only the header: no body byte has been sent
    assert info.value.code == "frame_too_large"
    assert info.value.closes
    assert decoder.pending() == 0


def test_oversized_default_limit_and_huge_header():
    decoder = TcpFrameDecoder()
    with pytest.raises(ProtocolError) as info:
        decoder.feed(header(65537))
    assert info.value.code == "frame_too_large"
    with pytest.raises(ProtocolError) as info:
        TcpFrameDecoder().feed(b"\xff\xff\xff\xff")
    assert info.value.code == "frame_too_large"


def test_oversized_frame_body_is_not_kept():
    decoder = TcpFrameDecoder(max_frame_bytes=10)
    with pytest.raises(ProtocolError):
        decoder.feed(header(1000) + b"x" * 500)
    assert decoder.pending() == 0


def test_empty_frame_is_bad_frame():
    decoder = TcpFrameDecoder()
    with pytest.raises(ProtocolError) as info:
        decoder.feed(header(0))
    assert info.value.code == "bad_frame"
    assert info.value.closes


@pytest.mark.parametrize("first", [header(0), header(70000)])
def test_poisoned_decoder_keeps_raising(first):
    decoder = TcpFrameDecoder()
    with pytest.raises(ProtocolError) as info:
        decoder.feed(first)
    code = info.value.code
    for data in (b"", encode_tcp_frame(b"ok"), b"\x00"):
        with pytest.raises(ProtocolError) as again:
            decoder.feed(data)
        assert again.value.code == code
        assert again.value.message == info.value.message
        assert again.value.payloads == ()
    assert decoder.pending() == 0


def test_frames_before_the_error_are_carried_by_the_exception():
    decoder = TcpFrameDecoder(max_frame_bytes=10)
    frame = encode_tcp_frame(b"b")
    assert decoder.feed(encode_tcp_frame(b"a") + frame[:3]) == [b"a"]
    with pytest.raises(FrameError) as info:
        decoder.feed(frame[3:] + header(0))
    assert info.value.code == "bad_frame"
    assert info.value.payloads == (b"b",)


def test_frames_before_an_oversized_header_in_the_same_chunk():
    decoder = TcpFrameDecoder(max_frame_bytes=10)
    data = encode_tcp_frame(b"one") + encode_tcp_frame(b"two") + header(11) + b"junk"
    with pytest.raises(FrameError) as info:
        decoder.feed(data)
    assert info.value.code == "frame_too_large"
    assert info.value.payloads == (b"one", b"two")
    assert info.value.frame_id is None


def test_frame_error_pickles():
    exc = pickle.loads(pickle.dumps(FrameError("bad_frame", "empty frame", (b"a",))))
    assert (exc.code, exc.message, exc.payloads) == ("bad_frame", "empty frame", (b"a",))


def test_linear_for_many_small_frames_in_one_chunk():
    count = 200_000
    data = encode_tcp_frame(b"xy") * count
    started = time.perf_counter()
    payloads = TcpFrameDecoder().feed(data)
    elapsed = time.perf_counter() - started
    assert len(payloads) == count
    assert elapsed < 5  # ~0.1 s when linear; a quadratic buffer takes minutes


def test_linear_for_one_big_frame_fed_byte_by_byte():
    size = 300_000
    data = encode_tcp_frame(b"z" * size)
    decoder = TcpFrameDecoder(max_frame_bytes=size)
    feed = decoder.feed
    started = time.perf_counter()
    results = [feed(data[i : i + 1]) for i in range(len(data))]
    elapsed = time.perf_counter() - started
    assert results[-1] == [b"z" * size]
    assert not any(results[:-1])
    assert elapsed < 5  # ~0.3 s when linear
