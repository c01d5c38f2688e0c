"""Client commands (parsed and validated) and server frames (built).

`parse_command` turns a decoded client frame into a typed command or raises the
ProtocolError the server answers with. The builders produce the server frames of
docs/protocol.md so that the server, the SDK and the tests spell them one way.

A field whose value is null counts as absent: clients that serialise unset
optional fields as null (common in MessagePack libraries) behave like clients
that leave them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from .channels import MAX_ID, parse_channel
from .conversation import (
    CONVERSATION_TYPES,
    EDITED,
    RECALLED,
    TARGET,
    ReadMark,
    Revise,
    Typing,
    conversation_to_dict,
    parse_conversation,
)
from .errors import BAD_FRAME, ERROR_CODES, INVALID, UNKNOWN_TYPE, ProtocolError
from .vocabulary import (
    ACK,
    AUTH,
    AUTH_OK,
    CLIENT_TYPES,
    CONTENT_TYPES,
    EMOJI,
    ERROR,
    HEARTBEAT,
    MEDIA_TYPES,
    OFFLINE,
    OFFLINE_REASONS,
    SYNC,
    TEXT,
)

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})
DEFAULT_DEVICE = "default"

__all__ = ["CLIENT_TYPES", "CONTENT_TYPES", "MEDIA_TYPES", "OFFLINE_REASONS"]  # re-exported
# A device name: 1..64 letters, digits and -_.:@ (docs/protocol.md, Lifecycle).
DEVICE_NAME = re.compile(r"[A-Za-z0-9_.:@-]+")

_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Limits:
    max_text_chars: int = 4000
    max_emoji_chars: int = 64
    max_id_chars: int = 64
    max_device_chars: int = 64
    max_token_chars: int = 256
    sync_limit_default: int = 100
    sync_limit_max: int = 500

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits.{field.name} must be a positive int")
        if self.sync_limit_default > self.sync_limit_max:
            raise ValueError("Limits.sync_limit_default exceeds sync_limit_max")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Auth:
    id: str | None
    token: str
    device: str
    v: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    id: str | None


@dataclass(frozen=True, slots=True)
class Send:
    id: str
    type: str
    to: int | None
    group: int | None
    body: dict


@dataclass(frozen=True, slots=True)
class SyncChannels:
    id: str | None


@dataclass(frozen=True, slots=True)
class SyncRange:
    id: str | None
    channel: str
    after: int
    limit: int


Command = Auth | Heartbeat | Send | SyncChannels | SyncRange | ReadMark | Typing | Revise


# --- validation helpers -------------------------------------------------------------


def _is_text(value: object, min_chars: int, max_chars: int) -> bool:
    """A str of min..max code points that the databases can store (no NUL, no lone
    surrogate)."""
    return (
        type(value) is str
        and min_chars <= len(value) <= max_chars
        and not _UNSAFE_CHARS.search(value)
    )


def _is_int(value: object, low: int, high: int) -> bool:
    # `type(...) is int` rather than isinstance: True is not a user id.
    return type(value) is int and low <= value <= high


class _Fields:
    """Reads the fields of one frame, raising `invalid` errors tagged with its id."""

    __slots__ = ("frame_id", "obj")

    def __init__(self, obj: dict, frame_id: str | None):
        self.obj = obj
        self.frame_id = frame_id

    def invalid(self, message: str) -> ProtocolError:
        return ProtocolError(INVALID, message, self.frame_id)

    def get(self, name: str) -> object:
        return self.obj.get(name)

    def text(self, name: str, min_chars: int, max_chars: int, default: str | None = None) -> str:
        value = self.obj.get(name)
        if value is None and default is not None:
            return default
        if not _is_text(value, min_chars, max_chars):
            raise self.invalid(f"'{name}' must be a string of {min_chars}..{max_chars} characters")
        return value

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int:
        value = self.obj.get(name)
        if value is None and default is not None:
            return default
        if not _is_int(value, low, high):
            raise self.invalid(f"'{name}' must be an integer in {low}..{high}")
        return value


def frame_id(obj: dict, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The frame's `id` if it can be echoed safely in an answer, else None."""
    value = obj.get("id")
    return value if _is_text(value, 1, limits.max_id_chars) else None


