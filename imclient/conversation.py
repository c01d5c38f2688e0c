"""Conversation state in the SDK (docs/protocol.md, Conversation state): read positions, typing,
edit and recall, and the events they produce for the application.

`Client` inherits these methods; the session loop hands this module the frames
and the released messages that concern it (`_on_conversation_frame`,
`_on_released`, `_on_channel_list`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from improto.conversation import (
    EDIT,
    READ,
    RECALL,
    REVISION_TYPES,
    TYPING_THROTTLE_S,
    ReadMark,
    Revise,
    Typing,
)
from improto.frames import command_to_dict

from .connection import ConnectionLost
from .errors import ClientClosed, SendFailed
from .models import Message

# How many handed-out messages are kept to apply later edits and recalls to.
KEPT_MESSAGES = 10_000


@dataclass(frozen=True, slots=True)
class ReadEvent:
    """`user` has read `channel` up to `seq` (me on another device, or my peer)."""

    channel: str
    user: int
    seq: int


@dataclass(frozen=True, slots=True)
class TypingEvent:
    channel: str
    user: int


@dataclass(frozen=True, slots=True)
class Edited:
    """Message `target` of `channel` now reads `body`. `message` is the target as
    handed out before, updated (None if this client never handed it out)."""

    channel: str
    target: int
    body: dict
    ts: int
    by: int
    message: Message | None


@dataclass(frozen=True, slots=True)
class Recalled:
    """Message `target` of `channel` was recalled (by its sender, or by a moderator:
    `by` says who)."""

    channel: str
    target: int
    ts: int
    by: int
    message: Message | None


Event = ReadEvent | TypingEvent | Edited | Recalled
_END = object()


class ConversationMixin:
    """Read marks, typing, edits and recalls; mixed into `Client`."""

    def _init_conversation(self) -> None:
        self.read_positions: dict[str, int] = {}  # mine, per channel
        self.peer_reads: dict[tuple[str, int], int] = {}  # (channel, user) -> seq
        self._events: asyncio.Queue = asyncio.Queue()
        self._typing_sent: dict[str, float] = {}
        self._handed_out: OrderedDict[tuple[str, int], Message] = OrderedDict()

    # --- the application's side ---------------------------------------------------

    async def mark_read(self, channel: str, seq: int, *, timeout: float | None = None) -> None:
        """Set my read position in `channel` to `seq` (forward only), once online.
        My other devices and, in a private channel, the peer are told."""
        if seq <= self.read_positions.get(channel, 0):
            return
        command = ReadMark(id=None, channel=channel, seq=seq)
        await asyncio.wait_for(self._until_answered(command), timeout)
        self.read_positions[channel] = max(self.read_positions.get(channel, 0), seq)

    async def typing(self, channel: str) -> None:
        """Tell the channel's other members I am typing; call it on every keystroke:
        at most one frame goes out per 3 seconds and channel, none while offline."""
        now = time.monotonic()
        if self._typing_sent.get(channel, 0.0) > now or self._conn is None:
            return
        self._typing_sent[channel] = now + TYPING_THROTTLE_S
        try:
            await self._conn.send(command_to_dict(Typing(id=None, channel=channel)))
        except ConnectionLost:
            pass  # typing is a hint: nothing to retry

    async def edit(self, channel: str, target: int, text: str, *,
                   client_id: str | None = None, timeout: float | None = None) -> Message:
        """Replace the text of my message `target`; returns the edit as stored."""
        command = Revise(id=client_id or self._new_client_id(), type=EDIT, channel=channel,
                         target=target, body={"text": text})
        return await self._submit(command_to_dict(command), timeout)

    async def recall(self, channel: str, target: int, *, client_id: str | None = None,
                     timeout: float | None = None) -> Message:
        """Take back my message `target`; returns the recall as stored."""
        command = Revise(id=client_id or self._new_client_id(), type=RECALL, channel=channel,
                         target=target, body={})
        return await self._submit(command_to_dict(command), timeout)

    async def unread(self) -> dict[str, int]:
        """{channel: unread count} over all my channels (from the server)."""
        listed = await self.request("GET", "/api/channels/")
        for entry in listed:
            self._note_read(entry["channel"], entry.get("read_seq", 0))
        return {entry["channel"]: entry.get("unread", 0) for entry in listed}

    async def events(self) -> AsyncIterator[Event]:
        """Read marks, typing, edits and recalls as they come; ends with the client."""
        while True:
            item = await self._events.get()
            if item is _END:
                self._events.put_nowait(_END)
                return
            yield item

    # --- the session loop's side ----------------------------------------------------

    async def _until_answered(self, command: ReadMark) -> dict:
        while True:
            if self._closed:
                raise ClientClosed("the client is closed")
            if self._ended is not None:
                raise self._ended
            try:
                await self.wait_online(timeout=1.0)  # then look at closed/ended again
            except TimeoutError:
                continue
            conn = self._conn
            if conn is None:
                continue
            try:
                return await self._sync.request(conn, command)
            except ConnectionLost:
                continue  # ask again on the next connection
            except Exception as error:
                code = getattr(error, "code", None)
                if code is None:
                    raise
                raise SendFailed(code, getattr(error, "message", str(error)), None) from None

    def _note_read(self, channel: str, seq: object) -> None:
        if type(seq) is int and seq > self.read_positions.get(channel, 0):
            self.read_positions[channel] = seq

    def _on_channel_list(self, channels: list) -> None:
        for entry in channels:
            if isinstance(entry, dict) and isinstance(entry.get("channel"), str):
                self._note_read(entry["channel"], entry.get("read_seq"))

    def _on_conversation_frame(self, frame: dict) -> None:
        channel, user = frame.get("channel"), frame.get("user")
        if not isinstance(channel, str) or type(user) is not int:
            return
        if frame["type"] == READ:
            seq = frame.get("seq")
            if type(seq) is not int:
                return
            if user == self.user_id:
                self._note_read(channel, seq)
            else:
                self.peer_reads[(channel, user)] = seq
            self._events.put_nowait(ReadEvent(channel, user, seq))
        else:
            self._events.put_nowait(TypingEvent(channel, user))

    def _on_released(self, message: Message) -> None:
        """A message goes to the application in seq order: keep it, or apply it."""
        if message.type not in REVISION_TYPES or message.target is None:
            self._handed_out[(message.channel, message.seq)] = message
            if len(self._handed_out) > KEPT_MESSAGES:
                self._handed_out.popitem(last=False)
            return
        key = (message.channel, message.target)
        before = self._handed_out.get(key)
        if message.type == EDIT:
            after = replace(before, body=message.body, edited=message.ts) if before else None
            event: Event = Edited(message.channel, message.target, message.body, message.ts,
                                  message.sender, after)
        else:
            after = replace(before, body={}, recalled=message.ts) if before else None
            event = Recalled(message.channel, message.target, message.ts, message.sender, after)
        if after is not None:
            self._handed_out[key] = after
        self._events.put_nowait(event)

    def _end_events(self) -> None:
        self._events.put_nowait(_END)
