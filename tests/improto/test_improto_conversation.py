"""Section 11 frames: parsing, building, and the inverse (what the SDK sends)."""

from __future__ import annotations

import pytest

from improto.conversation import (
    ReadMark,
    Revise,
    Typing,
    read_ack,
    read_event,
    typing_event,
)
from improto.errors import ProtocolError
from improto.frames import command_to_dict, parse_command

GOOD = [
    {"type": "read", "id": "r1", "channel": "p:3:7", "seq": 18},
    {"type": "read", "channel": "g:9", "seq": 0},
    {"type": "typing", "channel": "g:9"},
    {"type": "edit", "id": "c-81", "channel": "p:3:7", "target": 18, "body": {"text": "fixed"}},
    {"type": "recall", "id": "c-82", "channel": "p:3:7", "target": 18},
]


@pytest.mark.parametrize("frame", GOOD)
def test_good_frames_parse_and_round_trip(frame):
    command = parse_command(frame)
    assert isinstance(command, ReadMark | Typing | Revise)
    assert command_to_dict(command) == frame


def test_edit_keeps_only_the_text():
    command = parse_command({"type": "edit", "id": "e", "channel": "g:1", "target": 1,
                             "body": {"text": "x", "url": "http://evil"}})
    assert command.body == {"text": "x"}
    recall = parse_command({"type": "recall", "id": "r", "channel": "g:1", "target": 1,
                            "body": {"text": "ignored"}})
    assert recall.body == {}


@pytest.mark.parametrize("frame", [
    {"type": "read", "id": "r", "channel": "x", "seq": 1},
    {"type": "read", "id": "r", "channel": "g:1"},
    {"type": "read", "id": "r", "channel": "g:1", "seq": -1},
    {"type": "read", "id": "r", "channel": "g:1", "seq": True},
    {"type": "typing", "channel": 9},
    {"type": "edit", "channel": "g:1", "target": 1, "body": {"text": "no id"}},
    {"type": "edit", "id": "e", "channel": "g:1", "target": 1, "body": {"text": ""}},
    {"type": "edit", "id": "e", "channel": "g:1", "target": 1, "body": "text"},
    {"type": "edit", "id": "e", "channel": "g:1", "body": {"text": "t"}},
    {"type": "recall", "id": "r", "channel": "g:1", "target": 0},
    {"type": "recall", "id": "r", "channel": "p:1", "target": 1},
])
def test_bad_frames_are_invalid(frame):
    with pytest.raises(ProtocolError) as error:
        parse_command(frame)
    assert error.value.code == "invalid" and not error.value.closes


def test_server_frames():
    assert read_ack(id="r1") == {"type": "ack", "id": "r1"}
    assert read_event(channel="p:3:7", user=3, seq=18) == {
        "type": "read", "channel": "p:3:7", "user": 3, "seq": 18}
    assert typing_event(channel="g:9", user=3) == {"type": "typing", "channel": "g:9", "user": 3}
