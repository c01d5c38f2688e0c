"""Reads of registrations and settings, and the unread count a notification carries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from messaging.selectors.read_marks import unread_state
from messaging.store import get_store
from notifications.models import ChannelSetting, Device


def devices_of_user(*, user_id: int) -> QuerySet[Device]:
    return Device.objects.filter(user_id=user_id).order_by("id")


def enabled_devices_of(user_ids: Iterable[int]) -> list[Device]:
    return list(Device.objects.filter(user_id__in=list(user_ids), enabled=True))


def muted_pairs(channels: Iterable[str], user_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(user, channel) pairs muted among the given channels and users."""
    return set(ChannelSetting.objects.filter(
        channel__in=list(channels), user_id__in=list(user_ids), muted=True,
    ).values_list("user_id", "channel"))


def unread_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """Each user's unread messages over the channels they have not muted: the sum of
    `unread` of GET /api/channels/ (section 11). Read when a notification is sent, not
    when a message is stored: one query for every user's mutes, then three per user
    (their channels, read positions, edits and recalls after them)."""
    ids = sorted(set(user_ids))
    muted: dict[int, set[str]] = defaultdict(set)
    for user_id, channel in ChannelSetting.objects.filter(
            user_id__in=ids, muted=True).values_list("user_id", "channel"):
        muted[user_id].add(channel)
    store = get_store()
    answer = {}
    for user_id in ids:
        last_seqs = {channel: last for channel, last in store.channels_of_user(user_id)
                     if channel not in muted[user_id]}
        state = unread_state(user_id=user_id, last_seqs=last_seqs)
        answer[user_id] = sum(unread for _, unread in state.values())
    return answer
