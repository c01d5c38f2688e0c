"""CORS for the API: pages from the origins in IM_CORS_ORIGINS may call /api/
(docs/protocol.md, Web client); every other origin gets no CORS header, so browsers keep
its pages out. Empty by default: the web client at / is same-origin and needs none.

Authentication is the `Authorization: Token` header, never a cookie, so no
credentials are allowed and `Access-Control-Allow-Credentials` is never sent.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

PREFIX = "/api/"
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Accept"
EXPOSE_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE_S = 600


class CorsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.origins = frozenset(settings.IM_CORS_ORIGINS)
        if not self.origins:
            raise MiddlewareNotUsed()
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        origin = self._allowed_origin(request)
        if origin and _is_preflight(request):
            return _preflight(origin)
        response = self.get_response(request)
        return _decorate(response, origin) if origin else response

    async def _acall(self, request: HttpRequest):
        origin = self._allowed_origin(request)
        if origin and _is_preflight(request):
            return _preflight(origin)
        response = await self.get_response(request)
        return _decorate(response, origin) if origin else response

    def _allowed_origin(self, request: HttpRequest) -> str | None:
        if not request.path.startswith(PREFIX):
            return None
        origin = request.headers.get("Origin")
        return origin if origin in self.origins else None


def _is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _preflight(origin: str) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = ALLOW_METHODS
    response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return _decorate(response, origin)


def _decorate(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    vary = response.get("Vary")
    response["Vary"] = f"{vary}, Origin" if vary else "Origin"
    return response
