"""The web client's page at `/`. Its scripts and stylesheet are static files
(webclient/static/webclient/, served by WhiteNoise under /static/): native ES
modules, no build step."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

# Only this origin's scripts, styles and API. WebSocket connect-src is open to any
# ws:/wss: host because `GET /api/gateway/` may name another node of the cluster
# (IM_PUBLIC_WS_URL); the token in the first frame, not the origin, authenticates.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "connect-src 'self' ws: wss:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    response = render(request, "webclient/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "no-cache"
    response["Referrer-Policy"] = "same-origin"
    return response
