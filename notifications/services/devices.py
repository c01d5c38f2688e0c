"""Registrations and channel settings: the writes of the REST side."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from messaging.selectors.channels import channel_check_access
from notifications.models import PENDING, ChannelSetting, Device, Notification, State
from notifications.targets import target_check


class TooManyDevices(Exception):
    pass


def device_register(
    *, user_id: int, device: str, kind: str, target: object, secret: str | None
) -> tuple[Device, str | None]:
    """Register (or replace, and enable again) a device's push target.

    Returns the registration and the secret generated for it (None if the caller gave
    one): it is shown once, in the answer to this request only."""
    target_check(kind, target)
    generated = None
    if secret is None:
        secret = generated = secrets.token_urlsafe(32)
    with transaction.atomic():
        # Every registration multiplies each message into a notification: bounded.
        mine = Device.objects.select_for_update().filter(user_id=user_id)
        names = set(mine.values_list("device", flat=True))
        if device not in names and len(names) >= settings.IM_PUSH_MAX_DEVICES:
            raise TooManyDevices(
                f"at most {settings.IM_PUSH_MAX_DEVICES} registrations; remove one first")
        registration, _ = Device.objects.update_or_create(
            user_id=user_id, device=device,
            defaults={"kind": kind, "target": target, "secret": secret, "enabled": True},
        )
    return registration, generated


def device_remove(*, user_id: int, device_id: int) -> bool:
    """Remove one of the user's registrations; False if the user has no such one."""
    deleted, _ = Device.objects.filter(pk=device_id, user_id=user_id).delete()
    return deleted > 0


def device_disable(*, device_id: int) -> int:
    """The target is gone: nothing more is sent to it, pending notifications included.
    Returns how many notifications were pending."""
    with transaction.atomic():
        Device.objects.filter(pk=device_id).update(enabled=False)
        return Notification.objects.filter(device_id=device_id, state__in=PENDING).update(
            state=State.DISABLED
        )


def channel_mute_set(*, user_id: int, channel: str, muted: bool | None) -> bool:
    """Mute or unmute (None: leave as it is); returns whether the channel is muted.
    Raises messaging's ChannelForbidden unless the user is a member of the channel."""
    channel_check_access(user_id=user_id, channel=channel)
    if muted is None:
        return ChannelSetting.objects.filter(user_id=user_id, channel=channel, muted=True).exists()
    ChannelSetting.objects.update_or_create(
        user_id=user_id, channel=channel, defaults={"muted": muted}
    )
    return muted
