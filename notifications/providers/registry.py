"""The provider of each device kind."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from notifications.models import DeviceKind
from notifications.providers.apns import ApnsProvider
from notifications.providers.base import BAD, Outcome, Provider
from notifications.providers.fcm import FcmProvider
from notifications.providers.webhook import WebhookProvider
from notifications.providers.webpush import WebPushProvider


class NotConfigured:
    """A kind this server has no credentials for: recorded as failed, never retried."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def host_of(self, target: object) -> str:
        return f"{self.kind}:unconfigured"

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        return Outcome(BAD, None, f"no {self.kind} provider is configured on this server")


@cache
def _providers() -> dict[str, Provider]:
    fcm: Provider = NotConfigured(DeviceKind.FCM)
    if settings.IM_PUSH_FCM_CREDENTIALS:
        fcm = FcmProvider(settings.IM_PUSH_FCM_CREDENTIALS, settings.IM_PUSH_FCM_URL)
    webpush: Provider = NotConfigured(DeviceKind.WEBPUSH)
    if settings.IM_PUSH_VAPID_PRIVATE_KEY:
        webpush = WebPushProvider(settings.IM_PUSH_VAPID_PRIVATE_KEY,
                                  settings.IM_PUSH_VAPID_SUBJECT)
    apns: Provider = NotConfigured(DeviceKind.APNS)
    if settings.IM_PUSH_APNS_KEY:
        apns = ApnsProvider(key_file=settings.IM_PUSH_APNS_KEY,
                            key_id=settings.IM_PUSH_APNS_KEY_ID,
                            team_id=settings.IM_PUSH_APNS_TEAM_ID,
                            topic=settings.IM_PUSH_APNS_TOPIC, base_url=settings.IM_PUSH_APNS_URL)
    return {
        DeviceKind.WEBHOOK: WebhookProvider(),
        DeviceKind.WEBPUSH: webpush,
        DeviceKind.FCM: fcm,
        DeviceKind.APNS: apns,
    }


def provider_for(kind: str) -> Provider:
    return _providers()[kind]
