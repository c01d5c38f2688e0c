"""GET /metrics: the Prometheus exposition, for the addresses and the bearer token
IM_METRICS_ALLOW and IM_METRICS_TOKEN name (docs/operations.md, Metrics)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from imsite.forwarding import forwarded_client


def _allowed(request) -> bool:
    token = settings.IM_METRICS_TOKEN
    if token:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    address = forwarded_client(request.META.get("REMOTE_ADDR") or "",
                               request.headers.get("x-forwarded-for"),
                               settings.REST_FRAMEWORK.get("NUM_PROXIES"))
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in settings.IM_METRICS_ALLOW)


@require_GET
def metrics(request):
    if not settings.IM_METRICS:
        return JsonResponse({"detail": "metrics are off (IM_METRICS)"}, status=404)
    if not _allowed(request):
        return JsonResponse({"detail": "not an address or token IM_METRICS_ALLOW or "
                                       "IM_METRICS_TOKEN lets in"}, status=403)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
