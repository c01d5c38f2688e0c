"""The one write path for a message, whatever transport it came in on.

Validate everything that can fail, store the batch in one transaction, and return
what the caller must do after commit (ack, fan out). Synchronous: the realtime tier
runs it on the writer thread; it never touches a socket.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from improto.channels import g_channel, p_channel
from improto.frames import MEDIA_TYPES
from media.models import MediaFile, MediaKind
from media.selectors import media_fields, media_for_send
from media.services import media_grant
from messaging.models import Group, Membership
from messaging.signals import messages_stored
from messaging.store import AppendResult, NewMessage, get_store

# The kind of file each media frame carries. A `file` frame takes any kind: a photo
# can be sent as a document, as every messenger allows.
_FRAME_KINDS: dict[str, frozenset[str]] = {
    "image": frozenset({MediaKind.IMAGE}),
    "video": frozenset({MediaKind.VIDEO}),
    "audio": frozenset({MediaKind.AUDIO}),
    "file": frozenset(MediaKind.values),
}


@dataclass(frozen=True, slots=True)
class SendRequest:
    sender_id: int
    client_id: str
    type: str
    body: dict
    to: int | None = None
    group: int | None = None


@dataclass(frozen=True, slots=True)
class SendRefused:
    code: str  # a PROTOCOL.md error code: forbidden, not_found, invalid
    message: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: AppendResult | None = None
    refused: SendRefused | None = None
    recipients: frozenset[int] = frozenset()


def messages_send(requests: Sequence[SendRequest]) -> list[SendOutcome]:
    """Store every acceptable request of the batch, in order; one outcome per request.

    The checks and the writes are one transaction, and the senders' rows are locked
    in it: a ban (or an account closed) either commits before, and its user's
    messages are refused, or waits for this batch to commit. Nothing from a user is
    stored after the commit that disabled them, whatever the connection believed.
    """
    with transaction.atomic():
        return _send_batch(requests)


def _send_batch(requests: Sequence[SendRequest]) -> list[SendOutcome]:
    senders, users = _active_senders_and_recipients(
        {r.sender_id for r in requests}, {r.to for r in requests if r.to is not None}
    )
    groups = _group_members({r.group for r in requests if r.group is not None})
    media = media_for_send(r.body.get("media") for r in requests if r.type in MEDIA_TYPES)

    outcomes: list[SendOutcome | None] = []
    accepted: list[tuple[int, NewMessage, frozenset[int]]] = []
    grants: list[tuple[str, str]] = []
    for index, request in enumerate(requests):
        refused = _refusal(request, senders, users, groups, media)
        if refused is not None:
            outcomes.append(SendOutcome(refused=refused))
            continue
        if request.group is not None:
            channel = g_channel(request.group)
            recipients = groups[request.group]
        else:
            channel = p_channel(request.sender_id, request.to)
            recipients = frozenset({request.sender_id, request.to})
        body = request.body
        if request.type in MEDIA_TYPES:
            body = {**body, **media_fields(media[body["media"]])}
            grants.append((body["media"], channel))
        new = NewMessage(
            channel=channel,
            sender_id=request.sender_id,
            client_id=request.client_id,
            type=request.type,
            body=body,
            recipient_id=request.to,
            group_id=request.group,
        )
        outcomes.append(None)
        accepted.append((index, new, recipients))

    if accepted:
        # Grants first: once a message is out, its readers can fetch its file. A grant
        # whose message then fails to store only lets channel members see a file its
        # owner chose to send them.
        media_grant(grants=grants)
        results = get_store().append([new for _, new, _ in accepted], now_ms=now_ms())
        for (index, _, recipients), result in zip(accepted, results, strict=True):
            outcomes[index] = SendOutcome(result=result, recipients=recipients)
        if messages_stored.has_listeners():
            stored = [(o.result.message, o.recipients) for o in outcomes
                      if o is not None and o.result is not None and not o.result.dup]
            if stored:
                transaction.on_commit(
                    lambda: messages_stored.send(None, stored=stored), robust=True
                )
    return outcomes  # type: ignore[return-value]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _refusal(
    request: SendRequest,
    senders: set[int],
    users: set[int],
    groups: dict[int, frozenset[int]],
    media: dict[str, MediaFile],
) -> SendRefused | None:
    if request.sender_id not in senders:
        return SendRefused("forbidden", "this account is disabled")
    if request.type in MEDIA_TYPES:
        media_id = request.body.get("media")
        found = media.get(media_id)
        # Someone else's file is as unknown as a file that does not exist.
        if found is None or found.owner_id != request.sender_id:
            return SendRefused("not_found", f"no such media: {media_id!r}")
        if found.kind not in _FRAME_KINDS[request.type]:
            return SendRefused(
                "invalid", f"media {media_id!r} is a {found.kind}, not {request.type}"
            )
    if request.group is not None:
        members = groups.get(request.group)
        if members is None:
            return SendRefused("not_found", f"no such group: {request.group}")
        if request.sender_id not in members:
            return SendRefused("forbidden", f"not a member of {g_channel(request.group)}")
        return None
    if request.to not in users:
        return SendRefused("not_found", f"no such user: {request.to}")
    return None


def _active_senders_and_recipients(
    senders: set[int], recipients: set[int]
) -> tuple[set[int], set[int]]:
    """The active ones among the senders, their rows locked to commit (in id order, so
    that two writers never deadlock; no writer holds a channel's lock while it waits),
    and the active ones among the recipients, not locked.

    Where the database has no row locks (SQLite), its writers are serialised whole
    (BEGIN IMMEDIATE): one query for both sets does."""
    if not connection.features.has_select_for_update:
        active = _active_users(senders | recipients)
        return senders & active, recipients & active
    query = (
        get_user_model().objects.select_for_update(no_key=True)
        .filter(pk__in=senders, is_active=True).order_by("pk")
    )
    return set(query.values_list("pk", flat=True)), _active_users(recipients)


def _active_users(ids: set[int]) -> set[int]:
    if not ids:
        return set()
    query = get_user_model().objects.filter(pk__in=ids, is_active=True)
    return set(query.values_list("pk", flat=True))


def _group_members(ids: set[int]) -> dict[int, frozenset[int]]:
    if not ids:
        return {}
    members: dict[int, set[int]] = {
        gid: set() for gid in Group.objects.filter(pk__in=ids).values_list("pk", flat=True)
    }
    for gid, uid in Membership.objects.filter(group_id__in=members).values_list(
        "group_id", "user_id"
    ):
        members[gid].add(uid)
    return {gid: frozenset(uids) for gid, uids in members.items()}
