"""Retention: removing each channel's messages older than IM_RETENTION_DAYS.

Channel by channel, oldest first, in steps of at most IM_RETENTION_BATCH messages:
each step raises the channel's first_seq over the expired messages in one short
write, then deletes them in another (messaging/store, `expire`). The write path is
never kept waiting longer than one such write, and a reader never sees a hole: what
is missing below the messages it gets is below the first_seq it gets with them.
Runs are idempotent, so two at once (two nodes, a node and cron) only share the work.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings

from messaging.store import get_store

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RetentionRun:
    before_ts: int  # messages with a ts below this were removed
    channels: int  # channels that lost messages
    deleted: int  # messages removed


def retention_cutoff(*, days: float, now_ms: int | None = None) -> int:
    """The ts below which messages are expired, `days` before now."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - int(days * DAY_MS)


def retention_run(*, before_ts: int, batch: int | None = None) -> RetentionRun:
    """Remove every message whose ts is below `before_ts`, in steps of `batch`."""
    store = get_store()
    limit = batch or settings.IM_RETENTION_BATCH
    channels = deleted = 0
    for channel in store.expired_channels(before_ts=before_ts):
        removed = 0
        while True:
            step = store.expire(channel, before_ts=before_ts, limit=limit)
            removed += step.deleted
            if step.deleted < limit:
                break
        if removed:
            channels += 1
            deleted += removed
            log.info("retention: %d messages of %s removed, first_seq %d",
                     removed, channel, step.first_seq)
    return RetentionRun(before_ts=before_ts, channels=channels, deleted=deleted)


def retention_run_configured() -> RetentionRun | None:
    """One run with the configured IM_RETENTION_DAYS (None when retention is off)."""
    if settings.IM_RETENTION_DAYS is None:
        return None
    run = retention_run(before_ts=retention_cutoff(days=settings.IM_RETENTION_DAYS))
    if run.deleted:
        log.info("retention: %d messages removed from %d channels", run.deleted, run.channels)
    return run
