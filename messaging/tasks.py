"""Celery tasks of messaging: scheduled by beat (imsite/settings.py, CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from messaging.services.retention import retention_run_configured


@shared_task(name="messaging.tasks.retention_run_task", ignore_result=True)
def retention_run_task() -> int:
    """One retention run with the configured IM_RETENTION_DAYS; how many were removed.
    Idempotent: a run repeated or overlapping another only shares the work."""
    run = retention_run_configured()
    return run.deleted if run else 0
