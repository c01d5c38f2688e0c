from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Push registrations and the notification outbox (docs/protocol.md, Notifications).

    It sits above realtime (notifications -> realtime -> messaging): it reads the
    locator to know which devices have no live connection, and listens to messaging's
    `messages_storing`; nothing below imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from django.conf import settings

        from imsite import metrics
        from messaging.signals import messages_storing
        from notifications.dispatch import THREADS, notify_storing
        from notifications.gauges import BreakerCollector, OutboxCollector, start_worker_exporter
        from realtime.signals import server_started

        messages_storing.connect(notify_storing, dispatch_uid="notifications.outbox")
        # An embedded server sweeps from its start: rows a previous run left pending.
        server_started.connect(
            lambda **kw: THREADS.start(sweep=settings.IM_PUSH_EMBEDDED), weak=False,
            dispatch_uid="notifications.start")
        # Every Celery worker sweeps the outbox: due retries and lost publishes.
        worker_ready.connect(lambda **kw: THREADS.start(sweep=True), weak=False,
                             dispatch_uid="notifications.sweep")
        metrics.register_collector(OutboxCollector())
        metrics.register_collector(BreakerCollector())
        # A worker's counters (delivery outcomes) live in the worker: it serves them.
        worker_ready.connect(lambda **kw: start_worker_exporter(), weak=False,
                             dispatch_uid="notifications.metrics")
