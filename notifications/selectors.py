"""Reads of registrations and settings."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

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
