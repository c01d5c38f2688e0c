"""The server's Prometheus metrics, defined once (docs/operations.md, Metrics).

Every app increments what it sees through the objects here; nothing else in the
project names a metric. Labels are few and bounded: a frame type outside the
protocol's vocabulary counts as `other`, and no label ever carries a user, channel,
connection or host name.

The message path runs on the event loop's thread alone, so its counters and
histograms here are plain numbers with no lock (prometheus-client's take one per
increment); a scrape reads them from another thread (reading a number is atomic).
What a scrape reads from the running node (live connections, queued bytes, the ring)
is collected when the scrape comes, by the collectors registered with
`register_collector`: nothing is kept up to date per message.

With IM_METRICS off every object here is a no-op: the message path pays a method
call (the benchmark's A/B compares the two).
"""

from __future__ import annotations

import time
from bisect import bisect_left

from django.conf import settings
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from improto import vocabulary as words

ENABLED: bool = getattr(settings, "IM_METRICS", True)
# Counters without their `_created` series: half the lines per scrape.
disable_created_metrics()

# Seconds: from a fraction of a millisecond (an in-memory commit) to seconds (a stall).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5,
                   2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
OTHER = "other"


class _Null:
    """What a metric is when IM_METRICS is off."""

    def labels(self, *args, **kwargs):
        return self

    def inc(self, *args) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_NULL = _Null()
_LOOP_METRICS: list = []  # read by LoopCollector when a scrape comes


class LoopCounter:
    """A counter only the event loop's thread increments."""

    __slots__ = ("name", "doc", "labelnames", "labelvalues", "value")

    def __init__(self, name: str, doc: str, labelnames=(), labelvalues=()) -> None:
        self.name, self.doc = name, doc
        self.labelnames, self.labelvalues = labelnames, labelvalues
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class LoopCounterByType:
    """Counters by frame type; a type outside the protocol's vocabulary is `other`."""

    def __init__(self, name: str, doc: str, known) -> None:
        self.name, self.doc = name, doc
        self.counts = dict.fromkeys((*known, OTHER), 0)

    def inc(self, kind) -> None:
        counts = self.counts
        if kind in counts:
            counts[kind] += 1
        else:
            counts[OTHER] += 1


class LoopHistogram:
    """A histogram only the event loop's thread observes into."""

    def __init__(self, name: str, doc: str, buckets) -> None:
        self.name, self.doc = name, doc
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1  # buckets are "<= bound"
        self.sum += amount


class LoopCollector:
    def describe(self):
        return []

    def collect(self):
        counters: dict[str, CounterMetricFamily] = {}
        for metric in list(_LOOP_METRICS):
            if isinstance(metric, LoopCounter):
                family = counters.get(metric.name)
                if family is None:
                    family = counters[metric.name] = CounterMetricFamily(
                        metric.name, metric.doc, labels=metric.labelnames)
                family.add_metric(list(metric.labelvalues), metric.value)
            elif isinstance(metric, LoopCounterByType):
                family = CounterMetricFamily(metric.name, metric.doc, labels=["type"])
                for kind, value in list(metric.counts.items()):
                    family.add_metric([kind], value)
                yield family
            else:
                counts, total = list(metric.counts), metric.sum
                running, buckets = 0, []
                for bound, count in zip((*metric.bounds, float("inf")), counts, strict=True):
                    running += count
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
                family = HistogramMetricFamily(metric.name, metric.doc)
                family.add_metric([], buckets, total)
                yield family
        yield from counters.values()


def _loop(metric):
    if not ENABLED:
        return _NULL
    _LOOP_METRICS.append(metric)
    return metric


def _counter(name: str, doc: str):
    return _loop(LoopCounter(name, doc))


def _labelled(name: str, doc: str, label: str, values: tuple[str, ...]) -> dict:
    """A counter per value of its one label."""
    return {v: _loop(LoopCounter(name, doc, (label,), (v,))) for v in values}


def _histogram(name: str, doc: str, buckets):
    return _loop(LoopHistogram(name, doc, buckets))


# --- connections ------------------------------------------------------------------------

_auths = _labelled("im_auth", "Authentication attempts on WebSocket and TCP, by outcome.",
                   "outcome", ("ok", "refused", "rate_limited"))
AUTH_OK, AUTH_REFUSED, AUTH_THROTTLED = _auths["ok"], _auths["refused"], _auths["rate_limited"]
FRAMES_IN = _loop(LoopCounterByType("im_frames_received", "Frames received from clients, by type.",
                                    words.CLIENT_TYPES))
