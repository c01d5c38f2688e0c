"""The server's Prometheus metrics, defined once (docs/operations.md, Metrics).

Every app increments what it sees through the objects here; nothing else in the
project names a metric. Labels are few and bounded: a frame type outside the
protocol's vocabulary counts as `other`, and no label ever carries a user, channel,
connection or host name chosen by a client.

With IM_METRICS off every object here is a no-op, so the message path pays a method
call and nothing more (the benchmark's A/B compares the two).

What a scrape reads from the running node (live connections, queued bytes, the ring)
is collected when the scrape comes, by the collector the node registers with
`register_collector`: no gauge is kept up to date per message.
"""

from __future__ import annotations

import time

from django.conf import settings
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics

from improto import vocabulary as words

ENABLED: bool = getattr(settings, "IM_METRICS", True)
# Counters and histograms without their `_created` series: half the lines per scrape.
disable_created_metrics()

# Seconds: from a fraction of a millisecond (an in-memory commit) to seconds (a stall).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
OTHER = "other"


class _Null:
    """What a metric is when IM_METRICS is off."""

    def labels(self, *args, **kwargs):
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_NULL = _Null()


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()):
    return Counter(name, doc, labels) if ENABLED else _NULL


def _histogram(name: str, doc: str, buckets):
    return Histogram(name, doc, buckets=buckets) if ENABLED else _NULL


class ByType(dict):
    """A counter's children by frame type, created once; unknown types are `other`."""

    def __init__(self, counter, known) -> None:
        super().__init__()
        self._counter = counter
        self._known = frozenset(known)

    def __missing__(self, kind):
        child = self._counter.labels(kind if kind in self._known else OTHER)
        if len(self) < len(self._known) + 64:  # made-up types are not all kept
            self[kind] = child
        return child


# --- connections ------------------------------------------------------------------------

_auths = _counter("im_auth_total", "Authentication attempts on WebSocket and TCP, by outcome.",
                  ("outcome",))
AUTH_OK = _auths.labels("ok")
AUTH_REFUSED = _auths.labels("refused")
AUTH_THROTTLED = _auths.labels("rate_limited")

_frames_in = _counter("im_frames_in_total", "Frames received from clients, by type.",
                      ("type",))
FRAMES_IN = ByType(_frames_in, words.CLIENT_TYPES)
_frames_out = _counter("im_frames_out_total", "Frames queued to clients, by type.", ("type",))
FRAMES_OUT = ByType(_frames_out, words.SERVER_TYPES)

SLOW_CLOSES = _counter("im_slow_closes_total",
                       "Connections cut because they did not read their frames fast enough.")
_rate_limited = _counter("im_rate_limited_total",
                         "Frames refused over a budget (refused), connections closed for "
                         "flooding (flood).", ("outcome",))
RATE_REFUSED = _rate_limited.labels("refused")
RATE_FLOOD = _rate_limited.labels("flood")

# --- the message path -------------------------------------------------------------------

MESSAGES_STORED = _counter("im_messages_stored_total",
                           "Sends the group commit stored or refused (a rate is messages/s).")
BATCH_SIZE = _histogram("im_store_batch_size", "Sends per group commit.", BATCH_BUCKETS)
BATCH_SECONDS = _histogram("im_store_batch_seconds", "Time one group commit takes.",
                           LATENCY_BUCKETS)
ACK_SECONDS = _histogram("im_ack_seconds",
                         "From a send's arrival at the batch writer to its ack being queued.",
                         LATENCY_BUCKETS)
FANOUT_SECONDS = _histogram("im_fanout_seconds",
                            "From a commit to its messages handed to every node that holds "
                            "a recipient.", LATENCY_BUCKETS)
_syncs = _counter("im_sync_requests_total", "Sync requests, by kind.", ("kind",))
SYNC_CHANNELS = _syncs.labels("channels")
SYNC_RANGE = _syncs.labels("range")
SYNC_MESSAGES = _counter("im_sync_messages_total", "Messages returned by sync range pages.")
LAYER_FAILURES = _counter("im_layer_send_failures_total",
                          "Sends to another node over the channel layer that failed.")

# --- notifications ----------------------------------------------------------------------

_push_outcomes = _counter("im_push_outcomes_total",
                          "Notification delivery attempts, by provider kind and outcome.",
                          ("kind", "outcome"))


def push_outcome(kind: str, outcome: str) -> None:
    _push_outcomes.labels(kind, outcome).inc()


def now() -> float:
    return time.perf_counter()


def register_collector(collector) -> None:
    """Add a collector that reads state when a scrape comes (once per process)."""
    if ENABLED:
        REGISTRY.register(collector)
