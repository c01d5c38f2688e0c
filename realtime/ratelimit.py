"""Rate budgets: a token bucket, and how long it has been refusing without a break."""

from __future__ import annotations

import enum
import time


class Verdict(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # over budget: refuse this frame
    FLOOD = "flood"  # over budget without a break for the flood time: cut the connection


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`."""

    __slots__ = ("_rate", "_burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    @property
    def tokens(self) -> float:
        return self._tokens

    @property
    def burst(self) -> float:
        return self._burst

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Budget:
    """A token bucket that also tells a passing excess from a flood.

    A client is over its budget from the first frame refused until its bucket has
    refilled to half the burst (it slowed down for a while); one that is still over it
    `flood_s` seconds later is flooding, however many frames the rate lets through
    meanwhile."""

    __slots__ = ("_bucket", "_flood_s", "_over_since")

    def __init__(self, rate: float, burst: float, *, flood_s: float) -> None:
        self._bucket = TokenBucket(rate, burst)
        self._flood_s = flood_s
        self._over_since: float | None = None

    def take(self) -> Verdict:
        now = time.monotonic()
        if self._bucket.take(now):
            if self._over_since is not None and self._bucket.tokens >= self._bucket.burst / 2:
                self._over_since = None
            return Verdict.OK
        if self._over_since is None:
            self._over_since = now
        elif now - self._over_since >= self._flood_s:
            return Verdict.FLOOD
        return Verdict.REFUSED
