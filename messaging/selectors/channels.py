"""Reads of channels and their messages, with the membership check every reader needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from msgpack import packb

from accounts.blocking import blocked_pairs
from improto.channels import parse_channel
from messaging.models import ChannelState, Membership
from messaging.selectors.members import group_members
from messaging.selectors.read_marks import unread_state
from messaging.store import StoredMessage, get_store


class ChannelForbidden(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ChannelPage:
    channel: str
    messages: list[StoredMessage]
    last_seq: int
    first_seq: int  # the lowest seq still stored; those below were removed by retention


def channel_check_access(*, user_id: int, channel: str) -> None:
    """Raise ChannelForbidden unless the user may read the channel."""
    try:
        parsed = parse_channel(channel)
    except ValueError:
        raise ChannelForbidden(f"no such channel: {channel!r}") from None
    if parsed.kind == "p":
        if user_id not in (parsed.a, parsed.b):
            raise ChannelForbidden(f"not a member of {channel}")
        return
    if not Membership.objects.filter(group_id=parsed.group, user_id=user_id).exists():
        raise ChannelForbidden(f"not a member of {channel}")


def channel_readable_any(sender=None, *, user_id: int, channels: list[str], **kwargs) -> bool:
    """True if the user may read one of the channels (checked in the order given).

    The answer to media's `channel_read_check`: members of a channel a file was sent
    to may fetch the file."""
    for channel in channels:
        try:
            channel_check_access(user_id=user_id, channel=channel)
        except ChannelForbidden:
            continue
        return True
    return False


def channel_messages(
    *, user_id: int, channel: str, after: int = 0, before: int | None = None, limit: int = 100,
    max_bytes: int | None = None,
) -> ChannelPage:
    """A page of history. It stops before `max_bytes` (IM_SYNC_MAX_BYTES by default)
    of messages, holding at least one: a reader asks again from where it ends."""
    channel_check_access(user_id=user_id, channel=channel)
    store = get_store()
    # last_seq is read first: every message up to it is stored, so the page and the
    # number never disagree in a way that shows a hole.
    last_seq = store.last_seqs([channel])[channel]
    messages = store.range(channel, after=after, before=before, limit=limit)
    if before is None and messages and len(messages) < limit and _top(messages) < last_seq:
        # The hot window is written after the acks and may end short of what is stored:
        # the rest of the page from the store (a window that is up to date never gets here).
        messages += store.range(channel, after=_top(messages), limit=limit - len(messages))
    # first_seq is read after the range: retention raises it before it deletes, so
    # any seq missing below the page's messages is below it, never a hole. A copy of
    # a removed message (a hot window that missed the removal) is not shown.
    first_seq = store.first_seqs([channel])[channel]
    messages = [m for m in messages if m.seq >= first_seq]
    budget = settings.IM_SYNC_MAX_BYTES if max_bytes is None else max_bytes
    # Paging forward keeps the oldest; paging back (only `before`) keeps the newest.
    messages = _within(messages, budget, newest=bool(before is not None and not after))
    return ChannelPage(channel=channel, messages=messages, last_seq=max(last_seq, _top(messages)),
                       first_seq=first_seq)


def _within(messages: list[StoredMessage], budget: int, *, newest: bool) -> list[StoredMessage]:
    ordered = reversed(messages) if newest else messages
    kept, size = [], 0
    for message in ordered:
        size += len(packb(message.to_frame()))
        if kept and size > budget:
            break
        kept.append(message)
    if newest:
        kept.reverse()
    return kept


def _top(messages: list[StoredMessage]) -> int:
    return messages[-1].seq if messages else 0


def channel_list(*, user_id: int) -> list[dict]:
    """[{channel, kind, peer | group, last_seq, first_seq, read_seq, unread}] for every
    channel of the user."""
    store = get_store()
    rows = store.channels_of_user(user_id)
    first_seqs = store.first_seqs([channel for channel, _ in rows]) if rows else {}
    state = unread_state(user_id=user_id, last_seqs=dict(rows), first_seqs=first_seqs)
    answer = []
    for channel, last_seq in rows:
        parsed = parse_channel(channel)
        entry: dict = {"channel": channel, "kind": "group" if parsed.kind == "g" else "private"}
        if parsed.kind == "g":
            entry["group"] = parsed.group
        else:
            entry["peer"] = parsed.b if parsed.a == user_id else parsed.a
        entry["last_seq"] = last_seq
        if first_seqs[channel] > 1:  # absent: nothing removed (docs/protocol.md, Retention)
            entry["first_seq"] = first_seqs[channel]
        entry["read_seq"], entry["unread"] = state[channel]
        answer.append(entry)
    return answer


# What the wire's channel list carries of each channel (docs/protocol.md, Sync).
SYNC_CHANNEL_FIELDS = ("channel", "last_seq", "first_seq", "read_seq")


def channel_list_for_sync(*, user_id: int, max_bytes: int | None = None
                          ) -> tuple[list[dict], bool]:
    """The wire's channel list: (entries, truncated). At most `max_bytes`
    (IM_SYNC_MAX_BYTES) of entries, so that no reply passes what clients accept:
    channels with messages after the user's read position first, then the others;
    `truncated` when some were left out (GET /api/channels/ lists them all)."""
    budget = settings.IM_SYNC_MAX_BYTES if max_bytes is None else max_bytes
    entries = [{k: c[k] for k in SYNC_CHANNEL_FIELDS if k in c}
               for c in channel_list(user_id=user_id)]
    if len(packb(entries)) <= budget:
        return entries, False
    entries.sort(key=lambda e: e["last_seq"] <= e["read_seq"])  # stable: unread first
    kept, size = [], 0
    for entry in entries:
        size += len(packb(entry))
        if size > budget:
            break
        kept.append(entry)
    return kept, True


def channels_of_users(user_ids: list[int]) -> dict[int, dict[str, int]]:
    """{user: {channel: last_seq}} for every channel of each user: what the store's
    channels_of_user answers, for many users in three queries (the channels' rows,
    which both stores keep in the database, the memberships, and the store's last
    seqs) instead of one or two per user."""
    ids = list(user_ids)
    answer: dict[int, dict[str, int]] = {uid: {} for uid in ids}
    groups: dict[int, list[int]] = {}
    for group_id, uid in Membership.objects.filter(user_id__in=ids).values_list(
            "group_id", "user_id"):
        groups.setdefault(group_id, []).append(uid)
    rows = ChannelState.objects.filter(
        Q(user_a__in=ids) | Q(user_b__in=ids) | Q(group_id__in=list(groups))
    ).values_list("channel", "user_a", "user_b", "group_id")
    owners: dict[str, list[int]] = {}
    for channel, a, b, group_id in rows:
        owners[channel] = ([u for u in (a, b) if u in answer] if group_id is None
                           else groups.get(group_id, []))
    for channel, last_seq in get_store().last_seqs(sorted(owners)).items():
        for uid in owners[channel]:
            answer[uid][channel] = last_seq
    return answer


def channel_members(*, user_id: int, channel: str) -> frozenset[int]:
    """Every member of a channel the user may read (ChannelForbidden otherwise).

    A group's members come through the version-checked cache (selectors.members): one
    row read when the cache holds the group, and as exact as reading them all."""
    try:
        parsed = parse_channel(channel)
    except ValueError:
        raise ChannelForbidden(f"no such channel: {channel!r}") from None
    if parsed.kind == "p":
        members = frozenset({parsed.a, parsed.b})
    else:
        members = group_members({parsed.group}).get(parsed.group, frozenset())
    if user_id not in members:
        raise ChannelForbidden(f"not a member of {channel}")
    return members


def typing_audience(*, user_id: int, channel: str) -> frozenset[int]:
    """Who hears that the user types in the channel (ChannelForbidden if the user may
    not read it): the other members; nobody if the user is disabled (a ban or a closed
    account silences every frame from its commit on) or, in a private channel, if a
    block stands between the two (either direction, as for presence)."""
    others = channel_members(user_id=user_id, channel=channel) - {user_id}
    if not others or not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        return frozenset()
    if parse_channel(channel).kind == "p":
        (peer,) = others
        if blocked_pairs({(user_id, peer), (peer, user_id)}):
            return frozenset()
    return others
