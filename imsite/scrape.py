"""GET /metrics: the Prometheus exposition, for the addresses and the bearer token
IM_METRICS_ALLOW and IM_METRICS_TOKEN name (docs/operations.md, Metrics)."""

from __future__ import annotations

import hmac
import ipaddress
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from imsite import metrics as im_metrics
from imsite.forwarding import forwarded_client


def _allowed(request) -> bool:
    return access_allowed(request.META.get("REMOTE_ADDR") or "",
                          request.headers.get("x-forwarded-for"),
                          request.headers.get("authorization", ""))


def access_allowed(peer: str, forwarded_for: str | None, authorization: str) -> bool:
    """The bearer token IM_METRICS_TOKEN, or a client address (after IM_NUM_PROXIES
    proxies) in IM_METRICS_ALLOW. The rule of every metrics port (the Django view and
    a Celery worker's, imsite/scrape_server.py)."""
    token = settings.IM_METRICS_TOKEN
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    address = forwarded_client(peer, forwarded_for, settings.REST_FRAMEWORK.get("NUM_PROXIES"))
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in settings.IM_METRICS_ALLOW)


REFUSED = ("not an address or token IM_METRICS_ALLOW or IM_METRICS_TOKEN lets in")


class HttpMetricsMiddleware:
    """Counts HTTP answers by status class and times them (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _count(response, started)
        return response

    async def _acall(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        _count(response, started)
        return response


def _count(response, started: float) -> None:
    im_metrics.HTTP_SECONDS.observe(time.perf_counter() - started)
    im_metrics.HTTP_BY_CLASS.get(response.status_code // 100, im_metrics.HTTP_BY_CLASS[5]).inc()


@require_GET
def metrics(request):
    if not settings.IM_METRICS:
        return JsonResponse({"detail": "metrics are off (IM_METRICS)"}, status=404)
    if not _allowed(request):
        return JsonResponse({"detail": REFUSED}, status=403)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
