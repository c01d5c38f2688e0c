"""Correctness accounting for a run: what was sent, acked, delivered, lost, duplicated.

Pure bookkeeping, no I/O, so it is tested on its own (tests/bench/).

- `lost` is sent minus acked: a frame the server never confirmed as stored.
- `duplicates` counts a (channel, seq) that a connection received a second time, as a
  delivery or as an ack; and an ack for a client id that was already acked.
- `undelivered` is expected deliveries minus the distinct deliveries that arrived.
"""

from __future__ import annotations

import math
from collections import Counter


class SeqSet:
    """Which seqs of one channel a connection has seen: a contiguous watermark plus the
    out-of-order seqs above it, so the usual in-order stream costs O(1) memory."""

    __slots__ = ("floor", "above")

    def __init__(self, floor: int = 0) -> None:
        self.floor = floor  # every seq <= floor counts as seen
        self.above: set[int] = set()

    def add(self, seq: int) -> bool:
        """Record `seq`; return False if it was already seen."""
        if seq <= self.floor or seq in self.above:
            return False
        if seq == self.floor + 1:
            self.floor = seq
            above = self.above
            while above and self.floor + 1 in above:
                self.floor += 1
                above.discard(self.floor)
        else:
            self.above.add(seq)
        return True


class Ledger:
    """One scenario's accounting, shared by every connection of the generator."""

    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}  # client id -> send time (monotonic, s)
        self.acked_ids: set[str] = set()
        self.acked = 0
        self.sent = 0
        self.delivered = 0  # distinct (connection, channel, seq)
        self.duplicates = 0
        self.dup_flag_acks = 0  # acks with "dup": true (we never retry, so none expected)
        self.errors: Counter[str] = Counter()
        self.out_of_order = 0  # informative: the protocol allows it
        self.ack_ms: list[float] = []
        self.delivery_ms: list[float] = []
        self._ack_seqs: dict[str, set[int]] = {}
        self._seen: dict[tuple[object, str], SeqSet] = {}
        self._last: dict[tuple[object, str], int] = {}

    def on_send(self, client_id: str, now: float) -> None:
        self.sent += 1
        self.sent_at[client_id] = now

    def on_ack(self, client_id: str, channel: str, seq: int, now: float, *, dup_flag=False) -> None:
        if dup_flag:
            self.dup_flag_acks += 1
        if client_id in self.acked_ids:
            self.duplicates += 1
            return
        seen = self._ack_seqs.setdefault(channel, set())
        if seq in seen:
            self.duplicates += 1  # two stored messages under one (channel, seq)
            return
        seen.add(seq)
        self.acked_ids.add(client_id)
        self.acked += 1
        sent = self.sent_at.get(client_id)
        if sent is not None:
            self.ack_ms.append((now - sent) * 1000.0)

    def on_error(self, code: str) -> None:
        self.errors[code] += 1

    def on_delivery(self, conn: object, channel: str, seq: int, client_id: str | None,
                    now: float, *, first_seq: int = 1) -> bool:
        """Record a message pushed to connection `conn`; False if it is a duplicate.

        `first_seq` is the lowest seq this connection can expect on the channel (a
        channel that held messages before the run starts higher).
        """
        key = (conn, channel)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = SeqSet(first_seq - 1)
        if not seen.add(seq):
            self.duplicates += 1
            return False
        last = self._last.get(key, 0)
        if seq < last:
            self.out_of_order += 1
        else:
            self._last[key] = seq
        self.delivered += 1
        sent = self.sent_at.get(client_id) if client_id is not None else None
        if sent is not None:
            self.delivery_ms.append((now - sent) * 1000.0)
        return True

    @property
    def lost(self) -> int:
        return self.sent - self.acked

    def summary(self, *, expected_deliveries: int | None = None) -> dict:
        out = {
            "sent": self.sent,
            "acked": self.acked,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicates": self.duplicates,
        }
        if expected_deliveries is not None:
            out["undelivered"] = max(0, expected_deliveries - self.delivered)
        if self.errors:
            out["errors"] = dict(self.errors)
        if self.dup_flag_acks:
            out["dup_flag_acks"] = self.dup_flag_acks
        if self.out_of_order:
            out["out_of_order"] = self.out_of_order
        return out


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        return None
    if q <= 0:
        return sorted_values[0]
    rank = math.ceil(q / 100.0 * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def latency_summary(values: list[float], prefix: str, *, quantiles: bool = False) -> dict:
    """{prefix_p50, prefix_p99, prefix_max} in ms (3 decimals); with `quantiles`, also
    the 0..100 percentiles and the sample count, for the distribution plots."""
    ordered = sorted(values)
    out: dict[str, object] = {}
    for name, q in (("p50", 50), ("p99", 99), ("max", 100)):
        value = percentile(ordered, q)
        out[f"{prefix}_{name}"] = None if value is None else round(value, 3)
    if quantiles and ordered:
        out[f"{prefix}_quantiles"] = [round(percentile(ordered, q), 3) for q in range(101)]
        out[f"{prefix}_samples"] = len(ordered)
    return out
