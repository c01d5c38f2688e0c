"""SeqTracker without a server: order, de-duplication, gaps and their windows."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from imclient import Message, SeqTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def msg(seq: int, channel: str = "p:1:2") -> Message:
    return Message(type="text", id=f"c{seq}", channel=channel, seq=seq, ts=seq, sender=1,
                   body={"text": str(seq)})


def seqs(released) -> list[int]:
    return [m.seq for m, _ in released]


def test_in_order_messages_come_straight_out():
    tracker = SeqTracker()
    assert seqs(tracker.offer(msg(1))) == [1]
    assert seqs(tracker.offer(msg(2))) == [2]
    assert tracker.position("p:1:2") == 2
    assert not tracker.has_gap("p:1:2")


def test_duplicates_are_dropped_whenever_they_come():
    tracker = SeqTracker()
    tracker.offer(msg(1))
    assert tracker.offer(msg(1)) == []
    tracker.offer(msg(3))
    assert tracker.offer(msg(3)) == []  # a duplicate of a held message
    assert seqs(tracker.offer(msg(2))) == [2, 3]


def test_a_gap_holds_later_messages_until_filled():
    clock = FakeClock()
    tracker = SeqTracker(clock)
    tracker.offer(msg(1))
    assert tracker.offer(msg(3)) == [] and tracker.offer(msg(4)) == []
    assert tracker.has_gap("p:1:2")
    assert tracker.gaps(0.5) == []
    assert tracker.next_gap_deadline(0.5) == 100.5
    clock.now += 0.5
    assert tracker.gaps(0.5) == ["p:1:2"]
    assert seqs(tracker.offer(msg(2))) == [2, 3, 4]
    assert tracker.gaps(0.0) == [] and tracker.next_gap_deadline(0.5) is None


def test_a_moved_hole_gets_a_fresh_window():
    clock = FakeClock()
    tracker = SeqTracker(clock)
    tracker.offer(msg(2))  # hole at 1
    clock.now += 0.4
    tracker.offer(msg(4))  # still the same hole: the window keeps running
    assert tracker.next_gap_deadline(0.5) == 100.5
    tracker.offer(msg(1))  # fills 1, releases 2; the hole is now at 3
    assert tracker.next_gap_deadline(0.5) == 100.9
    tracker.restart_gap("p:1:2")
    clock.now += 0.1
    assert tracker.next_gap_deadline(0.5) == 100.9


def test_own_messages_fill_their_seq_and_are_flagged():
    tracker = SeqTracker()
    tracker.offer(msg(2))
    released = tracker.offer(msg(1), own=True)
    assert [(m.seq, own) for m, own in released] == [(1, True), (2, False)]


def test_advance_to_drops_what_is_older_and_releases_what_follows():
    tracker = SeqTracker()
    tracker.offer(msg(5))
    tracker.offer(msg(7))
    assert seqs(tracker.advance_to("p:1:2", 5)) == []
    assert tracker.position("p:1:2") == 5
    assert seqs(tracker.advance_to("p:1:2", 6)) == [7]
    assert tracker.advance_to("p:1:2", 3) == []  # never backwards
    assert tracker.position("p:1:2") == 7


def test_channels_are_independent():
    tracker = SeqTracker()
    tracker.offer(msg(2, "g:1"))
    assert seqs(tracker.offer(msg(1, "g:2"))) == [1]
    assert tracker.has_gap("g:1") and not tracker.has_gap("g:2")
    assert tracker.positions() == {"g:1": 0, "g:2": 1}
    tracker.forget("g:1")
    assert "g:1" not in tracker and tracker.channels() == ["g:2"]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1), dups=st.integers(0, 60))
def test_any_arrival_order_with_duplicates_releases_each_seq_once_in_order(n, seed, dups):
    rng = random.Random(seed)
    arrivals = list(range(1, n + 1)) + [rng.randint(1, n) for _ in range(dups)]
    rng.shuffle(arrivals)
    tracker = SeqTracker()
    out: list[int] = []
    for seq in arrivals:
        out.extend(seqs(tracker.offer(msg(seq))))
    assert out == list(range(1, n + 1))
    assert not tracker.has_gap("p:1:2")
