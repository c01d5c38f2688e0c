"""Deliver outbox rows: the code a Celery task and the embedded pool both run.

Rows are claimed together by one conditional UPDATE (queued or retrying -> sending,
with a random claim token), so two copies of a task (a redelivery, a sweep's
republish) never send a row twice; the claim is a lease until next_attempt_at, after
which the sweep hands the row out again (the worker that held it died). Outcomes are
written together too: a batch costs two commits, not two per notification. With
collapsing on, the claim also takes the other pending rows of each claimed row's
(device, channel), and each such group is sent as one notification (its latest row).
The sending itself, concurrent and under the breaker, is notifications/sending.py.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import Counter
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from imsite import metrics
from notifications.breaker import get_breaker
from notifications.clock import now_ms
from notifications.models import Notification, State
from notifications.providers.base import BAD, GONE, OK, Outcome
from notifications.selectors import unread_counts
from notifications.sending import Sent, send_groups
from notifications.services.devices import device_disable

log = logging.getLogger(__name__)

CLAIMABLE = (State.QUEUED, State.RETRYING)


def payload_of(row: Notification, *, unread: int | None = None, collapsed: int = 1) -> dict:
    payload = {"id": row.key, "user": row.user_id, "device": row.device.device,
               "channel": row.channel, "seq": row.seq, "from": row.sender_id,
               "type": row.type, "ts": row.ts, "collapse_key": row.channel}
    if row.preview:
        payload["preview"] = row.preview
    if unread is not None:
        payload["unread"] = unread
    if collapsed > 1:
        payload["collapsed"] = collapsed
    return payload


def retry_delay_ms(attempts: int, retry_after_s: float | None) -> int:
    """Exponential backoff with jitter: about BASE * 2^(n-1), at most MAX, never
    before the provider's Retry-After."""
    cap = min(settings.IM_PUSH_RETRY_MAX_S, settings.IM_PUSH_RETRY_BASE_S * 2 ** (attempts - 1))
    delay = random.uniform(cap / 2, cap)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return int(delay * 1000)


def deliver(notification_ids: Sequence[int]) -> dict[str, int]:
    """Try to deliver these notifications now; returns how many ended how."""
    token = secrets.token_hex(8)
    lease_until = now_ms() + (settings.IM_PUSH_TIMEOUT_S + settings.IM_PUSH_REDELIVER_S) * 1000
    claim = {"state": State.SENDING, "claim": token, "attempts": F("attempts") + 1,
             "next_attempt_at": lease_until}
    claimed = Notification.objects.filter(
        pk__in=list(notification_ids), state__in=CLAIMABLE, device__enabled=True,
    ).update(**claim)
    counts: dict[str, int] = {}
    if not claimed:
        return counts
    if settings.IM_PUSH_COLLAPSE_S:
        _join_pending(token, claim)
    rows = list(Notification.objects.select_related("device")
                .filter(claim=token, state=State.SENDING).order_by("id"))
    groups = collapse_groups(rows)
    unread = unread_counts(group[-1].user_id for group in groups)
    sent = send_groups(groups, lambda group: payload_of(
        group[-1], unread=unread.get(group[-1].user_id), collapsed=len(group)), get_breaker())
    _record_all(token, sent, counts)
    return counts


def collapse_groups(rows: list[Notification]) -> list[list[Notification]]:
    """The rows to send as one notification each, oldest first within a group: with
    collapsing on, one group per (device, channel); otherwise one per row."""
    if not settings.IM_PUSH_COLLAPSE_S:
        return [[row] for row in rows]
    groups: dict[tuple[int, str], list[Notification]] = {}
    for row in rows:
        groups.setdefault((row.device_id, row.channel), []).append(row)
    return [sorted(group, key=lambda r: r.seq) for group in groups.values()]


def _join_pending(token: str, claim: dict) -> None:
    """Claim the other pending rows of the claimed rows' (device, channel) pairs: the
    messages of a collapse window that are not due yet join the first one's delivery
    (their own publish later finds them claimed, and does nothing)."""
    pairs = set(Notification.objects.filter(claim=token, state=State.SENDING)
                .values_list("device_id", "channel"))
    if not pairs:
        return
    same = Q()
    for device_id, channel in sorted(pairs):
        same |= Q(device_id=device_id, channel=channel)
    Notification.objects.filter(same, state__in=CLAIMABLE).update(**claim)


def _record_all(token: str, results: list[Sent], counts: dict[str, int]) -> None:
    now = now_ms()
    sent: dict[int | None, list[int]] = {}  # by status: one UPDATE each
    joined: list[int] = []  # told within another row's notification
    moved: Counter = Counter()  # rows by the state they were moved into
    for result in results:
        if result.result == OK:
            sent.setdefault(result.outcome.status, []).append(result.group[-1].pk)
            joined.extend(row.pk for row in result.group[:-1])
    with transaction.atomic():
        for status, ids in sent.items():
            moved.update(sent=Notification.objects.filter(
                pk__in=ids, claim=token, state=State.SENDING,
            ).update(state=State.SENT, sent_ms=now, last_status=status, last_error=""))
        if joined:
            moved.update(sent=Notification.objects.filter(
                pk__in=joined, claim=token, state=State.SENDING,
            ).update(state=State.SENT, sent_ms=now, last_error="collapsed"))
        for result in results:
            counts[result.result] = counts.get(result.result, 0) + 1
            metrics.push_outcome(result.group[-1].kind, result.result)
            if result.result != OK:
                for row in result.group:
                    _record(row, result.result, result.outcome, result.wait_ms, moved)
    for outcome, count in moved.items():  # once committed
        metrics.notifications_moved(outcome, count)


def _record(row: Notification, result: str, outcome: Outcome | None, wait: int,
            moved: Counter) -> None:
    now = now_ms()
    mine = Notification.objects.filter(pk=row.pk, claim=row.claim, state=State.SENDING)
    if outcome is None:  # held by an open breaker: not an attempt, not counted
        mine.update(state=State.RETRYING, next_attempt_at=now + wait,
                    attempts=F("attempts") - 1, last_error="breaker open")
        return
    common = {"last_status": outcome.status, "last_error": outcome.error[:300]}
    if result == OK:
        moved.update(sent=mine.update(state=State.SENT, sent_ms=now,
                                                        **common))
    elif result == GONE:
        mine.update(**common)
        moved.update(disabled=device_disable(device_id=row.device_id))
        log.info("push target of device %s is gone (%s): disabled", row.device_id, outcome.status)
    elif result == BAD:
        moved.update(failed=mine.update(state=State.FAILED, **common))
        log.warning("notification %s refused: %s %s", row.key, outcome.status, outcome.error)
    elif (row.attempts >= settings.IM_PUSH_MAX_ATTEMPTS
          or now - row.created_ms > settings.IM_PUSH_MAX_AGE_S * 1000):
        moved.update(dead=mine.update(state=State.DEAD, **common))
        log.warning("notification %s dead after %d attempts", row.key, row.attempts)
    else:
        moved.update(retried=mine.update(
            state=State.RETRYING,
            next_attempt_at=now + retry_delay_ms(row.attempts, outcome.retry_after_s),
            **common))
