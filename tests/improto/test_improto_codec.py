import json

import msgpack
import pytest

from improto import ProtocolError, decode_payload, encode_payload, pack_tcp
from improto.framing import TcpFrameDecoder

DEPTH = 100_000


def bad_frame(data, encoding):
    with pytest.raises(ProtocolError) as info:
        decode_payload(data, encoding)
    assert info.value.code == "bad_frame"
    assert info.value.closes
    assert info.value.frame_id is None
    return info.value


def test_json_round_trip_compact_and_unicode():
    obj = {"type": "text", "body": {"text": "héllo 😀"}, "n": [1, 2.5, None, True]}
    text = encode_payload(obj, "json")
    assert isinstance(text, str)
    assert text == '{"type":"text","body":{"text":"héllo 😀"},"n":[1,2.5,null,true]}'
    assert decode_payload(text, "json") == obj
    assert decode_payload(text.encode(), "json") == obj
    assert decode_payload(bytearray(text.encode()), "json") == obj


def test_msgpack_round_trip_uses_bin_type():
    obj = {"type": "x", "blob": b"\x00\xff", "s": "é"}
    data = encode_payload(obj, "msgpack")
    assert isinstance(data, bytes)
    assert decode_payload(data, "msgpack") == obj
    assert decode_payload(memoryview(data), "msgpack") == obj


def test_pack_tcp():
    obj = {"type": "heartbeat"}
    framed = pack_tcp(obj)
    assert framed[:4] == len(msgpack.packb(obj)).to_bytes(4, "big")
    (payload,) = TcpFrameDecoder().feed(framed)
    assert decode_payload(payload, "msgpack") == obj


def test_encode_rejects_non_dict_and_unknown_encoding():
    with pytest.raises(TypeError):
        encode_payload([1], "json")
    with pytest.raises(ValueError):
        encode_payload({}, "xml")
    with pytest.raises(ValueError):
        decode_payload(b"{}", "xml")


def test_encode_json_refuses_nan():
    with pytest.raises(ValueError):
        encode_payload({"x": float("nan")}, "json")


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
@pytest.mark.parametrize("value", [[], [1], "s", 1, None, True, 1.5])
def test_non_map_payloads_are_bad_frames(encoding, value):
    data = json.dumps(value) if encoding == "json" else msgpack.packb(value)
    bad_frame(data, encoding)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "{",
        '{"a":}',
        "{'a': 1}",
        '{"a":1}x',
        '{"a":1}{"b":2}',
        '{"a":NaN}',
        '{"a":Infinity}',
        '{"a":-Infinity}',
        '{"a":1e999}',
        '{"a":-1e999}',
        '{"a":"\\ud800"}',
        '{"a":"\\udc00x"}',
        '{"\\ud800":1}',
        '{"a":["ok","\\uDBFF"]}',
        '{"a":"\\ud83d\\u0041"}',  # high surrogate followed by a non-surrogate
        '{"a":' + "1" * 5000 + "}",  # beyond the int digit limit
        '{"a":18446744073709551616}',  # 2**64: no MessagePack int can carry it
        '{"a":-9223372036854775809}',
        "\ufeff{}",
    ],
)
def test_bad_json(text):
    bad_frame(text, "json")


def test_json_accepts_escaped_surrogate_pairs():
    assert decode_payload('{"a":"\\ud83d\\ude00"}', "json") == {"a": "😀"}


def test_json_lone_surrogate_in_the_text_itself():
    bad_frame('{"a":"\ud800"}', "json")


@pytest.mark.parametrize("data", [b"\xff{}", b'{"a":"\xc3"}', b'{"a":"\xed\xa0\x80"}'])
def test_json_invalid_utf8(data):
    bad_frame(data, "json")


def test_json_rejects_wrong_input_types():
    bad_frame(None, "json")
    bad_frame(12, "json")
    bad_frame({"a": 1}, "json")


@pytest.mark.parametrize(
    "text",
    [
        "[" * DEPTH + "]" * DEPTH,
        '{"a":' * DEPTH + "1" + "}" * DEPTH,
        '{"a":' + "[" * DEPTH,
    ],
)
def test_json_deep_nesting(text):
    bad_frame(text, "json")
    bad_frame(text.encode(), "json")


@pytest.mark.parametrize(
    "data",
    [
        b"\x91" * DEPTH + b"\xc0",
        b"\x81\xa1a" * DEPTH + b"\xc0",
        b"\x81\xa1a" * DEPTH,
    ],
)
def test_msgpack_deep_nesting(data):
    bad_frame(data, "msgpack")


def test_moderate_nesting_is_fine():
    obj = {"a": [[[[[[[[[[{"b": 1}]]]]]]]]]]}
    for encoding in ("json", "msgpack"):
        assert decode_payload(encode_payload(obj, encoding), encoding) == obj


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never used
        b"\x82\xa1a\x01",  # map of two with one entry
        msgpack.packb({"a": 1}) + b"\x00",  # trailing data
        msgpack.packb({1: "int key"}),
        msgpack.packb({b"k": "bin key"}, use_bin_type=True),
        msgpack.packb({"a": {2.5: 1}}),
        msgpack.packb({"a": msgpack.ExtType(5, b"x")}),
        msgpack.packb({"a": msgpack.Timestamp(1, 0)}),
        msgpack.packb({"a": float("nan")}),
        msgpack.packb({"a": [float("inf")]}),
        b"\x81\xa1a\xa2\xed\xa0",  # invalid UTF-8 (an encoded surrogate)
        b"\x81\xa1a\xa1\xff",
        b"\x81\xa1a\xdd\xff\xff\xff\xff",  # array claiming 4 G entries
        b"\x81\xa1a\xdb\xff\xff\xff\xff",  # str claiming 4 GB
    ],
)
def test_bad_msgpack(data):
    bad_frame(data, "msgpack")


def test_msgpack_rejects_text_input():
    bad_frame('{"a":1}', "msgpack")
    bad_frame(None, "msgpack")


def test_msgpack_allows_binary_values_and_big_ints():
    data = msgpack.packb({"a": b"\x00", "n": 2**64 - 1, "m": -(2**63)}, use_bin_type=True)
    assert decode_payload(data, "msgpack") == {"a": b"\x00", "n": 2**64 - 1, "m": -(2**63)}


def test_json_int_range_matches_msgpack():
    text = '{"a":18446744073709551615,"b":-9223372036854775808}'
    assert decode_payload(text, "json") == {"a": 2**64 - 1, "b": -(2**63)}


def test_nul_is_allowed_by_the_codec():
    # NUL is a valid character; parse_command decides where it is acceptable.
    assert decode_payload('{"a":"\\u0000"}', "json") == {"a": "\x00"}
