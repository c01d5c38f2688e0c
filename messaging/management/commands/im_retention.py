"""Remove the messages older than the retention period now (for cron, or by hand)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.services.retention import retention_cutoff, retention_run


class Command(BaseCommand):
    help = ("Remove every channel's messages older than IM_RETENTION_DAYS (or --days, or "
            "with a ts below --before-ms), oldest first, in batches; safe alongside the "
            "running servers and another run.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=float, help="instead of IM_RETENTION_DAYS")
        parser.add_argument("--before-ms", type=int,
                            help="remove messages whose ts (ms since 1970) is below this")
        parser.add_argument("--batch", type=int, default=None,
                            help="messages per step (default IM_RETENTION_BATCH)")

    def handle(self, *args, days=None, before_ms=None, batch=None, **options) -> None:
        if days is not None and before_ms is not None:
            raise CommandError("give --days or --before-ms, not both")
        if before_ms is None:
            days = settings.IM_RETENTION_DAYS if days is None else days
            if days is None or days <= 0:
                raise CommandError("no retention period: set IM_RETENTION_DAYS, or give "
                                   "--days or --before-ms")
            before_ms = retention_cutoff(days=days)
        if batch is not None and batch < 1:
            raise CommandError("--batch must be at least 1")
        run = retention_run(before_ts=before_ms, batch=batch)
        self.stdout.write(f"{run.deleted} messages removed from {run.channels} channels "
                          f"(ts below {run.before_ts})")
