"""The hot window's writes after the acks: one thread per window, fed in commit order.

The write path's commit hands each batch's messages to `put`, which never waits: the
queue is bounded in bytes, and a batch that does not fit is dropped (and counted). A
missing or late write costs nothing but a trip to the database: the window serves a
range only when it holds it without a hole. The thread writes whatever has queued in
one call (at most `_CHUNK` messages), so a busy node pays one Redis round trip for
many batches, and none of them on the way to an ack.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

import redis

from imsite import metrics

log = logging.getLogger(__name__)

# One batch: channel -> [(seq, member)], seqs ascending.
Batch = dict[str, list[tuple[int, bytes]]]

_CHUNK = 2048  # messages per script call: Redis runs a script whole, keep it short
_BACKOFF_S = 0.5  # after a failed write, so a Redis that is down is not hammered
_LOG_EVERY_S = 10.0


class WindowReset(Exception):
    """Redis lost its data since the writer last wrote: what is queued may be older than
    a revision whose tombstone is gone, so it is dropped."""


class DeferredWrites:
    def __init__(self, write: Callable[[list[Batch]], None], *, capacity: int,
                 hold_path: str = "") -> None:
        self._write = write
        self._capacity = capacity
        self._hold_path = hold_path
        self._cond = threading.Condition()
        self._queue: deque[tuple[Batch, int, int]] = deque()  # (batch, messages, bytes)
        self._queued_bytes = 0
        self._busy = False  # a chunk taken off the queue is being written
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._dropped_since_log = 0
        self._last_log = 0.0

    def put(self, batch: Batch) -> None:
        """Queue a committed batch's window write; drop it if the queue is full."""
        count = sum(len(members) for members in batch.values())
        size = sum(len(m) for members in batch.values() for _, m in members)
        with self._cond:
            if self._closed:
                return
            if self._queued_bytes + size > self._capacity:
                full = True
            else:
                full = False
                self._queue.append((batch, count, size))
                self._queued_bytes += size
                self._cond.notify_all()  # the thread, not only a flush that waits too
            self._ensure_thread()
        if full:
            self._dropped("full", count)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued is written (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float) -> bool:
        """Flush (best effort, at most `timeout`), then stop the thread."""
        flushed = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if not flushed:
            log.warning("hot window: %d queued writes left unwritten at shutdown",
                        sum(count for _, count, _ in self._queue))
        return flushed

    def _ensure_thread(self) -> None:
        # Started on first use, in the process that uses it (a forked worker starts its own).
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="im-hot-window", daemon=True)
        self._thread.start()
        atexit.register(self.close, 2.0)

    def _take(self) -> list[Batch] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            taken, count = [], 0
            while self._queue and (not taken or count + self._queue[0][1] <= _CHUNK):
                batch, messages, size = self._queue.popleft()
                self._queued_bytes -= size
                taken.append(batch)
                count += messages
            self._busy = True
            return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            self._hold()
            failed = False
            try:
                self._write(taken)
            except WindowReset:
                self._drop_queued(taken, "reset")
            except redis.RedisError as error:
                self._dropped("error", _count(taken), error)
                failed = True
            except Exception:
                log.exception("hot window write failed")
                self._dropped("error", _count(taken))
            with self._cond:
                self._busy = False
                self._cond.notify_all()
            if failed:
                with self._cond:
                    self._cond.wait_for(lambda: self._closed, _BACKOFF_S)

    def _drop_queued(self, taken: list[Batch], reason: str) -> None:
        with self._cond:
            queued = sum(count for _, count, _ in self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        log.warning("hot window: Redis lost its data; %d queued writes dropped",
                    _count(taken) + queued)
        self._dropped(reason, _count(taken) + queued)

    def _dropped(self, reason: str, count: int, error: Exception | None = None) -> None:
        metrics.hot_window_dropped(reason, count)
        self._dropped_since_log += count
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:  # a Redis that is down is logged, not flooded
            log.warning("hot window: %d writes dropped (%s%s); readers use the database",
                        self._dropped_since_log, reason, f": {error}" if error else "")
            self._dropped_since_log, self._last_log = 0, now

    def _hold(self) -> None:
        # Tests only (IM_TEST_HOT_WINDOW_HOLD): wait while the file exists.
        while self._hold_path and os.path.exists(self._hold_path) and not self._closed:
            with self._cond:
                self._cond.wait_for(lambda: self._closed, 0.01)


def _count(batches: list[Batch]) -> int:
    return sum(len(members) for batch in batches for members in batch.values())
