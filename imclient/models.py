"""The values the SDK hands to the application."""

from __future__ import annotations

from dataclasses import dataclass, field

from improto.frames import message as message_frame


@dataclass(frozen=True, slots=True)
class Message:
    """A stored content message (pushed, synced, from history, or just sent).

    `sender` is the wire field `from`. Exactly one of `to` (private message) and
    `group` (group message) is set. `dup` is True only on a value returned by
    `send` when the server had already stored that client id (a retry).
    """

    type: str
    id: str
    channel: str
    seq: int
    ts: int
    sender: int
    body: dict = field(default_factory=dict)
    to: int | None = None
    group: int | None = None
    dup: bool = False
    target: int | None = None  # an edit's or a recall's: the seq it changes
    edited: int | None = None  # ts of the last edit of this message
    recalled: int | None = None  # ts of its recall (the body is then {})

    @property
    def text(self) -> str | None:
        """The text of a `text` message (None for other types)."""
        value = self.body.get("text")
        return value if isinstance(value, str) else None

    @classmethod
    def from_frame(cls, frame: dict) -> Message:
        return cls(
            type=frame["type"],
            id=frame["id"],
            channel=frame["channel"],
            seq=frame["seq"],
            ts=frame["ts"],
            sender=frame["from"],
            body=frame.get("body") or {},
            to=frame.get("to"),
            group=frame.get("group"),
            target=frame.get("target"),
            edited=frame.get("edited"),
            recalled=frame.get("recalled"),
        )

    def to_dict(self) -> dict:
        """The wire form (docs/protocol.md, Sending), e.g. for printing as JSON."""
        return message_frame(type=self.type, id=self.id, channel=self.channel, seq=self.seq,
                             ts=self.ts, sender=self.sender, body=self.body, to=self.to,
                             group=self.group, target=self.target, edited=self.edited,
                             recalled=self.recalled)


@dataclass(frozen=True, slots=True)
class Channel:
    """One conversation of the user, as listed by `Client.channels()`."""

    channel: str
    kind: str  # "private" or "group"
    last_seq: int
    peer: int | None = None
    group: int | None = None
    read_seq: int = 0  # my read position
    unread: int = 0  # messages after it sent by others
    first_seq: int = 1  # the lowest seq still stored (below it: removed by retention)

    @classmethod
    def from_json(cls, obj: dict) -> Channel:
        return cls(channel=obj["channel"], kind=obj.get("kind", ""), last_seq=obj["last_seq"],
                   peer=obj.get("peer"), group=obj.get("group"),
                   read_seq=obj.get("read_seq", 0), unread=obj.get("unread", 0),
                   first_seq=obj.get("first_seq", 1))


@dataclass(frozen=True, slots=True)
class Status:
    """The link state, as given to `on_status` callbacks.

    state: "connecting" (dialling), "online" (authenticated and caught up),
    "offline" (link lost; `retry_in` seconds until the next attempt),
    "ended" (the server ended the session; `reason` says why) or "closed".
    """

    state: str
    reason: str | None = None
    address: str | None = None
    retry_in: float | None = None
