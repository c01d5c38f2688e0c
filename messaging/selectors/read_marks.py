"""Read positions and unread counts of a user's channels, in two queries for any
number of channels (never one count per channel).

unread = last_seq - read_seq - (edits and recalls after read_seq), where read_seq is
taken as at least first_seq - 1: messages removed by retention are not unread (they
can no longer be read). Sending a message
moves its sender's read position to it, so nothing of the user's own is ever after
their position; edits and recalls are few and found through a partial index.
"""

from __future__ import annotations

from collections.abc import Sequence

from messaging.models import ReadPosition
from messaging.store import get_store


def read_positions(*, user_id: int, channels: Sequence[str]) -> dict[str, int]:
    rows = ReadPosition.objects.filter(user_id=user_id, channel__in=channels)
    return dict(rows.values_list("channel", "seq"))


def revisions_after_read(*, user_id: int, channels: Sequence[str]) -> dict[str, int]:
    """How many edits and recalls each channel holds after the user's read position."""
    if not channels:
        return {}
    read = read_positions(user_id=user_id, channels=channels)
    return get_store().revisions_after({c: read.get(c, 0) for c in channels})


def unread_state(*, user_id: int, last_seqs: dict[str, int],
                 first_seqs: dict[str, int] | None = None) -> dict[str, tuple[int, int]]:
    """{channel: (read_seq, unread)} for the given channels and their last seqs (and
    first seqs, where retention removed the oldest; read from the store if not given)."""
    return unread_states({user_id: last_seqs}, first_seqs)[user_id]


def unread_states(last_seqs: dict[int, dict[str, int]],
                  first_seqs: dict[str, int] | None = None,
                  ) -> dict[int, dict[str, tuple[int, int]]]:
    """unread_state of several users at once: {user: {channel: (read_seq, unread)}},
    in three queries when no channel has an edit or recall after the lowest of its
    readers' positions (the common case), and one more per user otherwise. What lies
    below a channel's first_seq is gone (retention): unread counts from there."""
    every = sorted({channel for mine in last_seqs.values() for channel in mine})
    read: dict[tuple[int, str], int] = {}
    if every:
        rows = ReadPosition.objects.filter(user_id__in=list(last_seqs), channel__in=every)
        read = {(u, c): seq for u, c, seq in rows.values_list("user_id", "channel", "seq")}
        if first_seqs is None:
            first_seqs = get_store().first_seqs(every)
    first_seqs = first_seqs or {}

    def counted_from(user_id: int, channel: str) -> int:
        return max(read.get((user_id, channel), 0), first_seqs.get(channel, 1) - 1)

    lowest: dict[str, int] = {}
    for user_id, mine in last_seqs.items():
        for channel in mine:
            seq = counted_from(user_id, channel)
            lowest[channel] = min(seq, lowest.get(channel, seq))
    revised = get_store().revisions_after(lowest) if lowest else {}
    answer = {}
    for user_id, mine in last_seqs.items():
        counted = {c: counted_from(user_id, c) for c in mine if c in revised}
        exact = revised
        if any(seq != lowest[c] for c, seq in counted.items()):
            exact = get_store().revisions_after(counted)
        state = {}
        for channel, last_seq in mine.items():
            seq = min(read.get((user_id, channel), 0), last_seq)
            start = min(counted_from(user_id, channel), last_seq)
            state[channel] = (seq, max(0, last_seq - start - exact.get(channel, 0)))
        answer[user_id] = state
    return answer
