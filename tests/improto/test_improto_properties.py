"""Property tests: no input escapes as anything but ProtocolError, and every valid
command survives both encodings and TCP framing unchanged."""

import itertools
import json

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from improto import (
    CLIENT_TYPES,
    CONTENT_TYPES,
    MEDIA_TYPES,
    Auth,
    FrameError,
    Heartbeat,
    ProtocolError,
    Send,
    SyncChannels,
    SyncRange,
    TcpFrameDecoder,
    command_to_dict,
    decode_payload,
    encode_payload,
    encode_tcp_frame,
    g_channel,
    p_channel,
    pack_tcp,
    parse_command,
)
from improto.codec import encode_json

MAX = 2**63 - 1

# Profiles local to these tests (no global profile is loaded, so other test suites keep
# their own settings): enough examples to find the classic bugs, fast enough for ~10 s.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ROUND_TRIP = settings(FUZZ, max_examples=200)

# --- arbitrary values ------------------------------------------------------------------

any_char = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))
any_text = st.text(alphabet=any_char, max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**65),
    st.integers(min_value=-3, max_value=600),
    st.floats(),
    any_text,
    st.binary(max_size=12),
)
COMMAND_KEYS = ["id", "to", "group", "token", "device", "v", "channel", "after", "limit"]
BODY_KEYS = ["text", "emoji", "media", "caption"]
KNOWN_KEYS = ["type", "body", *COMMAND_KEYS, *BODY_KEYS, "from", "url", "mime", "seq", "ts"]
keys = st.one_of(st.sampled_from(KNOWN_KEYS), any_text)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=15,
)
odd_keys = st.one_of(keys, st.integers(), st.binary(max_size=4), st.floats(), st.booleans())
almost_valid = st.one_of(
    values,
    st.sampled_from(["", "x", "g:1", "p:1:2", "p:2:1", "g:0", "😀", "a\x00", "\ud800"]),
    st.integers(min_value=-2, max_value=MAX + 2),
    st.sampled_from([0, 1, MAX, MAX + 1, True, False, 1.0]),
    st.text(max_size=70),
)
bodies = st.dictionaries(
    st.sampled_from(["text", "emoji", "media", "caption", "url", "mime"]),
    almost_valid,
    max_size=4,
)
frames = st.builds(
    lambda required, optional, extra: {**extra, **required, **optional},
    st.fixed_dictionaries({"type": st.one_of(st.sampled_from(CLIENT_TYPES), values)}),
    st.fixed_dictionaries(
        {},
        optional={
            **dict.fromkeys(COMMAND_KEYS, almost_valid),
            "body": st.one_of(bodies, values),
        },
    ),
    st.dictionaries(odd_keys, values, max_size=3),
)


def check_parse(frame):
    try:
        command = parse_command(frame)
    except ProtocolError as exc:
        event(f"rejected: {exc.code}")
        assert exc.code in {"invalid", "unknown_type"}
        assert exc.frame_id is None or exc.frame_id == frame.get("id")
        json.dumps(exc.to_frame(), allow_nan=False).encode("utf-8")  # always sendable
    else:
        event(f"accepted: {type(command).__name__}")
        # Whatever is accepted is already normal: it re-parses to itself.
        assert parse_command(command_to_dict(command)) == command


@FUZZ
@given(frames)
def test_parse_command_raises_only_protocol_error(frame):
    check_parse(frame)


@FUZZ
@given(st.dictionaries(odd_keys, values, max_size=6))
def test_parse_command_on_arbitrary_maps(frame):
    try:
        parse_command(frame)
    except ProtocolError:
        pass


# --- arbitrary bytes into the codec ---------------------------------------------------


def check_decode(data, encoding):
    try:
        obj = decode_payload(data, encoding)
    except ProtocolError as exc:
        assert exc.code == "bad_frame"
        return None
    assert isinstance(obj, dict)
    # Both encodings share one value domain: whatever one accepts, both carry unchanged
    # (binary strings aside, which JSON has not).
    for target in ("json", "msgpack"):
        if target == "json" and contains_bytes(obj):
            continue
        assert decode_payload(encode_payload(obj, target), target) == obj
    return obj


def contains_bytes(value) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(contains_bytes(item) for item in value)
    if isinstance(value, dict):
        return any(contains_bytes(item) for item in value.values())
    return False


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["json", "msgpack"]))
def test_decode_payload_on_arbitrary_bytes(data, encoding):
    check_decode(data, encoding)


