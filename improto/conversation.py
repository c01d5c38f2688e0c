"""Conversation state on the wire (docs/protocol.md, Conversation state): read positions, typing,
edit and recall. Commands parsed here, server frames built here.

Edit and recall are content messages (stored, acked, synced); read and typing are
not. The words of the section live here so that the server, the SDK and the tests
spell them one way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .channels import MAX_ID, parse_channel
from .vocabulary import ACK, CONVERSATION_TYPES, EDIT, READ, RECALL, REVISION_TYPES, TYPING

__all__ = ["CONVERSATION_TYPES", "EDIT", "READ", "RECALL", "REVISION_TYPES", "TYPING"]

# Fields a stored message gains (docs/protocol.md, Conversation state).
TARGET = "target"
EDITED = "edited"
RECALLED = "recalled"

# After one typing frame is forwarded, the same user's typing in that channel is
# dropped for this long.
TYPING_THROTTLE_S = 3.0


@dataclass(frozen=True, slots=True)
class ReadMark:
    id: str | None
    channel: str
    seq: int


@dataclass(frozen=True, slots=True)
class Typing:
    id: str | None
    channel: str


@dataclass(frozen=True, slots=True)
class Revise:
    """An `edit` (body {"text"}) or a `recall` (body {}) of `target` in `channel`."""

    id: str
    type: str
    channel: str
    target: int
    body: dict


def parse_conversation(kind: str, fields, limits) -> ReadMark | Typing | Revise:
    """`fields` reads the frame (improto.frames._Fields); `limits` are its Limits."""
    channel = fields.get("channel")
    try:
        parse_channel(channel)
    except ValueError:
        raise fields.invalid("'channel' is not a channel name") from None
    if kind == TYPING:
        return Typing(id=fields.frame_id, channel=channel)
    if kind == READ:
        return ReadMark(id=fields.frame_id, channel=channel, seq=fields.integer("seq", 0, MAX_ID))
    if fields.frame_id is None:
        raise fields.invalid(f"'id' must be a string of 1..{limits.max_id_chars} characters")
    target = fields.integer(TARGET, 1, MAX_ID)
    body: dict = {}
    if kind == EDIT:
        raw = fields.get("body")
        if not isinstance(raw, dict):
            raise fields.invalid("'body' must be a map")
        inner = type(fields)(raw, fields.frame_id)
        body = {"text": inner.text("text", 1, limits.max_text_chars)}
    return Revise(id=fields.frame_id, type=kind, channel=channel, target=target, body=body)


def conversation_to_dict(command: ReadMark | Typing | Revise) -> dict:
    """The client frame for a command (what an SDK sends)."""
    if isinstance(command, ReadMark):
        frame = {"type": READ, "channel": command.channel, "seq": command.seq}
    elif isinstance(command, Typing):
        frame = {"type": TYPING, "channel": command.channel}
    else:
        frame = {"type": command.type, "channel": command.channel, TARGET: command.target}
        if command.type == EDIT:
            frame["body"] = dict(command.body)
    if command.id is not None:
        frame["id"] = command.id
    return frame


# --- server frames ---------------------------------------------------------------------


def read_ack(*, id: str | None) -> dict:
    return {"type": ACK, "id": id}


def read_event(*, channel: str, user: int, seq: int) -> dict:
    return {"type": READ, "channel": channel, "user": user, "seq": seq}


def typing_event(*, channel: str, user: int) -> dict:
    return {"type": TYPING, "channel": channel, "user": user}