# --- parsing --------------------------------------------------------------------------


def parse_command(obj: dict, limits: Limits = DEFAULT_LIMITS) -> Command:
    """Validate a decoded client frame and return the typed command."""
    if not isinstance(obj, dict):
        raise ProtocolError(BAD_FRAME, "frame is not a map")
    echo_id = frame_id(obj, limits)
    kind = obj.get("type")
    if type(kind) is not str:
        raise ProtocolError(INVALID, "'type' must be a string", echo_id)
    if kind not in CLIENT_TYPES:
        raise ProtocolError(UNKNOWN_TYPE, "unknown frame type", echo_id)
    fields = _Fields(obj, echo_id)
    if obj.get("id") is not None and echo_id is None:
        raise fields.invalid(f"'id' must be a string of 1..{limits.max_id_chars} characters")
    if kind == AUTH:
        return _parse_auth(fields, limits)
    if kind == HEARTBEAT:
        return Heartbeat(id=echo_id)
    if kind == SYNC:
        return _parse_sync(fields, limits)
    if kind in CONVERSATION_TYPES:
        return parse_conversation(kind, fields, limits)
    return _parse_send(kind, fields, limits)


def _parse_auth(fields: _Fields, limits: Limits) -> Auth:
    token = fields.text("token", 1, limits.max_token_chars)
    device = fields.text("device", 1, limits.max_device_chars, default=DEFAULT_DEVICE)
    if not DEVICE_NAME.fullmatch(device):
        raise fields.invalid("'device' may hold only letters, digits and -_.:@")
    version = fields.get("v")
    if version is None:
        version = PROTOCOL_VERSION
    elif type(version) is not int:
        raise fields.invalid("'v' must be an integer")
    if version not in SUPPORTED_VERSIONS:
        raise fields.invalid("unsupported protocol version")
    return Auth(id=fields.frame_id, token=token, device=device, v=version)


def _parse_sync(fields: _Fields, limits: Limits) -> SyncChannels | SyncRange:
    channel = fields.get("channel")
    if channel is None:
        return SyncChannels(id=fields.frame_id)
    try:
        parse_channel(channel)
    except ValueError:
        raise fields.invalid("'channel' is not a channel name") from None
    after = fields.integer("after", 0, MAX_ID, default=0)
    limit = fields.integer("limit", 1, limits.sync_limit_max, default=limits.sync_limit_default)
    return SyncRange(id=fields.frame_id, channel=channel, after=after, limit=limit)


def _parse_send(kind: str, fields: _Fields, limits: Limits) -> Send:
    if fields.frame_id is None:
        raise fields.invalid(f"'id' must be a string of 1..{limits.max_id_chars} characters")
    to, group = fields.get("to"), fields.get("group")
    if (to is None) == (group is None):
        raise fields.invalid("exactly one of 'to' and 'group' is required")
    if to is not None:
        to = fields.integer("to", 1, MAX_ID)
    else:
        group = fields.integer("group", 1, MAX_ID)
    raw_body = fields.get("body")
    if not isinstance(raw_body, dict):
        raise fields.invalid("'body' must be a map")
    body = _Fields(raw_body, fields.frame_id)
    # Only the keys a client may set survive: the server adds url, mime, size, ...
    if kind == TEXT:
        clean = {"text": body.text("text", 1, limits.max_text_chars)}
    elif kind == EMOJI:
        clean = {"emoji": body.text("emoji", 1, limits.max_emoji_chars)}
    else:
        clean = {"media": body.text("media", 1, limits.max_id_chars)}
        if body.get("caption") is not None:
            clean["caption"] = body.text("caption", 0, limits.max_text_chars)
    return Send(id=fields.frame_id, type=kind, to=to, group=group, body=clean)


