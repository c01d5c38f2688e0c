"""Reads of registrations and settings, and the unread count a notification carries."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from messaging.selectors.channels import channels_of_users
from messaging.selectors.read_marks import unread_states
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
    `unread` of GET /api/channels/ (section 11). Read when a notification is sent,
    not when a message is stored, for a task's recipients together: their channels
    (three queries), their mutes (one), unread_states (two, rarely more)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    channels = channels_of_users(ids)
    every = sorted({channel for mine in channels.values() for channel in mine})
    for user_id, channel in ChannelSetting.objects.filter(
            user_id__in=ids, channel__in=every, muted=True).values_list("user_id", "channel"):
        channels[user_id].pop(channel, None)
    return {user_id: sum(unread for _, unread in state.values())
            for user_id, state in unread_states(channels).items()}
