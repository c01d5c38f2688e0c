"""The message store interface: what the write path and the readers need, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from improto.frames import message as message_frame


@dataclass(frozen=True, slots=True)
class NewMessage:
    channel: str
    sender_id: int
    client_id: str
    type: str
    body: dict
    recipient_id: int | None = None
    group_id: int | None = None
    target: int | None = None  # an edit's or a recall's target seq


@dataclass(frozen=True, slots=True)
class StoredMessage:
    channel: str
    seq: int
    ts: int
    sender_id: int
    client_id: str
    type: str
    body: dict
    recipient_id: int | None = None
    group_id: int | None = None
    target: int | None = None
    edited: int | None = None  # ts of the last edit of this message
    recalled: int | None = None  # ts of its recall

    def to_frame(self) -> dict:
        """The message as every reader sees it on the wire (docs/protocol.md, Sending)."""
        return message_frame(
            type=self.type,
            id=self.client_id,
            channel=self.channel,
            seq=self.seq,
            ts=self.ts,
            sender=self.sender_id,
            body=self.body,
            to=self.recipient_id if self.group_id is None else None,
            group=self.group_id,
            target=self.target,
            edited=self.edited,
            recalled=self.recalled,
        )


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """What a moderator looks for (the admin's message browser); every part given
    must match. `anything` is the one search box: the channel exactly, a sender among
    `anything_senders`, or words of the text."""

    channel: str | None = None
    sender_ids: tuple[int, ...] | None = None  # None: any sender; (): nobody
    text: str | None = None  # in the body's text, any case
    type: str | None = None
    since_ms: int | None = None  # ts >= since_ms
    until_ms: int | None = None  # ts < until_ms
    anything: str | None = None
    anything_senders: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AppendResult:
    message: StoredMessage
    dup: bool  # True when (channel, sender, client id) was already stored


class MessageStore(Protocol):
    def append(self, batch: Sequence[NewMessage], *, now_ms: int) -> list[AppendResult]:
        """Store a batch atomically, in order; one result per input, in the same order.

        Allocates each channel's next seq; a message whose (channel, sender, client id)
        is already stored (or appears earlier in the batch) is not stored again and
        its result is the original with dup=True. Returns only after the batch is
        durable, and a seq becomes readable only after every lower seq of its
        channel is.
        """

    def range(
        self, channel: str, *, after: int = 0, before: int | None = None, limit: int = 100
    ) -> list[StoredMessage]:
        """Messages of a channel, ascending by seq; with only `before`, the newest below it."""

    def revise(self, channel: str, seq: int, *, body: dict, edited: int | None = None,
               recalled: int | None = None) -> None:
        """Give a stored message its current state after an edit or a recall (within
        the caller's transaction)."""

    def last_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        """Last stored seq of each channel (0 for a channel with none)."""

    def channels_of_user(self, user_id: int) -> list[tuple[str, int]]:
        """(channel, last_seq) for every channel the user belongs to."""

    def find(self, keys: Sequence[tuple[str, int]], *, lock: bool = False
             ) -> dict[tuple[str, int], StoredMessage]:
        """The stored messages at these (channel, seq) keys; with `lock`, held against
        other revisions to the end of the caller's transaction where the store can."""

    def stored_keys(self, keys: Sequence[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Which of these (channel, sender, client id) are already stored."""

    def revisions_after(self, positions: dict[str, int]) -> dict[str, int]:
        """{channel: how many edits and recalls it holds after the given seq}."""

    # -- retention (messaging/services/retention.py) ------------------------------

    def first_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        """The lowest seq still stored of each channel (1 where nothing was removed):
        every seq below it is gone for good. Raised before anything below it is
        deleted, so a reader that reads it after its range sees no hole above it."""

    def expired_channels(self, *, before_ts: int) -> list[str]:
        """Channels whose oldest stored message has a ts below `before_ts`."""

    def expire(self, channel: str, *, before_ts: int, limit: int) -> RetentionStep:
        """Remove up to `limit` of the channel's oldest messages whose ts is below
        `before_ts`: raise its first_seq over them (a short write of its own), then
        delete them (another). Never holds what the write path locks for longer than
        one small update."""


@dataclass(frozen=True, slots=True)
class RetentionStep:
    deleted: int  # messages removed by this step (0: nothing left to remove)
    first_seq: int  # the channel's first_seq after it


class MessageSearch(Protocol):
    def search(self, query: MessageQuery, *, offset: int = 0, limit: int = 100
               ) -> list[StoredMessage]:
        """Visible messages matching the query, newest first (ts, then seq, descending),
        skipping `offset` of them. For moderators, not for the message path: a store
        may scan to answer it."""
