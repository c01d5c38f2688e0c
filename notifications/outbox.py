"""Writing the outbox from stored messages, and finding what is due again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from improto.frames import CONTENT_TYPES
from messaging.store import StoredMessage
from notifications.clock import now_ms
from notifications.models import PENDING, Notification, State
from notifications.selectors import enabled_devices_of, muted_pairs
from realtime import runtime

PREVIEW_CHARS = 100


def preview_of(message: StoredMessage) -> str:
    if not settings.IM_PUSH_PREVIEW or message.type != "text":
        return ""
    text = str(message.body.get("text", ""))
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def live_devices(user_ids: Sequence[int]) -> dict[int, set[str]]:
    locator = runtime.locator()
    return {uid: {record.device for record in locator.conns_of(uid)} for uid in user_ids}


def outbox_fill(stored: Sequence[tuple[StoredMessage, frozenset[int]]]) -> list[tuple[int, str]]:
    """One row per (registered device without a live connection, message), for every
    member but the sender who has not muted the channel. Returns (id, kind) of the
    rows written, to be published."""
    stored = [(m, r) for m, r in stored if m.type in CONTENT_TYPES]
    wanted = {uid for m, recipients in stored for uid in recipients if uid != m.sender_id}
    if not wanted:
        return []
    devices = defaultdict(list)
    for device in enabled_devices_of(wanted):
        devices[device.user_id].append(device)
    if not devices:
        return []
    muted = muted_pairs({m.channel for m, _ in stored}, devices)
    live = live_devices(list(devices))
    now = now_ms()
    rows = []
    for message, recipients in stored:
        preview = preview_of(message)
        for uid in recipients:
            if uid == message.sender_id or (uid, message.channel) in muted:
                continue
            for device in devices.get(uid, ()):
                if device.device in live[uid]:
                    continue
                rows.append(Notification(
                    key=f"{device.pk}:{message.channel}:{message.seq}", device=device,
                    kind=device.kind, user_id=uid, channel=message.channel, seq=message.seq,
                    sender_id=message.sender_id, type=message.type, ts=message.ts,
                    preview=preview, state=State.QUEUED, created_ms=now,
                    # Published right after this commit; if that publish is lost, the
                    # sweep publishes it again from this time on.
                    next_attempt_at=now + settings.IM_PUSH_REDELIVER_S * 1000,
                ))
    if not rows:
        return []
    with transaction.atomic():
        Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        written = list(Notification.objects.filter(
            key__in=[r.key for r in rows], state=State.QUEUED, created_ms=now,
        ).values_list("id", "kind"))
    return written


def outbox_due(limit: int = 1000) -> list[tuple[int, str]]:
    """Pending rows whose time has come (retries due, publishes lost, workers that died
    holding one); each is leased for IM_PUSH_REDELIVER_S before it is due again."""
    now = now_ms()
    due = list(Notification.objects.filter(state__in=PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("id", "kind", "state")[:limit])
    if not due:
        return []
    ids = [i for i, _, _ in due]
    with transaction.atomic():
        lease = now + settings.IM_PUSH_REDELIVER_S * 1000
        # A worker that held a row past its lease is gone: the row is queued again.
        Notification.objects.filter(pk__in=ids, state=State.SENDING, next_attempt_at__lte=now
                                    ).update(state=State.QUEUED, next_attempt_at=lease)
        Notification.objects.filter(pk__in=ids, state__in=(State.QUEUED, State.RETRYING),
                                    next_attempt_at__lte=now).update(next_attempt_at=lease)
    return [(i, kind) for i, kind, _ in due]


def outbox_resend(ids: Sequence[int]) -> list[tuple[int, str]]:
    """Dead (or failed) notifications queued again, as new: attempts and age reset."""
    now = now_ms()
    rows = Notification.objects.filter(pk__in=list(ids), state__in=(State.DEAD, State.FAILED),
                                       device__enabled=True)
    picked = list(rows.values_list("id", "kind"))
    rows.update(state=State.QUEUED, attempts=0, created_ms=now,
                next_attempt_at=now + settings.IM_PUSH_REDELIVER_S * 1000, last_error="")
    return picked
