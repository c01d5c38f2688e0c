"""Writing the outbox from stored messages, and finding what is due again."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from improto.channels import parse_channel
from improto.frames import CONTENT_TYPES
from messaging.selectors.members import group_members
from messaging.store import StoredMessage, get_store
from notifications.clock import now_ms
from notifications.models import PENDING, Notification, OutboxIntent, State
from notifications.selectors import enabled_devices_of, muted_pairs
from realtime import runtime

log = logging.getLogger(__name__)

PREVIEW_CHARS = 100


def preview_of(message: StoredMessage) -> str:
    if not settings.IM_PUSH_PREVIEW or message.type != "text":
        return ""
    text = str(message.body.get("text", ""))
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def first_publish_delay_ms() -> int:
    return (settings.IM_PUSH_COLLAPSE_S + settings.IM_PUSH_REDELIVER_S) * 1000


def live_devices(user_ids: Sequence[int]) -> dict[int, set[str]]:
    locator = runtime.locator()
    return {uid: {record.device for record in locator.conns_of(uid)} for uid in user_ids}


def outbox_intent(stored: Sequence[tuple[StoredMessage, frozenset[int]]]) -> int | None:
    """Record, in the storing transaction, the content messages whose notifications
    are still to be written; returns the intent's id (None: nothing to notify)."""
    keys = [[m.channel, m.seq] for m, _ in stored if m.type in CONTENT_TYPES]
    if not keys:
        return None
    return OutboxIntent.objects.create(keys=keys, created_ms=now_ms()).pk


def outbox_fill(stored: Sequence[tuple[StoredMessage, frozenset[int]]],
                intents: Sequence[int] = ()) -> list[tuple[int, str]]:
    """One row per (registered device without a live connection, message), for every
    member but the sender who has not muted the channel, and the intents that named
    these messages deleted, in one transaction. Returns (id, kind) of the rows
    written, to be published."""
    rows = _rows_of(stored)
    written: list[tuple[int, str, int, str]] = []
    with transaction.atomic():
        if rows:
            Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
            written = list(Notification.objects.filter(
                key__in=[r.key for r in rows], state=State.QUEUED,
                created_ms=rows[0].created_ms,
            ).order_by("id").values_list("id", "kind", "device_id", "channel"))
        if intents:
            OutboxIntent.objects.filter(pk__in=list(intents)).delete()
    if settings.IM_PUSH_COLLAPSE_S and written:
        return _window_openers(written)
    return [(pk, kind) for pk, kind, _, _ in written]


def _window_openers(written: list[tuple[int, str, int, str]]) -> list[tuple[int, str]]:
    """The rows to publish when collapsing: per (device, channel), only a row with no
    earlier one still queued, which opens a window; the others are claimed with it
    when it is delivered (one publisher per window, so two deliveries do not split
    it). A row that misses the claim is delivered by the sweep, later, not lost."""
    first = written[0][0]
    queued = set(Notification.objects.filter(
        device_id__in={d for _, _, d, _ in written}, channel__in={c for _, _, _, c in written},
        state=State.QUEUED, pk__lt=first,
    ).values_list("device_id", "channel"))
    openers = []
    for pk, kind, device_id, channel in written:
        if (device_id, channel) not in queued:
            queued.add((device_id, channel))
            openers.append((pk, kind))
    return openers


def _rows_of(stored: Sequence[tuple[StoredMessage, frozenset[int]]]) -> list[Notification]:
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
                    # Published right after this commit (or after the collapse
                    # window); if that publish is lost, the sweep publishes it again
                    # from this time on.
                    next_attempt_at=now + first_publish_delay_ms(),
                ))
    return rows


def outbox_replay(limit: int = 100) -> list[tuple[int, str]]:
    """Fill the outbox for intents older than IM_PUSH_REDELIVER_S: their process died
    between the messages' commit and its outbox write. Rows already written are kept
    (the key is unique), so a replay racing a slow fill writes nothing twice."""
    older = now_ms() - settings.IM_PUSH_REDELIVER_S * 1000
    intents = list(OutboxIntent.objects.filter(created_ms__lte=older).order_by("id")[:limit])
    if not intents:
        return []
    found = get_store().find([(c, s) for i in intents for c, s in i.keys])
    members = group_members({parse_channel(c).group for c, _ in found
                             if parse_channel(c).kind == "g"})
    stored = []
    for (channel, _), message in sorted(found.items()):
        parsed = parse_channel(channel)
        recipients = (members.get(parsed.group, frozenset()) if parsed.kind == "g"
                      else frozenset({parsed.a, parsed.b}))
        stored.append((message, recipients))
    log.warning("notifications of %d messages replayed (their server stopped before "
                "writing them)", len(stored))
    return outbox_fill(stored, [i.pk for i in intents])


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
