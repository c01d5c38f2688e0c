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
    first seqs, where retention removed the oldest)."""
    channels = list(last_seqs)
    first_seqs = first_seqs or {}
    read = read_positions(user_id=user_id, channels=channels)
    # What lies below first_seq is gone: counted from there.
    counted_from = {c: max(read.get(c, 0), first_seqs.get(c, 1) - 1) for c in channels}
    revised = get_store().revisions_after(counted_from) if channels else {}
    answer = {}
    for channel, last_seq in last_seqs.items():
        seq = min(read.get(channel, 0), last_seq)
        start = min(counted_from[channel], last_seq)
        answer[channel] = (seq, max(0, last_seq - start - revised.get(channel, 0)))
    return answer