def command_to_dict(command: Command) -> dict:
    """The client frame for a command (what an SDK sends); inverse of parse_command."""
    if isinstance(command, Auth):
        frame = {"type": AUTH, "token": command.token, "device": command.device, "v": command.v}
    elif isinstance(command, Heartbeat):
        frame = {"type": HEARTBEAT}
    elif isinstance(command, SyncChannels):
        frame = {"type": SYNC}
    elif isinstance(command, SyncRange):
        frame = {
            "type": SYNC,
            "channel": command.channel,
            "after": command.after,
            "limit": command.limit,
        }
    elif isinstance(command, Send):
        frame = {"type": command.type}
        if command.to is not None:
            frame["to"] = command.to
        else:
            frame["group"] = command.group
        frame["body"] = dict(command.body)
    elif isinstance(command, ReadMark | Typing | Revise):
        return conversation_to_dict(command)
    else:
        raise TypeError(f"not a command: {command!r}")
    if command.id is not None:
        frame["id"] = command.id
    return frame


# --- server frames ----------------------------------------------------------------------


def auth_ok(*, id: str | None, user: int, device: str, heartbeat: int, ts: int,
            node: str | None = None) -> dict:
    frame = {
        "type": AUTH_OK,
        "id": id,
        "user": user,
        "device": device,
        "heartbeat": heartbeat,
        "ts": ts,
    }
    if node is not None:
        frame["node"] = node  # an extension: the node serving this connection
    return frame


def ack(*, id: str, channel: str, seq: int, ts: int, dup: bool = False) -> dict:
    frame = {"type": ACK, "id": id, "channel": channel, "seq": seq, "ts": ts}
    if dup:
        frame["dup"] = True
    return frame


def heartbeat_reply(*, ts: int, id: str | None = None) -> dict:
    # The keep-alive answer stays minimal: the id is echoed only when there was one.
    frame = {"type": HEARTBEAT, "ts": ts}
    if id is not None:
        frame["id"] = id
    return frame


def offline(*, reason: str, reconnect: dict | None) -> dict:
    if reason not in OFFLINE_REASONS:
        raise ValueError(f"not an offline reason: {reason!r}")
    return {"type": OFFLINE, "reason": reason, "reconnect": reconnect}


def sync_channels_reply(*, id: str | None, channels: list[dict], truncated: bool = False
                        ) -> dict:
    """`truncated` (sent only when true): the list was cut at the sync size bound;
    channels with unread messages come first, GET /api/channels/ lists them all."""
    frame = {"type": SYNC, "id": id, "channels": channels}
    if truncated:
        frame["truncated"] = True
    return frame


def sync_range_reply(*, id: str | None, channel: str, messages: list[dict], last_seq: int,
                     first_seq: int = 1) -> dict:
    """`first_seq`: the lowest seq still stored (seqs below it were removed by the
    retention policy: gone, not missing); sent only above 1, absent means 1."""
    frame = {
        "type": SYNC,
        "id": id,
        "channel": channel,
        "messages": messages,
        "last_seq": last_seq,
    }
    if first_seq > 1:
        frame["first_seq"] = first_seq
    return frame


def error(*, code: str, message: str, id: str | None = None) -> dict:
    if code not in ERROR_CODES:
        raise ValueError(f"not an error code: {code!r}")
    return {"type": ERROR, "id": id, "code": code, "message": message}


def message(
    *,
    type: str,
    id: str,
    channel: str,
    seq: int,
    ts: int,
    sender: int,
    body: dict,
    to: int | None = None,
    group: int | None = None,
    target: int | None = None,
    edited: int | None = None,
    recalled: int | None = None,
) -> dict:
    """A stored content message as pushed, synced and returned by history.

    `sender` becomes the `from` field (a Python keyword). Exactly one of `to` and
    `group` must be given. An edit or a recall names its `target` seq; a message that
    was edited or recalled since carries the time of it (docs/protocol.md,
    Conversation state).
    """
    if (to is None) == (group is None):
        raise ValueError("exactly one of 'to' and 'group' is required")
    frame = {"type": type, "id": id, "channel": channel, "seq": seq, "ts": ts, "from": sender}
    if to is not None:
        frame["to"] = to
    else:
        frame["group"] = group
    for name, value in ((TARGET, target), (EDITED, edited), (RECALLED, recalled)):
        if value is not None:
            frame[name] = value
    frame["body"] = body
    return frame


def parse_server_frame(obj: dict) -> dict:
    """Client side: accept any map with a string `type` (unknown types are for the
    caller to ignore)."""
    if not isinstance(obj, dict) or type(obj.get("type")) is not str:
        raise ProtocolError(BAD_FRAME, "server frame without a string 'type'")
    return obj