@FUZZ
@given(st.text(alphabet=any_char, max_size=100))
def test_decode_json_on_arbitrary_text(text):
    check_decode(text, "json")


def no_bytes(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [no_bytes(item) for item in value]
    if isinstance(value, dict):
        return {str(key): no_bytes(item) for key, item in value.items()}
    return value


# Values every encoder accepts: what a well-behaved peer may put in fields we ignore.
wire_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
wire_values = st.recursive(
    wire_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=10,
)
msgpack_extras = st.one_of(
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8)),
    st.builds(msgpack.Timestamp, st.integers(0, 2**32), st.integers(0, 10**9 - 1)),
)
msgpack_values = st.recursive(
    st.one_of(wire_scalars, st.floats(), st.binary(max_size=8), msgpack_extras),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=5), st.binary(max_size=3)), children),
    ),
    max_leaves=15,
)


@FUZZ
@given(msgpack_values)
def test_decode_msgpack_on_structured_values(value):
    obj = check_decode(msgpack.packb(value, use_bin_type=True), "msgpack")
    if obj is not None:
        assert obj == value


@FUZZ
@given(values)
def test_decode_json_on_structured_values(value):
    text = json.dumps(no_bytes(value))  # NaN, Infinity and "\ud800" escapes included
    check_decode(text, "json")
    check_decode(text.encode("utf-8", "surrogatepass"), "json")


@FUZZ
@given(st.dictionaries(st.text(max_size=6), wire_values, max_size=4),
       st.sampled_from([float("nan"), float("inf"), float("-inf")]))
def test_encode_json_means_what_the_decoder_reads_and_refuses_non_finite(value, bad):
    data = encode_json(value)
    assert decode_payload(data, "json") == value
    assert json.loads(data) == value
    with pytest.raises(ValueError):
        encode_json({**value, "bad": [bad]})


@st.composite
def mutated(draw):
    value = draw(st.dictionaries(st.sampled_from(KNOWN_KEYS), wire_values, min_size=1, max_size=4))
    encoding = draw(st.sampled_from(["json", "msgpack"]))
    if encoding == "json":
        data = bytearray(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    else:
        data = bytearray(msgpack.packb(value, use_bin_type=True))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.integers(0, 255))
        if action == "insert":
            data.insert(position, byte)
        elif position < len(data):
            if action == "delete":
                del data[position]
            else:
                data[position] = byte
    return bytes(data), encoding


@FUZZ
@given(mutated())
def test_decode_payload_on_mutated_payloads(case):
    check_decode(*case)


# --- arbitrary bytes into the TCP decoder ---------------------------------------------


def reference_decode(data: bytes, max_frame_bytes: int):
    """The stream read in one pass: the payloads before any error, and the error code."""
    payloads, offset = [], 0
    while len(data) - offset >= 4:
        length = int.from_bytes(data[offset : offset + 4], "big")
        if length == 0:
            return payloads, "bad_frame"
        if length > max_frame_bytes:
            return payloads, "frame_too_large"
        if len(data) - offset - 4 < length:
            break
        payloads.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return payloads, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def feed_chunks(decoder: TcpFrameDecoder, chunks: list[bytes]):
    payloads = []
    for chunk in chunks:
        try:
            payloads.extend(decoder.feed(chunk))
        except FrameError as exc:
            payloads.extend(exc.payloads)
            return payloads, exc.code
    return payloads, None


streams = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda payloads, tail: b"".join(encode_tcp_frame(p) for p in payloads) + tail,
        st.lists(st.binary(min_size=1, max_size=40), max_size=8),
        st.one_of(st.just(b""), st.binary(max_size=8), st.sampled_from([b"\0\0\0\0", b"\0\0\1"])),
    ),
)


@FUZZ
@given(streams, st.lists(st.integers(min_value=0), max_size=20), st.sampled_from([16, 65536]))
def test_decoder_is_independent_of_chunking(data, cuts, max_frame_bytes):
    decoder = TcpFrameDecoder(max_frame_bytes)
    payloads, code = feed_chunks(decoder, split(data, cuts))
    expected_payloads, expected_code = reference_decode(data, max_frame_bytes)
    assert payloads == expected_payloads
    assert code == expected_code
    if code is None:
        consumed = sum(4 + len(p) for p in payloads)
        assert decoder.pending() == len(data) - consumed
    else:
        assert decoder.pending() == 0
        try:
            decoder.feed(b"")
        except ProtocolError as exc:
            assert exc.code == code
        else:
            raise AssertionError("a poisoned decoder must keep raising")


