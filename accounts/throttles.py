"""Rate limits for the unauthenticated account endpoints (failed logins: login_limits).

Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] and are read when a request
arrives (not when this module is imported), so a settings override applies at once.
Counters live in the default cache: per process with LocMem, shared with Redis.
"""

from __future__ import annotations

import hashlib

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from imsite.forwarding import forwarded_client


def client_address(request) -> str:
    """The address a rate limit is keyed on.

    X-Forwarded-For is trusted only when REST_FRAMEWORK["NUM_PROXIES"] says how many
    proxies stand in front (DRF's own default trusts it always): otherwise any client
    could pick a fresh address per request and never be limited.
    """
    return forwarded_client(
        request.META.get("REMOTE_ADDR") or "unknown",
        request.headers.get("x-forwarded-for"),
        api_settings.NUM_PROXIES,
    )


class _LiveRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def _key(self, ident: str) -> str:
        # Hashed so that any client-chosen string makes a short, cache-safe key.
        digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class RegisterAddressThrottle(_LiveRateThrottle):
    scope = "register_ip"

    def get_cache_key(self, request, view) -> str:
        return self._key(client_address(request))