FRAMES_OUT = _loop(LoopCounterByType("im_frames_out", "Frames queued to clients, by type.",
                                     words.SERVER_TYPES))
SLOW_CLOSES = _counter("im_slow_disconnects",
                       "Connections cut because they did not read their frames fast enough.")
_rate_limited = _labelled("im_rate_limited", "Frames refused over a budget (refused), "
                          "connections closed for flooding (flood).", "outcome",
                          ("refused", "flood"))
RATE_REFUSED, RATE_FLOOD = _rate_limited["refused"], _rate_limited["flood"]

# --- the message path -------------------------------------------------------------------

MESSAGES_STORED = _counter("im_messages_stored",
                           "Messages stored (not retries, refusals or read marks).")
BATCH_SIZE = _histogram("im_batch_size", "Messages stored per group commit.", BATCH_BUCKETS)
BATCH_SECONDS = _histogram("im_store_batch_seconds", "Time one group commit takes.",
                           LATENCY_BUCKETS)
ACK_SECONDS = _histogram("im_ack_seconds",
                         "From a send frame received to its ack queued to the connection.",
                         LATENCY_BUCKETS)
FANOUT_SECONDS = _histogram("im_fanout_seconds",
                            "From a commit to its messages handed to every node that holds "
                            "a recipient.", LATENCY_BUCKETS)
DELIVERY_SECONDS = _histogram("im_delivery_seconds",
                              "From a message's commit (its ts) to its push to the "
                              "recipients' connections on this node.", LATENCY_BUCKETS)
_syncs = _labelled("im_sync_requests", "Sync requests, by kind.", "kind", ("channels", "range"))
SYNC_CHANNELS, SYNC_RANGE = _syncs["channels"], _syncs["range"]
SYNC_MESSAGES = _counter("im_sync_messages", "Messages returned by sync range pages.")
LAYER_FAILURES = _counter("im_layer_send_failures",
                          "Sends to another node over the channel layer that failed.")

# The hot window's writes run on a thread of their own (messaging/store/hot_writer.py):
# prometheus-client's locking counter (a drop is rare).
HOT_WINDOW_DROP_REASONS = ("full", "error", "reset")
_hot_dropped = Counter("im_hot_window_dropped", "Messages whose hot-window write was dropped, "
                       "by kind.", ("kind",)) if ENABLED else _NULL
_hot_dropped_by_reason = {r: _hot_dropped.labels(r) for r in HOT_WINDOW_DROP_REASONS}


def hot_window_dropped(reason: str, count: int) -> None:
    if count:
        _hot_dropped_by_reason[reason].inc(count)


# --- HTTP ------------------------------------------------------------------------------

# Requests run on threads: prometheus-client's own metrics, which lock (microseconds
# against a request's milliseconds).
_http = Counter("im_http_responses", "HTTP answers, by status class.",
                ("code",)) if ENABLED else _NULL
HTTP_BY_CLASS = {n: _http.labels(f"{n}xx") for n in range(1, 6)}
HTTP_SECONDS = Histogram("im_http_seconds", "Time to answer an HTTP request.",
                         buckets=LATENCY_BUCKETS) if ENABLED else _NULL

# --- notifications ----------------------------------------------------------------------

# Delivery runs on threads (the server's pool, a Celery worker's): prometheus-client's
# own counter, which locks.
_push_outcomes = Counter("im_push_outcomes", "Notification delivery attempts, by provider "
                         "kind and outcome.", ("kind", "outcome")) if ENABLED else _NULL


def push_outcome(kind: str, outcome: str) -> None:
    _push_outcomes.labels(kind, outcome).inc()


# The contract's counter (PROTOCOL.md section 7): one per notification (outbox row) that
# delivery moved into sent, retrying, failed, dead or disabled.
NOTIFICATION_OUTCOMES = ("sent", "retried", "failed", "dead", "disabled")
_notifications = Counter("im_notifications", "Notifications by the state delivery moved "
                         "them into.", ("outcome",)) if ENABLED else _NULL
_notification_outcomes = {outcome: _notifications.labels(outcome)
                          for outcome in NOTIFICATION_OUTCOMES}


def notifications_moved(outcome: str, count: int = 1) -> None:
    if count:
        _notification_outcomes[outcome].inc(count)


def now() -> float:
    return time.perf_counter()


def register_collector(collector) -> None:
    """Add a collector that reads state when a scrape comes (once per process)."""
    if ENABLED:
        REGISTRY.register(collector)


register_collector(LoopCollector())
