"""Per-channel sequence tracking: de-duplication, reordering and gap detection.

Sans-I/O: messages go in from any source (push, ack, sync) in any order and any
number of times; each (channel, seq) comes out once, in seq order, as soon as every
lower seq of its channel has come out. What is missing is reported as a gap with
its age, so the caller can wait a reorder window and then pull it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .models import Message

# (message, own): `own` marks a message this client sent; it fills its seq like any
# other, and the caller decides whether the application sees it.
Released = tuple[Message, bool]


@dataclass
class _ChannelState:
    position: int = 0  # every seq <= position has been released or skipped
    pending: dict[int, Released] = field(default_factory=dict)  # seqs above position + 1
    gap_since: float | None = None  # when the current hole was first seen


class SeqTracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._channels: dict[str, _ChannelState] = {}

    def __contains__(self, channel: str) -> bool:
        return channel in self._channels

    def channels(self) -> list[str]:
        return list(self._channels)

    def position(self, channel: str) -> int:
        """The last contiguous seq handled in `channel` (0 for an unknown channel)."""
        state = self._channels.get(channel)
        return state.position if state is not None else 0

    def positions(self) -> dict[str, int]:
        return {name: state.position for name, state in self._channels.items()}

    def offer(self, message: Message, own: bool = False) -> list[Released]:
        """Take one message; return what it releases, in seq order (maybe nothing)."""
        state = self._channels.setdefault(message.channel, _ChannelState())
        if message.seq <= state.position or message.seq in state.pending:
            return []
        state.pending[message.seq] = (message, own)
        return self._release(state)

    def advance_to(self, channel: str, seq: int) -> list[Released]:
        """Treat every seq <= `seq` of `channel` as handled (a restored or baseline
        position); return what becomes releasable above it."""
        state = self._channels.setdefault(channel, _ChannelState())
        if seq > state.position:
            state.position = seq
            for stale in [s for s in state.pending if s <= seq]:
                del state.pending[stale]
        return self._release(state)

    def forget(self, channel: str) -> None:
        self._channels.pop(channel, None)

    def has_gap(self, channel: str) -> bool:
        state = self._channels.get(channel)
        return state is not None and bool(state.pending)

    def restart_gap(self, channel: str) -> None:
        """Start the reorder window of the channel's hole again from now."""
        state = self._channels.get(channel)
        if state is not None and state.pending:
            state.gap_since = self._clock()

    def gaps(self, window: float) -> list[str]:
        """Channels holding a hole for at least `window` seconds."""
        now = self._clock()
        return [
            name for name, state in self._channels.items()
            if state.gap_since is not None and now - state.gap_since >= window
        ]

    def next_gap_deadline(self, window: float) -> float | None:
        """The clock time when the oldest current hole becomes `window` old."""
        times = [s.gap_since for s in self._channels.values() if s.gap_since is not None]
        return min(times) + window if times else None

    def _release(self, state: _ChannelState) -> list[Released]:
        out: list[Released] = []
        while (item := state.pending.pop(state.position + 1, None)) is not None:
            state.position += 1
            out.append(item)
        if not state.pending:
            state.gap_since = None
        elif out or state.gap_since is None:
            # A new hole (or the old one moved up): its reorder window starts now.
            state.gap_since = self._clock()
        return out
