"""Failed logins, counted per address and per username: the one policy of every login
form (POST /api/auth/login/ and the Django admin's login page).

Only failures count, so logging in as someone (with their password) never locks them
out, and a right password does not refill the guesses of an address. The limits are
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login_ip"] and ["login_user"]
(IM_LOGIN_RATE_IP, IM_LOGIN_RATE_USER), read at each attempt.

Race-free: an attempt first takes a slot (an atomic increment in the Django cache,
Redis when configured, so every node shares the counters), and gives it back only
once its password proved right. Checking first and counting afterwards would let a
burst of parallel guesses all pass the check.

A sliding window over two fixed windows: the count is this window's failures plus the
previous window's, weighted by how much of it still lies within one period. Neither
django-ratelimit (no way to give a slot back) nor django-axes (one limit for all
keys) expresses this; see docs/protocol.md, "Login limits".
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from django.core.cache import cache
from rest_framework.settings import api_settings

from accounts.usernames import canonical_username

ADDRESS_SCOPE = "login_ip"
USERNAME_SCOPE = "login_user"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LoginThrottled(Exception):
    """Too many failed logins for this address or username."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"too many failed logins; retry in {wait} s")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """DRF's notation: "10/min", "100/h", "5/s", "1000/day"."""
        count, period = text.split("/")
        return cls(limit=int(count), period=_PERIODS[period.strip()[0]])


@dataclass(frozen=True, slots=True)
class _Slot:
    key: str


@dataclass(slots=True)
class LoginAttempt:
    """Slots taken for one attempt; `succeeded()` gives them back."""

    slots: list[_Slot] = field(default_factory=list)

    def succeeded(self) -> None:
        for slot in self.slots:
            _decrement(slot.key)
        self.slots.clear()


def login_attempt_begin(*, address: str, username: str) -> LoginAttempt:
    """Take a slot for one login attempt, or raise LoginThrottled.

    Counted as a failure unless the caller calls `succeeded()` on the result.
    """
    attempt = LoginAttempt()
    waits = []
    for scope, ident in ((ADDRESS_SCOPE, address), (USERNAME_SCOPE, canonical_username(username))):
        rate = _rate(scope)
        if rate is None:
            continue
        slot, wait = _take(scope, ident, rate)
        if slot is None:
            waits.append(wait)
        else:
            attempt.slots.append(slot)
    if waits:
        attempt.succeeded()  # refused: this attempt is not counted either
        raise LoginThrottled(max(waits))
    return attempt


def _rate(scope: str) -> Rate | None:
    text = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    return Rate.parse(text) if text else None


def _key(scope: str, ident: str, window: int) -> str:
    # Hashed so that any client-chosen string makes a short, cache-safe key.
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()
    return f"login-failures:{scope}:{digest}:{window}"


def _take(scope: str, ident: str, rate: Rate) -> tuple[_Slot | None, int]:
    now = time.time()
    window, offset = divmod(now, rate.period)
    window = int(window)
    key = _key(scope, ident, window)
    # Kept two periods: the next window still weighs this one. The window number is in
    # the key, so a counter that outlives its period is never read again.
    cache.add(key, 0, timeout=2 * rate.period)
    try:
        current = cache.incr(key)
    except ValueError:  # expired between add and incr: start the window again
        cache.add(key, 1, timeout=2 * rate.period)
        current = 1
    previous = cache.get(_key(scope, ident, window - 1), 0)
    remaining = 1 - offset / rate.period
    if previous * remaining + current <= rate.limit:
        return _Slot(key), 0
    _decrement(key)
    return None, _wait(rate, previous, current - 1, offset)


def _wait(rate: Rate, previous: int, current: int, offset: float) -> int:
    """Seconds until one more failure would fit under the limit."""
    room = rate.limit - current - 1
    if room >= 0 and previous > 0:
        # Within this window, once enough of the previous one has slid out.
        wait = min(rate.period * (1 - room / previous) - offset, rate.period - offset)
    else:
        # In the next window, once enough of this one has slid out.
        share = 1 - (rate.limit - 1) / current if current else 0
        wait = (rate.period - offset) + rate.period * max(share, 0)
    return max(1, math.ceil(wait))


def _decrement(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:
        pass  # the window has expired meanwhile: nothing left to give back
