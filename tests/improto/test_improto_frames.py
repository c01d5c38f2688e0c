import pytest

from improto import (
    CLIENT_TYPES,
    CONTENT_TYPES,
    MEDIA_TYPES,
    Auth,
    Heartbeat,
    Limits,
    ProtocolError,
    Send,
    SyncChannels,
    SyncRange,
    ack,
    auth_ok,
    command_to_dict,
    error,
    heartbeat_reply,
    message,
    offline,
    parse_command,
    parse_server_frame,
    sync_channels_reply,
    sync_range_reply,
)

MAX = 2**63 - 1


def rejected(obj, code="invalid", limits=None):
    with pytest.raises(ProtocolError) as info:
        parse_command(obj) if limits is None else parse_command(obj, limits)
    assert info.value.code == code, info.value.message
    return info.value


def text_frame(**changes):
    frame = {"type": "text", "id": "c-1", "to": 7, "body": {"text": "hello"}}
    frame.update(changes)
    return frame


# --- type and id ---------------------------------------------------------------------


def test_client_types():
    assert CONTENT_TYPES == ("text", "emoji", "image", "video", "audio", "file")
    assert MEDIA_TYPES == ("image", "video", "audio", "file")
    assert set(CLIENT_TYPES) == {"auth", "heartbeat", "sync", *CONTENT_TYPES,
                                 "read", "typing", "edit", "recall"}


@pytest.mark.parametrize("kind", [None, 1, True, b"text", ["text"], {"t": 1}])
def test_type_missing_or_not_a_string_is_invalid(kind):
    frame = {"id": "x1"} if kind is None else {"type": kind, "id": "x1"}
    exc = rejected(frame)
    assert exc.frame_id == "x1"
    assert not exc.closes


@pytest.mark.parametrize("kind", ["", "Text", "auth_ok", "ack", "error", "offline", "message"])
def test_unknown_type(kind):
    exc = rejected({"type": kind, "id": "u1"}, "unknown_type")
    assert exc.frame_id == "u1"
    assert not exc.closes
    assert exc.to_frame() == {
        "type": "error",
        "id": "u1",
        "code": "unknown_type",
        "message": exc.message,
    }


def test_unknown_type_with_invalid_id_has_no_frame_id():
    assert rejected({"type": "nope", "id": 5}, "unknown_type").frame_id is None


def test_not_a_dict_is_bad_frame():
    rejected(["type", "text"], "bad_frame")


@pytest.mark.parametrize("bad_id", ["", "x" * 65, 5, True, b"id", ["a"], "a\x00", "\ud800"])
@pytest.mark.parametrize("kind", ["heartbeat", "sync", "auth", "text"])
def test_bad_id_is_invalid_without_frame_id(kind, bad_id):
    frame = {"type": kind, "id": bad_id, "token": "t", "to": 1, "body": {"text": "x"}}
    assert rejected(frame).frame_id is None


def test_id_of_64_chars_and_non_ascii():
    assert parse_command({"type": "heartbeat", "id": "x" * 64}).id == "x" * 64
    assert parse_command({"type": "heartbeat", "id": "😀" * 64}).id == "😀" * 64
    rejected({"type": "heartbeat", "id": "😀" * 65})


def test_optional_id():
    assert parse_command({"type": "heartbeat"}) == Heartbeat(id=None)
    assert parse_command({"type": "heartbeat", "id": None}) == Heartbeat(id=None)
    assert parse_command({"type": "heartbeat", "id": "h"}) == Heartbeat(id="h")
    assert parse_command({"type": "sync"}) == SyncChannels(id=None)


@pytest.mark.parametrize("kind", CONTENT_TYPES)
def test_content_requires_id(kind):
    frame = {"type": kind, "to": 1, "body": {"text": "x", "emoji": "x", "media": "m"}}
    assert rejected(frame).frame_id is None
    assert rejected({**frame, "id": None}).frame_id is None


def test_errors_carry_the_frame_id():
    assert rejected(text_frame(to=0)).frame_id == "c-1"
    assert rejected({"type": "auth", "id": "a1"}).frame_id == "a1"
    assert rejected({"type": "sync", "id": "s", "channel": "g:0"}).frame_id == "s"


# --- auth ----------------------------------------------------------------------------


def test_auth():
    frame = {"type": "auth", "id": "a1", "token": "tok", "device": "phone-1", "v": 1}
    assert parse_command(frame) == Auth(id="a1", token="tok", device="phone-1", v=1)


