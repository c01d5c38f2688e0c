"""Notification metrics read when a scrape comes: the outbox's pending rows by state.
Delivery outcomes are counters (imsite/metrics.py), counted where delivery runs; a
Celery worker serves its own on IM_METRICS_WORKER_PORT."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Count
from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily

from notifications.models import PENDING, Notification

log = logging.getLogger(__name__)


class OutboxCollector:
    def describe(self):
        return []

    def collect(self):
        family = GaugeMetricFamily("im_push_outbox_pending",
                                   "Notifications waiting for delivery, by state.",
                                   labels=["state"])
        try:
            close_old_connections()
            counts = dict(Notification.objects.filter(state__in=PENDING)
                          .values_list("state").annotate(n=Count("id")).values_list("state", "n"))
        except Exception:
            log.warning("could not count the outbox for a scrape", exc_info=True)
            return
        for state in PENDING:
            family.add_metric([str(state)], counts.get(state, 0))
        yield family


def start_worker_exporter() -> None:
    port = settings.IM_METRICS_WORKER_PORT
    if settings.IM_METRICS and port:
        start_http_server(port)
        log.info("metrics on port %d", port)
