"""Handing outbox rows to workers, off the event loop and off the ack path.

- `notify_storing`, the receiver of messaging's `messages_storing`, writes one
  intent row in the messages' transaction (which messages still need their
  notifications written) and, once that commits, queues the messages for the outbox
  thread (the writer's thread returns at once);
- the outbox thread writes the rows and deletes the intent in one transaction
  (notifications/outbox.py) and publishes the rows: to Celery, one queue per
  provider kind, or without a broker to a small pool of threads of this process;
  with IM_PUSH_COLLAPSE_S, a publish waits out the collapse window first;
- the sweeper publishes what is due again once a second: retries whose time has
  come, publishes the broker lost, rows a dead worker held; and it replays intents
  left by a process killed before its outbox write. It runs in the server when
  embedded, and in every Celery worker otherwise.
A publish that fails (broker down) is logged and left to the sweep: the outbox row,
not the broker, is the record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from django.conf import settings
from django.db import transaction

from imsite.celery import app
from notifications.delivery import deliver
from notifications.outbox import outbox_due, outbox_fill, outbox_intent, outbox_replay
from notifications.runner import run_with_connection
from notifications.tasks import deliver_task

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 1.0
BATCH = 1000
# Rows per task: a task claims and records its rows in one commit each.
TASK_ROWS = 50
FILL_ATTEMPTS = 5
# One quick reconnect (a broken pooled connection is replaced), then give up: the
# outbox thread must not wait on a broker that is down.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                 "interval_max": 0.2}


def queue_of(kind: str) -> str:
    return f"{settings.IM_PUSH_QUEUE_PREFIX}-{kind}"


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.IM_PUSH_WORKERS, thread_name_prefix="im-push")


def publish(items: Sequence[tuple[int, str]]) -> int:
    """Hand rows to the workers, in tasks of up to TASK_ROWS rows of one kind; returns
    how many were handed (the rest wait for the sweep)."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for notification_id, kind in items:
        by_kind[kind].append(notification_id)
    chunks = [(kind, ids[i:i + TASK_ROWS]) for kind, ids in by_kind.items()
              for i in range(0, len(ids), TASK_ROWS)]
    if settings.IM_PUSH_EMBEDDED:
        for _, ids in chunks:
            _pool().submit(run_with_connection, deliver, ids)
        return len(items)
    done = 0
    try:
        with app.producer_or_acquire() as producer:
            for kind, ids in chunks:
                deliver_task.apply_async((ids,), queue=queue_of(kind), producer=producer,
                                         retry=True, retry_policy=PUBLISH_RETRY)
                done += len(ids)
    except Exception as exc:  # the broker is down: the sweep publishes them later
        log.warning("publishing %d notifications failed (%s); the sweep will retry",
                    len(items) - done, exc)
    return done


class OutboxThreads:
    """The outbox thread, the collapse window's publisher and the sweeper of this
    process, started on first use."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._delayed: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False
        self._sweeping = False
        self._stop = threading.Event()

    def submit(self, stored: list, intent: int | None) -> None:
        if not self._started:
            self.start(sweep=settings.IM_PUSH_EMBEDDED)
        self._queue.put((stored, intent))

    def start(self, *, sweep: bool) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._fill_loop, name="im-push-outbox",
                                 daemon=True).start()
                threading.Thread(target=self._delayed_loop, name="im-push-collapse",
                                 daemon=True).start()
            if sweep and not self._sweeping:
                self._sweeping = True
                threading.Thread(target=self._sweep_loop, name="im-push-sweep",
                                 daemon=True).start()

    def _fill_loop(self) -> None:
        while True:
            batch, intents = [], []
            item = self._queue.get()
            while True:
                stored, intent = item
                batch.extend(stored)
                if intent is not None:
                    intents.append(intent)
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if settings.IM_TEST_PUSH_STALL_OUTBOX:
                threading.Event().wait()  # a test kills this process here
            for attempt in range(FILL_ATTEMPTS):
                try:
                    written = run_with_connection(outbox_fill, batch, intents)
                except Exception:
                    # A locked or restarting database: try again shortly, then leave
                    # the batch to the sweep, which replays its intent.
                    log.exception("writing %d messages' notifications failed (attempt %d)",
                                  len(batch), attempt + 1)
                    time.sleep(0.5 * (attempt + 1))
                    continue
                self._publish_after_window(written)
                break

    def _publish_after_window(self, written: list[tuple[int, str]]) -> None:
        if not written:
            return
        if not settings.IM_PUSH_COLLAPSE_S:
            publish(written)
            return
        # The window's later messages join the first one's delivery (delivery.py).
        self._delayed.put((time.monotonic() + settings.IM_PUSH_COLLAPSE_S, written))

    def _delayed_loop(self) -> None:
        # One delay for all: the queue is in due order.
        while True:
            due, written = self._delayed.get()
            time.sleep(max(0.0, due - time.monotonic()))
            publish(written)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(SWEEP_EVERY_S):
            try:
                if not settings.IM_TEST_PUSH_STALL_OUTBOX:
                    self._publish_after_window(run_with_connection(outbox_replay))
                while due := run_with_connection(outbox_due, BATCH):
                    publish(due)
                    if len(due) < BATCH:
                        break
            except Exception:
                log.exception("the notification sweep failed")

    def stop_sweeping(self) -> None:
        self._stop.set()


THREADS = OutboxThreads()


def notify_storing(sender=None, *, stored: list, **kwargs) -> None:
    """messaging's `messages_storing`, inside the messages' transaction: one intent
    row, then, after the commit, the messages queued for the outbox thread."""
    if not settings.IM_PUSH_ENABLED:
        return
    intent = outbox_intent(stored)
    if intent is not None:
        transaction.on_commit(lambda: THREADS.submit(stored, intent), robust=True)