def test_auth_defaults():
    assert parse_command({"type": "auth", "token": "t"}) == Auth(
        id=None, token="t", device="default", v=1
    )
    assert parse_command({"type": "auth", "token": "t", "device": None, "v": None}).v == 1


@pytest.mark.parametrize("token", [None, "", 5, b"tok", "x" * 257, "a\x00b", "\udc00"])
def test_auth_bad_token_value_is_invalid(token):
    frame = {"type": "auth", "token": token}
    if token is None:
        del frame["token"]
    rejected(frame)


def test_auth_token_limit():
    assert parse_command({"type": "auth", "token": "x" * 256}).token == "x" * 256
    rejected({"type": "auth", "token": "x" * 11}, limits=Limits(max_token_chars=10))


@pytest.mark.parametrize("device", [
    "", "d" * 65, 3, True, ["d"], "d\x00", "\ud800",
    # Outside the alphabet (letters, digits, -_.:@): separators, spaces, look-alikes.
    "pho|ne", "pho ne", "a/b", "a#1", "ph\u043ene", "\u00e9", "a\nb",
])
def test_auth_bad_device(device):
    rejected({"type": "auth", "token": "t", "device": device})


@pytest.mark.parametrize("device", ["phone-1", "A.b_c:d@e-9", "-", "@"])
def test_auth_device_alphabet(device):
    assert parse_command({"type": "auth", "token": "t", "device": device}).device == device


def test_auth_device_limit():
    assert parse_command({"type": "auth", "token": "t", "device": "d" * 64}).device == "d" * 64


@pytest.mark.parametrize("version", [0, 2, -1, True, 1.0, "1"])
def test_auth_unsupported_or_bad_version(version):
    rejected({"type": "auth", "token": "t", "v": version})


# --- content -------------------------------------------------------------------------


def test_text_to_user():
    assert parse_command(text_frame()) == Send(
        id="c-1", type="text", to=7, group=None, body={"text": "hello"}
    )


def test_text_to_group():
    frame = {"type": "text", "id": "c-2", "group": 9, "body": {"text": "hi all"}}
    assert parse_command(frame) == Send(
        id="c-2", type="text", to=None, group=9, body={"text": "hi all"}
    )


def test_both_to_and_group():
    rejected(text_frame(group=9))


def test_neither_to_nor_group():
    frame = text_frame()
    del frame["to"]
    rejected(frame)
    rejected(text_frame(to=None))


def test_null_counterpart_counts_as_absent():
    assert parse_command(text_frame(group=None)).to == 7


@pytest.mark.parametrize("target", [True, False, 0, -3, 1.0, "7", MAX + 1, [7], {"id": 7}])
@pytest.mark.parametrize("field", ["to", "group"])
def test_bad_target(field, target):
    frame = text_frame()
    del frame["to"]
    frame[field] = target
    rejected(frame)


def test_largest_target():
    assert parse_command(text_frame(to=MAX)).to == MAX


@pytest.mark.parametrize("body", [None, "hello", ["hello"], 1, b"x"])
def test_body_must_be_a_map(body):
    rejected(text_frame(body=body))


def test_body_keys_are_stripped_and_from_is_ignored():
    frame = text_frame(
        body={"text": "hi", "url": "http://evil", "mime": "x", "from": 1, "seq": 5},
        **{"from": 99, "channel": "p:1:2", "seq": 3, "ts": 1},
    )
    command = parse_command(frame)
    assert command.body == {"text": "hi"}
    assert not hasattr(command, "from_")


def test_media_body_keys_are_stripped():
    frame = {
        "type": "image",
        "id": "m1",
        "to": 2,
        "body": {
            "media": "abc",
            "caption": "look",
            "url": "u",
            "mime": "m",
            "size": 1,
            "name": "n",
            "width": 1,
            "height": 2,
            "duration": 3,
        },
    }
    assert parse_command(frame).body == {"media": "abc", "caption": "look"}


def test_body_is_a_fresh_dict():
    body = {"text": "x"}
    assert parse_command(text_frame(body=body)).body is not body


@pytest.mark.parametrize(
    "text", ["", None, 5, ["x"], b"x", "a\x00b", "\ud800", "x\udfff", "x" * 4001]
)
def test_bad_text(text):
    rejected(text_frame(body={} if text is None else {"text": text}))


