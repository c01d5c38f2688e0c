"""Notification metrics read when a scrape comes: the outbox's pending rows by state,
and the push hosts whose breaker is not closed (at most BREAKER_HOSTS of them).
Delivery outcomes are counters (imsite/metrics.py), counted where delivery runs; a
Celery worker serves its own on IM_METRICS_WORKER_PORT, under the /metrics access
rule (imsite/scrape_server.py)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from imsite.scrape_server import serve_metrics
from notifications.breaker import get_breaker
from notifications.clock import now_ms
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


# Hosts are chosen by users (webhooks): the gauge's series are bounded to the hosts
# whose breaker is open or half-open, and to this many of them (the latest opened).
BREAKER_HOSTS = 100


class BreakerCollector:
    """im_push_breaker_open{host}: 1 while the host's breaker is open (deliveries held),
    0 once half-open (the next call is the probe); no series for a closed breaker."""

    def describe(self):
        return []

    def collect(self):
        family = GaugeMetricFamily("im_push_breaker_open",
                                   "Push hosts whose circuit breaker is open (1) or "
                                   "half-open (0); closed ones are absent.",
                                   labels=["host"])
        try:
            hosts = get_breaker().open_hosts(BREAKER_HOSTS)
        except Exception:
            log.warning("could not read the push breakers for a scrape", exc_info=True)
            return
        now = now_ms()
        for host, open_until in hosts:
            family.add_metric([host], 1 if now < open_until else 0)
        yield family


def start_worker_exporter() -> None:
    port = settings.IM_METRICS_WORKER_PORT
    if settings.IM_METRICS and port:
        serve_metrics(settings.IM_METRICS_WORKER_ADDR, port)
        log.info("metrics on %s port %d", settings.IM_METRICS_WORKER_ADDR, port)
