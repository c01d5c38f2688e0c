from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The long-lived connection server: sessions, the node, the transports, and the
    `imserver`/`runserver` commands that start them."""

    name = "realtime"

    def ready(self) -> None:
        from accounts.signals import tokens_revoked
        from realtime.control import on_tokens_revoked

        tokens_revoked.connect(on_tokens_revoked, dispatch_uid="realtime.close-revoked")
