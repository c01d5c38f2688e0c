"""Push registrations, per-channel settings, and the notification outbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DeviceKind(models.TextChoices):
    WEBHOOK = "webhook"
    WEBPUSH = "webpush"
    FCM = "fcm"
    APNS = "apns"


class Device(models.Model):
    """Where one device of a user (the name it gives in `auth`) wants to be told."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices"
    )
    device = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    # A URL or a token (a string), or a Web Push subscription (an object).
    target = models.JSONField()
    secret = models.CharField(max_length=128)
    # False once the provider said the target is gone (404/410).
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "device"], name="push_device_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.device} ({self.kind})"


class ChannelSetting(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_settings"
    )
    channel = models.CharField(max_length=64)
    muted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "channel"], name="channel_setting_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.channel} muted={self.muted}"


class State(models.TextChoices):
    QUEUED = "queued"  # written, handed to a worker (or about to be)
    SENDING = "sending"  # a worker holds it until next_attempt_at
    SENT = "sent"
    RETRYING = "retrying"  # a transient failure; due again at next_attempt_at
    FAILED = "failed"  # the provider refused it (a 4xx other than 404/410)
    DEAD = "dead"  # out of attempts or too old; a moderator may send it again
    DISABLED = "disabled"  # the device's target is gone


PENDING = (State.QUEUED, State.SENDING, State.RETRYING)


class Notification(models.Model):
    """The outbox: one row per (device, message), the source of truth.

    The broker only carries row ids to workers. A row is due when it is pending and
    its next_attempt_at has passed; the sweep publishes due rows again, so a lost
    queue loses nothing.
    """

    # The idempotency key, the same for every attempt: "<device pk>:<channel>:<seq>".
    key = models.CharField(max_length=100, unique=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    user_id = models.BigIntegerField()
    channel = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    sender_id = models.BigIntegerField()
    type = models.CharField(max_length=8)
    ts = models.BigIntegerField()
    preview = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    # Who holds a row in `sending`: a random token per claim.
    claim = models.CharField(max_length=16, blank=True, default="")
    # ms. Pending rows: when the sweep may publish it (again).
    next_attempt_at = models.BigIntegerField()
    created_ms = models.BigIntegerField()
    sent_ms = models.BigIntegerField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="notif_due")]

    def __str__(self) -> str:
        return f"{self.key} {self.state}"


class OutboxIntent(models.Model):
    """Messages whose notifications are still to be written: one row per stored batch,
    written in the batch's own transaction and deleted in the transaction that writes
    their outbox rows. A row that outlives its process (killed between the two
    commits) is replayed by the sweep, so no acked message loses its notifications."""

    # [[channel, seq], ...] of the batch's content messages.
    keys = models.JSONField()
    created_ms = models.BigIntegerField()

    def __str__(self) -> str:
        return f"intent {self.pk} ({len(self.keys)} messages)"
