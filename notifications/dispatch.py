"""Handing outbox rows to workers, off the event loop and off the ack path.

- `notify_stored`, the receiver of messaging's `messages_stored`, only queues the
  messages for the outbox thread (the writer's thread returns at once);
- the outbox thread writes the rows (notifications/outbox.py) and publishes them:
  to Celery, one queue per provider kind, or without a broker to a small pool of
  threads of this process;
- the sweeper publishes what is due again once a second: retries whose time has
  come, publishes the broker lost, rows a dead worker held. It runs in the server
  when embedded, and in every Celery worker otherwise.
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

from imsite.celery import app
from notifications.delivery import deliver
from notifications.outbox import outbox_due, outbox_fill
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
    """The outbox thread and the sweeper of this process, started on first use."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False
        self._sweeping = False
        self._stop = threading.Event()

    def submit(self, stored: list) -> None:
        if not self._started:
            self.start(sweep=settings.IM_PUSH_EMBEDDED)
        self._queue.put(stored)

    def start(self, *, sweep: bool) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._fill_loop, name="im-push-outbox",
                                 daemon=True).start()
            if sweep and not self._sweeping:
                self._sweeping = True
                threading.Thread(target=self._sweep_loop, name="im-push-sweep",
                                 daemon=True).start()

    def _fill_loop(self) -> None:
        while True:
            batch = list(self._queue.get())
            while len(batch) < BATCH:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            for attempt in range(FILL_ATTEMPTS):
                try:
                    written = run_with_connection(outbox_fill, batch)
                except Exception:
                    # A locked or restarting database: try again shortly, then give up
                    # on this batch (logged; its messages are stored and acked).
                    log.exception("writing %d messages' notifications failed (attempt %d)",
                                  len(batch), attempt + 1)
                    time.sleep(0.5 * (attempt + 1))
                    continue
                publish(written)
                break

    def _sweep_loop(self) -> None:
        while not self._stop.wait(SWEEP_EVERY_S):
            try:
                while due := run_with_connection(outbox_due, BATCH):
                    publish(due)
                    if len(due) < BATCH:
                        break
            except Exception:
                log.exception("the notification sweep failed")

    def stop_sweeping(self) -> None:
        self._stop.set()


THREADS = OutboxThreads()


def notify_stored(sender=None, *, stored: list, **kwargs) -> None:
    """messaging's `messages_stored`: queue the messages and return."""
    if settings.IM_PUSH_ENABLED:
        THREADS.submit(stored)
