"""Deliver one outbox row: the code a Celery task and the embedded pool both run.

A row is claimed by one conditional UPDATE (queued or retrying -> sending), so two
copies of a task (a redelivery, a sweep's republish) never send it twice; the claim
is a lease until next_attempt_at, after which the sweep hands it out again (the
worker that held it died).
"""

from __future__ import annotations

import logging
import random

from django.conf import settings
from django.db.models import F

from notifications.breaker import get_breaker
from notifications.clock import now_ms
from notifications.models import Notification, State
from notifications.providers.base import BAD, GONE, OK, Outcome
from notifications.providers.registry import provider_for
from notifications.services.devices import device_disable

log = logging.getLogger(__name__)

CLAIMABLE = (State.QUEUED, State.RETRYING)


def payload_of(row: Notification) -> dict:
    payload = {"id": row.key, "user": row.user_id, "device": row.device.device,
               "channel": row.channel, "seq": row.seq, "from": row.sender_id,
               "type": row.type, "ts": row.ts}
    if row.preview:
        payload["preview"] = row.preview
    return payload


def retry_delay_ms(attempts: int, retry_after_s: float | None) -> int:
    """Exponential backoff with jitter: about BASE * 2^(n-1), at most MAX, never
    before the provider's Retry-After."""
    cap = min(settings.IM_PUSH_RETRY_MAX_S, settings.IM_PUSH_RETRY_BASE_S * 2 ** (attempts - 1))
    delay = random.uniform(cap / 2, cap)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return int(delay * 1000)


def deliver(notification_id: int) -> str:
    """Try to deliver one notification now; returns what happened (for logs and tests)."""
    row = Notification.objects.select_related("device").filter(pk=notification_id).first()
    if row is None or row.state not in CLAIMABLE:
        return "skipped"
    if not row.device.enabled:
        Notification.objects.filter(pk=row.pk, state__in=CLAIMABLE).update(state=State.DISABLED)
        return "disabled"
    provider = provider_for(row.kind)
    host = provider.host_of(row.device.target)
    breaker = get_breaker()
    now = now_ms()
    wait = breaker.before_call(host, now)
    if wait:
        # Open breaker: the row waits (no attempt counted) until the reset time.
        Notification.objects.filter(pk=row.pk, state__in=CLAIMABLE).update(
            state=State.RETRYING, next_attempt_at=now + wait,
            last_error=f"breaker open for {host}")
        return "held"
    lease = (settings.IM_PUSH_TIMEOUT_S + settings.IM_PUSH_REDELIVER_S) * 1000
    claimed = Notification.objects.filter(pk=row.pk, state__in=CLAIMABLE).update(
        state=State.SENDING, attempts=F("attempts") + 1, next_attempt_at=now + lease)
    if not claimed:
        return "skipped"
    outcome = provider.send(target=row.device.target, secret=row.device.secret,
                            payload=payload_of(row), key=row.key)
    return _record(row, outcome, host, attempts=row.attempts + 1)


def _record(row: Notification, outcome: Outcome, host: str, *, attempts: int) -> str:
    now = now_ms()
    mine = Notification.objects.filter(pk=row.pk, state=State.SENDING)
    common = {"last_status": outcome.status, "last_error": outcome.error[:300]}
    breaker = get_breaker()
    if outcome.result == OK:
        breaker.succeeded(host)
        mine.update(state=State.SENT, sent_ms=now, **common)
        return "sent"
    if outcome.result == GONE:
        breaker.succeeded(host)  # the host answered: it is up
        mine.update(**common)
        device_disable(device_id=row.device_id)
        log.info("push target of device %s is gone (%s): disabled", row.device_id, outcome.status)
        return "gone"
    if outcome.result == BAD:
        mine.update(state=State.FAILED, **common)
        log.warning("notification %s refused: %s %s", row.key, outcome.status, outcome.error)
        return "failed"
    breaker.failed(host, now)
    too_old = now - row.created_ms > settings.IM_PUSH_MAX_AGE_S * 1000
    if attempts >= settings.IM_PUSH_MAX_ATTEMPTS or too_old:
        mine.update(state=State.DEAD, **common)
        log.warning("notification %s dead after %d attempts", row.key, attempts)
        return "dead"
    mine.update(state=State.RETRYING,
                next_attempt_at=now + retry_delay_ms(attempts, outcome.retry_after_s), **common)
    return "retrying"
