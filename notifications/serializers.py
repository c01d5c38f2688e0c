from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from accounts.serializers import StrictBooleanField, StrictCharField
from improto.frames import DEVICE_NAME
from notifications.models import DeviceKind


class DeviceIn(serializers.Serializer):
    device = StrictCharField(max_length=64, validators=[
        RegexValidator(rf"^(?:{DEVICE_NAME.pattern})\Z",
                       "may hold only letters, digits and -_.:@")])
    kind = serializers.ChoiceField(choices=DeviceKind.choices)
    target = serializers.JSONField(help_text=(
        "webhook: an http(s) URL; webpush: {endpoint, keys: {p256dh, auth}}; "
        "fcm: a registration token; apns: a device token"))
    secret = StrictCharField(min_length=16, max_length=128, required=False)


class DeviceOut(serializers.Serializer):
    id = serializers.IntegerField()
    device = serializers.CharField()
    kind = serializers.CharField()
    enabled = serializers.BooleanField()
    created = serializers.DateTimeField()


class DeviceCreatedOut(DeviceOut):
    secret = serializers.CharField(required=False, help_text="only when the server made it")


class ChannelSettingsIn(serializers.Serializer):
    muted = StrictBooleanField(required=False)


class ChannelSettingsOut(serializers.Serializer):
    channel = serializers.CharField()
    muted = serializers.BooleanField()