def test_text_limits_count_code_points():
    assert parse_command(text_frame(body={"text": "x" * 4000})).body["text"] == "x" * 4000
    emoji = "😀" * 4000  # 8000 UTF-16 units, 16000 UTF-8 bytes, 4000 characters
    assert parse_command(text_frame(body={"text": emoji})).body["text"] == emoji
    rejected(text_frame(body={"text": "😀" * 4001}))
    rejected(text_frame(body={"text": "x" * 11}), limits=Limits(max_text_chars=10))


def test_whitespace_text_is_kept_verbatim():
    assert parse_command(text_frame(body={"text": " \n "})).body == {"text": " \n "}


def test_emoji():
    frame = {"type": "emoji", "id": "e", "group": 3, "body": {"emoji": "👍", "text": "x"}}
    assert parse_command(frame).body == {"emoji": "👍"}
    assert parse_command({**frame, "body": {"emoji": "s" * 64}}).body["emoji"] == "s" * 64


@pytest.mark.parametrize("emoji", ["", None, 1, "s" * 65, "\x00", "\ud83d"])
def test_bad_emoji(emoji):
    rejected({"type": "emoji", "id": "e", "to": 1, "body": {"emoji": emoji}})


@pytest.mark.parametrize("kind", MEDIA_TYPES)
def test_media(kind):
    frame = {"type": kind, "id": "m", "to": 4, "body": {"media": "med-1"}}
    assert parse_command(frame) == Send(
        id="m", type=kind, to=4, group=None, body={"media": "med-1"}
    )
    with_caption = {**frame, "body": {"media": "med-1", "caption": ""}}
    assert parse_command(with_caption).body == {"media": "med-1", "caption": ""}
    null_caption = {**frame, "body": {"media": "med-1", "caption": None}}
    assert parse_command(null_caption).body == {"media": "med-1"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": "x"},
        {"media": ""},
        {"media": 5},
        {"media": "m" * 65},
        {"media": "m\x00"},
        {"media": "m", "caption": 5},
        {"media": "m", "caption": "c" * 4001},
        {"media": "m", "caption": "\x00"},
        {"media": "m", "caption": "\ud800"},
    ],
)
def test_bad_media_body(body):
    rejected({"type": "file", "id": "m", "to": 1, "body": body})


# --- sync ----------------------------------------------------------------------------


def test_sync_channels_ignores_range_fields_without_channel():
    assert parse_command({"type": "sync", "id": "s0"}) == SyncChannels(id="s0")
    frame = {"type": "sync", "id": "s0", "after": "x", "limit": -1, "channel": None}
    assert parse_command(frame) == SyncChannels(id="s0")


def test_sync_range():
    frame = {"type": "sync", "id": "s1", "channel": "g:9", "after": 200, "limit": 100}
    assert parse_command(frame) == SyncRange(id="s1", channel="g:9", after=200, limit=100)


def test_sync_range_defaults():
    assert parse_command({"type": "sync", "channel": "p:3:7"}) == SyncRange(
        id=None, channel="p:3:7", after=0, limit=100
    )
    limits = Limits(sync_limit_default=20, sync_limit_max=50)
    assert parse_command({"type": "sync", "channel": "g:1"}, limits).limit == 20


@pytest.mark.parametrize("channel", ["p:7:3", "p:03:7", "g:0", "g:-1", "", 9, ["g:9"], "x"])
def test_sync_bad_channel(channel):
    rejected({"type": "sync", "id": "s", "channel": channel})


@pytest.mark.parametrize("after", [-1, True, 1.5, "0", MAX + 1])
def test_sync_bad_after(after):
    rejected({"type": "sync", "channel": "g:1", "after": after})


@pytest.mark.parametrize("limit", [0, -1, 501, True, 10.0, "10"])
def test_sync_bad_limit(limit):
    rejected({"type": "sync", "channel": "g:1", "limit": limit})


def test_sync_limit_bounds():
    assert parse_command({"type": "sync", "channel": "g:1", "limit": 500}).limit == 500
    assert parse_command({"type": "sync", "channel": "g:1", "limit": 1}).limit == 1
    assert parse_command({"type": "sync", "channel": "g:1", "after": MAX}).after == MAX
    limits = Limits(sync_limit_default=50, sync_limit_max=50)
    rejected({"type": "sync", "channel": "g:1", "limit": 51}, limits=limits)


# --- heartbeat -----------------------------------------------------------------------


def test_heartbeat_ignores_other_fields():
    assert parse_command({"type": "heartbeat", "token": 5, "body": []}) == Heartbeat(id=None)


# --- limits --------------------------------------------------------------------------


