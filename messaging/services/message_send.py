"""The one write path for a message, whatever transport it came in on.

Validate everything that can fail, store the batch in one transaction, and return
what the caller must do after commit (ack, fan out). Synchronous: the realtime tier
runs it on the writer thread; it never touches a socket.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accounts.blocking import active_and_blocked, blocked_pairs
from improto.channels import g_channel, p_channel, parse_channel
from improto.errors import FORBIDDEN, INVALID, NOT_FOUND
from improto.vocabulary import AUDIO, FILE, IMAGE, MEDIA_TYPES, VIDEO
from media.models import MediaFile, MediaKind
from media.selectors import media_fields, media_for_send
from media.services import media_grant
from messaging.selectors.members import group_members
from messaging.services.message_edit import (
    Revision,
    revision_refusal,
    revision_targets,
    revisions_apply,
    stored_client_ids,
    target_address,
)
from messaging.services.read_marks import (
    ReadMoved,
    ReadRequest,
    read_groups,
    read_moved,
    read_positions_advance,
    read_refusal,
)
from messaging.signals import messages_stored, messages_storing
from messaging.store import AppendResult, NewMessage, get_store

# The kind of file each media frame carries. A `file` frame takes any kind: a photo
# can be sent as a document, as every messenger allows.
_FRAME_KINDS: dict[str, frozenset[str]] = {
    IMAGE: frozenset({MediaKind.IMAGE}),
    VIDEO: frozenset({MediaKind.VIDEO}),
    AUDIO: frozenset({MediaKind.AUDIO}),
    FILE: frozenset(MediaKind.values),
}


@dataclass(frozen=True, slots=True)
class SendRequest:
    sender_id: int
    client_id: str
    type: str
    body: dict
    to: int | None = None
    group: int | None = None
    # An edit or a recall names its channel and its target instead of to/group.
    channel: str | None = None
    target: int | None = None
    moderator: bool = False  # a moderator's redaction (the admin's, never a client's)


@dataclass(frozen=True, slots=True)
class SendRefused:
    code: str  # a wire error code (improto.errors): forbidden, not_found, invalid
    message: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: AppendResult | None = None
    refused: SendRefused | None = None
    recipients: frozenset[int] = frozenset()
    read: bool = False  # a read request, accepted
    read_moved: ReadMoved | None = None  # ... that moved the position: who is told

    def delivery(self) -> tuple[dict, frozenset[int]] | None:
        """What to push after commit, and to whom (None: nothing)."""
        if self.result is not None and not self.result.dup:
            return self.result.message.to_frame(), self.recipients
        if self.read_moved is not None:
            return self.read_moved.frame, self.read_moved.recipients
        return None


Request = SendRequest | ReadRequest


def messages_send(requests: Sequence[Request]) -> list[SendOutcome]:
    """Store every acceptable request of the batch, in order; one outcome per request.

    The checks and the writes are one transaction, and the senders' rows are locked
    in it: a ban (or an account closed) either commits before, and its user's
    messages are refused, or waits for this batch to commit. Nothing from a user is
    stored after the commit that disabled them, whatever the connection believed.
    Read requests ride in the same batch: their positions are written by one
    statement with the messages' (sending a message reads its channel up to it).
    """
    with transaction.atomic():
        return _send_batch(requests)


def _send_batch(requests: Sequence[Request]) -> list[SendOutcome]:
    sends = [(i, r) for i, r in enumerate(requests) if isinstance(r, SendRequest)]
    reads = [(i, r) for i, r in enumerate(requests) if isinstance(r, ReadRequest)]
    outcomes: list[SendOutcome | None] = [None] * len(requests)
    resolved: list[tuple[int, SendRequest]] = []
    for index, request in sends:
        addressed = _addressed(request)
        if addressed is None:
            outcomes[index] = SendOutcome(
                refused=SendRefused(FORBIDDEN, f"not a member of {request.channel}"))
        else:
            resolved.append((index, addressed))

    # Blocks and group members are read after the senders' rows are locked: a block
    # of one of them, or their removal from a group, committed before this point is
    # seen, and one committing later waits for this batch (accounts.blocking,
    # messaging.services.groups). The members come from this process's cache only
    # when the group's members_version read here still matches (selectors.members).
    senders, users, blocked = _active_senders_and_recipients(
        {r.sender_id for _, r in resolved} | {r.user_id for _, r in reads},
        {(r.sender_id, r.to) for _, r in resolved if r.to is not None},
    )
    groups = group_members(
        {r.group for _, r in resolved if r.group is not None}
        | {parse_channel(r.channel).group for _, r in resolved
           if r.channel is not None and r.channel.startswith("g:")}
        | read_groups(r for _, r in reads)
    )
    media = media_for_send(r.body.get("media") for _, r in resolved if r.type in MEDIA_TYPES)
    revisions = [
        Revision(index, r.type, r.channel, r.target, r.sender_id, r.client_id, r.moderator)
        for index, r in resolved if r.channel is not None
    ]
    targets = revision_targets(revisions)  # locked after the senders, before the channels
    retried = stored_client_ids(revisions)
    revision_of = {revision.index: revision for revision in revisions}
    now = now_ms()

    accepted: list[tuple[int, NewMessage, frozenset[int], SendRequest]] = []
    grants: list[tuple[str, str]] = []
    for index, request in resolved:
        revision = revision_of.get(index)
        if request.moderator:
            refused = None if request.sender_id in senders else SendRefused(
                FORBIDDEN, "this account is disabled")
        else:
            refused = _refusal(request, senders, users, groups, media, blocked)
        if refused is None and revision is not None and (
            (revision.channel, revision.sender_id, revision.client_id) not in retried
        ):
            why = revision_refusal(revision, targets, now_ms=now)
            refused = SendRefused(*why) if why is not None else None
        if refused is not None:
            outcomes[index] = SendOutcome(refused=refused)
            continue
        to, group = request.to, request.group
        if request.moderator and revision is not None:
            to, group = target_address(revision, targets)
        if request.channel is not None:
            channel = request.channel
        elif group is not None:
            channel = g_channel(group)
        else:
            channel = p_channel(request.sender_id, to)
        parsed = parse_channel(channel)
        recipients = (groups.get(parsed.group, frozenset()) if parsed.kind == "g"
                      else frozenset({parsed.a, parsed.b}))
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
            recipient_id=to if group is None else None,
            group_id=group,
            target=request.target,
        )
        accepted.append((index, new, recipients, request))

    marks: list[tuple[int, str, int]] = []
    if accepted:
        # Grants first: once a message is out, its readers can fetch its file. A grant
        # whose message then fails to store only lets channel members see a file its
        # owner chose to send them.
        media_grant(grants=grants)
        results = get_store().append([new for _, new, _, _ in accepted], now_ms=now)
        revised = []
        for (index, _, recipients, request), result in zip(accepted, results, strict=True):
            outcomes[index] = SendOutcome(result=result, recipients=recipients)
            if result.dup:
                continue
            if request.target is not None:
                revised.append((result, request.body))
            if not request.moderator:
                marks.append((request.sender_id, result.message.channel, result.message.seq))
        revisions_apply(revised)
        if messages_stored.has_listeners() or messages_storing.has_listeners():
            stored = [(o.result.message, o.recipients) for o in outcomes
                      if o is not None and o.result is not None and not o.result.dup]
            if stored and messages_storing.has_listeners():
                messages_storing.send(None, stored=stored)
            if stored and messages_stored.has_listeners():
                transaction.on_commit(
                    lambda: messages_stored.send(None, stored=stored), robust=True
                )
    _read_batch(reads, senders, groups, marks, outcomes)
    return outcomes  # type: ignore[return-value]


def _addressed(request: SendRequest) -> SendRequest | None:
    """An edit or a recall with the to/group of its channel; None if its sender is no
    member of the private channel it names. Other requests unchanged."""
    if request.channel is None:
        return request
    parsed = parse_channel(request.channel)
    if parsed.kind == "g":
        return replace(request, group=parsed.group, to=None)
    if request.moderator:
        return request  # addressed as its target, once that is read
    if request.sender_id not in (parsed.a, parsed.b):
        return None
    return replace(request, to=parsed.b if request.sender_id == parsed.a else parsed.a)


def _read_batch(
    reads: list[tuple[int, ReadRequest]],
    active: set[int],
    groups: dict[int, frozenset[int]],
    marks: list[tuple[int, str, int]],
    outcomes: list[SendOutcome | None],
) -> None:
    """Check the read requests against the channels as this batch left them, then
    write every position the batch moves (reads and sends) in one statement."""
    last = get_store().last_seqs(sorted({r.channel for _, r in reads})) if reads else {}
    valid: list[tuple[int, ReadRequest]] = []
    for index, request in reads:
        why = read_refusal(request, active=active, last_seq=last.get(request.channel, 0),
                           groups=groups)
        if why is not None:
            outcomes[index] = SendOutcome(refused=SendRefused(*why))
        else:
            valid.append((index, request))
            marks.append((request.user_id, request.channel, request.seq))
    moved = read_positions_advance(marks, report=bool(valid))
    peers = {}
    for _, request in valid:
        parsed = parse_channel(request.channel)
        if parsed.kind == "p":
            peers[request.user_id, request.channel] = (
                parsed.b if request.user_id == parsed.a else parsed.a)
    # A receipt is not told across a block, in either direction (one query).
    blocked = blocked_pairs({pair for (reader, _), peer in peers.items()
                             for pair in ((reader, peer), (peer, reader))})
    told: set[tuple[int, str]] = set()
    for index, request in reversed(valid):  # the last read that reached a position tells it
        key = (request.user_id, request.channel)
        event = None
        if key not in told and request.seq > 0 and moved.get(key) == request.seq:
            told.add(key)
            peer = peers.get(key)
            hidden = peer is not None and bool(
                {(request.user_id, peer), (peer, request.user_id)} & blocked)
            event = read_moved(user_id=request.user_id, channel=request.channel,
                               seq=request.seq, tell_peer=not hidden)
        outcomes[index] = SendOutcome(read=True, read_moved=event)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _refusal(
    request: SendRequest,
    senders: set[int],
    users: set[int],
    groups: dict[int, frozenset[int]],
    media: dict[str, MediaFile],
    blocked: set[tuple[int, int]],
) -> SendRefused | None:
    if request.sender_id not in senders:
        return SendRefused(FORBIDDEN, "this account is disabled")
    if request.type in MEDIA_TYPES:
        media_id = request.body.get("media")
        found = media.get(media_id)
        # Someone else's file is as unknown as a file that does not exist.
        if found is None or found.owner_id != request.sender_id:
            return SendRefused(NOT_FOUND, f"no such media: {media_id!r}")
        if found.kind not in _FRAME_KINDS[request.type]:
            return SendRefused(
                INVALID, f"media {media_id!r} is a {found.kind}, not {request.type}"
            )
    if request.group is not None:
        members = groups.get(request.group)
        if members is None:
            return SendRefused(NOT_FOUND, f"no such group: {request.group}")
        if request.sender_id not in members:
            return SendRefused(FORBIDDEN, f"not a member of {g_channel(request.group)}")
        return None
    if request.to not in users:
        return SendRefused(NOT_FOUND, f"no such user: {request.to}")
    if (request.sender_id, request.to) in blocked:
        # Only the code: the sender is not told why beyond it.
        return SendRefused(FORBIDDEN, "you cannot send to this user")
    return None


def _active_senders_and_recipients(
    senders: set[int], pairs: set[tuple[int, int]]
) -> tuple[set[int], set[int], set[tuple[int, int]]]:
    """The active ones among the senders, their rows locked to commit (in id order, so
    that two writers never deadlock; no writer holds a channel's lock while it waits);
    the active ones among the recipients, not locked; and the (sender, recipient)
    pairs where the recipient blocked the sender, read by a statement that begins
    after the senders' locks are held.

    Where the database has no row locks (SQLite), its writers are serialised whole
    (BEGIN IMMEDIATE): one query for all three does."""
    recipients = {r for _, r in pairs}
    if not connection.features.has_select_for_update:
        active, blocked = active_and_blocked(senders | recipients, pairs)
        return senders & active, recipients & active, blocked
    locked: set[int] = set()
    if senders:
        user_table = connection.ops.quote_name(get_user_model()._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "id" FROM {user_table} WHERE "id" = ANY(%s) AND "is_active" '
                f'ORDER BY "id" FOR NO KEY UPDATE',
                [sorted(senders)],
            )
            locked = {user_id for (user_id,) in cursor.fetchall()}
    active, blocked = active_and_blocked(recipients, pairs)
    return locked, active, blocked