@FUZZ
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=20))
def test_decoder_on_arbitrary_bytes_raises_only_protocol_error(data, cuts):
    decoder = TcpFrameDecoder()
    for chunk in split(data, cuts):
        try:
            decoder.feed(chunk)
        except ProtocolError:
            pass


# --- valid commands survive the wire --------------------------------------------------

MAX_ID = 64
safe_char = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")


def safe_text(min_size: int, max_size: int):
    return st.text(alphabet=safe_char, min_size=min_size, max_size=max_size)


frame_ids = safe_text(1, MAX_ID)
optional_ids = st.one_of(st.none(), frame_ids)
entity_ids = st.one_of(st.integers(1, 1000), st.integers(1, MAX))
channels = st.one_of(st.builds(p_channel, entity_ids, entity_ids), st.builds(g_channel, entity_ids))


@st.composite
def sends(draw):
    kind = draw(st.sampled_from(CONTENT_TYPES))
    if kind == "text":
        body = {"text": draw(st.one_of(safe_text(1, 30), st.just("x" * 4000)))}
    elif kind == "emoji":
        body = {"emoji": draw(safe_text(1, 64))}
    else:
        assert kind in MEDIA_TYPES
        body = {"media": draw(safe_text(1, 64))}
        if draw(st.booleans()):
            body["caption"] = draw(safe_text(0, 30))
    target = draw(entity_ids)
    to, group = (target, None) if draw(st.booleans()) else (None, target)
    return Send(id=draw(frame_ids), type=kind, to=to, group=group, body=body)


device_names = st.from_regex(r"[A-Za-z0-9_.:@-]{1,64}", fullmatch=True)
commands = st.one_of(
    st.builds(Auth, optional_ids, safe_text(1, 256), device_names, st.just(1)),
    st.builds(Heartbeat, optional_ids),
    st.builds(SyncChannels, optional_ids),
    st.builds(SyncRange, optional_ids, channels, st.integers(0, MAX), st.integers(1, 500)),
    sends(),
)
noise = st.dictionaries(
    st.sampled_from(["from", "ts", "seq", "x-extra", "channel_hint"]), wire_values, max_size=2
)
body_noise = st.dictionaries(
    st.sampled_from(["url", "mime", "size", "name", "width", "from"]), wire_values, max_size=3
)


@st.composite
def wire_commands(draw):
    """A valid command and a client frame for it, possibly with fields to be ignored."""
    command = draw(commands)
    frame = command_to_dict(command)
    if isinstance(command, Send):
        frame = {**draw(noise), **frame}
        frame["body"] = {**draw(body_noise), **frame["body"]}
    return command, frame


@ROUND_TRIP
@given(wire_commands(), st.sampled_from(["json", "msgpack"]))
def test_valid_commands_survive_each_encoding(case, encoding):
    command, frame = case
    assert parse_command(decode_payload(encode_payload(frame, encoding), encoding)) == command


@ROUND_TRIP
@given(st.lists(wire_commands(), min_size=1, max_size=6), st.lists(st.integers(0), max_size=12))
def test_valid_commands_survive_tcp_framing(cases, cuts):
    stream = b"".join(pack_tcp(frame) for _, frame in cases)
    decoder = TcpFrameDecoder()
    payloads = []
    for chunk in split(stream, cuts):
        payloads.extend(decoder.feed(chunk))
    assert decoder.pending() == 0
    parsed = [parse_command(decode_payload(payload, "msgpack")) for payload in payloads]
    assert parsed == [command for command, _ in cases]


@st.composite
def near_valid_frames(draw):
    """A valid client frame with a few fields (top level or body) replaced or removed."""
    frame = command_to_dict(draw(commands))
    for _ in range(draw(st.integers(1, 3))):
        target = frame
        if isinstance(frame.get("body"), dict) and draw(st.booleans()):
            target = frame["body"]
        key = draw(st.sampled_from(KNOWN_KEYS))
        if draw(st.integers(0, 3)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(almost_valid)
    return frame


@FUZZ
@given(near_valid_frames())
def test_parse_command_on_near_valid_frames(frame):
    check_parse(frame)