def test_limits_defaults_and_validation():
    limits = Limits()
    assert (limits.max_text_chars, limits.max_emoji_chars, limits.max_id_chars) == (4000, 64, 64)
    assert (limits.max_device_chars, limits.max_token_chars) == (64, 256)
    assert (limits.sync_limit_default, limits.sync_limit_max) == (100, 500)
    with pytest.raises(ValueError):
        Limits(max_text_chars=0)
    with pytest.raises(ValueError):
        Limits(sync_limit_default=501)


# --- command_to_dict -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        Auth(id="a", token="t", device="d", v=1),
        Auth(id=None, token="t", device="default", v=1),
        Heartbeat(id=None),
        Heartbeat(id="h"),
        SyncChannels(id="s"),
        SyncRange(id=None, channel="p:1:2", after=5, limit=7),
        Send(id="c", type="text", to=3, group=None, body={"text": "x"}),
        Send(id="c", type="file", to=None, group=3, body={"media": "m", "caption": "c"}),
    ],
)
def test_command_to_dict_round_trips(command):
    assert parse_command(command_to_dict(command)) == command


def test_command_to_dict_shape():
    send = Send(id="c", type="text", to=3, group=None, body={"text": "x"})
    assert command_to_dict(send) == {"type": "text", "to": 3, "body": {"text": "x"}, "id": "c"}
    with pytest.raises(TypeError):
        command_to_dict({"type": "heartbeat"})


# --- server frames -------------------------------------------------------------------


def test_auth_ok():
    assert auth_ok(id="a1", user=3, device="phone-1", heartbeat=30, ts=1764230000000) == {
        "type": "auth_ok",
        "id": "a1",
        "user": 3,
        "device": "phone-1",
        "heartbeat": 30,
        "ts": 1764230000000,
    }


def test_ack():
    assert ack(id="c-7f3a", channel="p:3:7", seq=18, ts=1) == {
        "type": "ack",
        "id": "c-7f3a",
        "channel": "p:3:7",
        "seq": 18,
        "ts": 1,
    }
    assert ack(id="c", channel="g:1", seq=1, ts=1, dup=True)["dup"] is True
    assert "dup" not in ack(id="c", channel="g:1", seq=1, ts=1, dup=False)


def test_heartbeat_reply():
    assert heartbeat_reply(ts=5) == {"type": "heartbeat", "ts": 5}
    assert heartbeat_reply(ts=5, id="h") == {"type": "heartbeat", "ts": 5, "id": "h"}


def test_offline():
    reconnect = {"ws": "ws://h:1/ws/", "tcp": "h:2"}
    assert offline(reason="rebalance", reconnect=reconnect) == {
        "type": "offline",
        "reason": "rebalance",
        "reconnect": reconnect,
    }
    assert offline(reason="kicked", reconnect=None)["reconnect"] is None


def test_sync_replies():
    channels = [{"channel": "p:3:7", "last_seq": 18}]
    assert sync_channels_reply(id="s0", channels=channels) == {
        "type": "sync",
        "id": "s0",
        "channels": channels,
    }
    assert sync_range_reply(id="s1", channel="g:9", messages=[], last_seq=240) == {
        "type": "sync",
        "id": "s1",
        "channel": "g:9",
        "messages": [],
        "last_seq": 240,
    }


def test_error_builder():
    assert error(code="forbidden", message="no") == {
        "type": "error",
        "id": None,
        "code": "forbidden",
        "message": "no",
    }


def test_message_builder():
    frame = message(
        type="text", id="c", channel="p:3:7", seq=18, ts=9, sender=3, to=7, body={"text": "hi"}
    )
    assert frame == {
        "type": "text",
        "id": "c",
        "channel": "p:3:7",
        "seq": 18,
        "ts": 9,
        "from": 3,
        "to": 7,
        "body": {"text": "hi"},
    }
    group = message(type="emoji", id="c", channel="g:9", seq=1, ts=9, sender=3, group=9, body={})
    assert group["group"] == 9 and "to" not in group
    with pytest.raises(ValueError):
        message(type="text", id="c", channel="g:9", seq=1, ts=1, sender=3, body={})


def test_parse_server_frame():
    frame = {"type": "something_new", "x": 1}
    assert parse_server_frame(frame) is frame
    for bad in ({}, {"type": 1}, {"type": None}, [], "ack"):
        with pytest.raises(ProtocolError) as info:
            parse_server_frame(bad)
        assert info.value.code == "bad_frame"
