"""One small interface for every push provider, and the classification of answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol

OK, GONE, BAD, TRANSIENT = "ok", "gone", "bad", "transient"


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Literal["ok", "gone", "bad", "transient"]
    status: int | None = None
    error: str = ""
    retry_after_s: float | None = None


class Provider(Protocol):
    def host_of(self, target: object) -> str:
        """The host:port the breaker counts this target's failures under."""

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome: ...


def classify(status: int, headers, error: str = "") -> Outcome:
    """2xx ok; 404/410 gone; 429 and 5xx transient (with Retry-After); other codes bad.

    Only 404 and 410 unregister a device: a 400 ("invalid argument") is the sender's
    fault, not the target's."""
    if 200 <= status < 300:
        return Outcome(OK, status)
    if status in (404, 410):
        return Outcome(GONE, status, error)
    if status == 429 or status >= 500:
        return Outcome(TRANSIENT, status, error, retry_after(headers.get("retry-after")))
    return Outcome(BAD, status, error)


def retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
