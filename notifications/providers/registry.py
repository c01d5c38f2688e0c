"""The provider of each device kind."""

from __future__ import annotations

from notifications.models import DeviceKind
from notifications.providers.base import BAD, Outcome, Provider
from notifications.providers.webhook import WebhookProvider


class NotConfigured:
    """A kind this server has no credentials for: recorded as failed, never retried."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def host_of(self, target: object) -> str:
        return f"{self.kind}:unconfigured"

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        return Outcome(BAD, None, f"no {self.kind} provider is configured on this server")


_PROVIDERS: dict[str, Provider] = {
    DeviceKind.WEBHOOK: WebhookProvider(),
    DeviceKind.WEBPUSH: NotConfigured(DeviceKind.WEBPUSH),
    DeviceKind.FCM: NotConfigured(DeviceKind.FCM),
    DeviceKind.APNS: NotConfigured(DeviceKind.APNS),
}


def provider_for(kind: str) -> Provider:
    return _PROVIDERS[kind]
