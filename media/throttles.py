"""Uploads per user (IM_UPLOAD_RATE, e.g. "30/min"): fixed windows counted in the cache.

DRF's SimpleRateThrottle reads a list of timestamps and writes it back, so concurrent
uploads all read the same list and all pass. Here each upload is one atomic
increment (Redis INCR; LocMem increments under its lock) of the user's counter for
the current window, and the count decides: one request cannot see another's slot.
A burst can reach twice the rate across a window boundary; the quota, not the rate,
is the hard limit on what a user stores. Counters live in the default cache: per
process without Redis, shared by the cluster with it.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

PERIOD_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"30/min" -> (30, 60): requests per period, period in seconds (DRF's notation)."""
    count, period = rate.split("/")
    return int(count), PERIOD_S[period[0]]


class UploadRateThrottle(BaseThrottle):
    _wait: float | None = None

    def allow_request(self, request, view) -> bool:
        user_id = request.user.pk
        if user_id is None:
            return True  # no user: authentication refuses the request anyway
        limit, period = parse_rate(settings.IM_UPLOAD_RATE)
        now = time.time()
        window = int(now // period)
        key = f"media:upload-rate:{user_id}:{period}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            used = cache.incr(key)
        except ValueError:  # the window's key expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            used = 1
        if used <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self._wait
