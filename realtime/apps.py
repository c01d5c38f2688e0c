from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The long-lived connection server: sessions, the node, the transports, and the
    `imserver`/`runserver` commands that start them."""

    name = "realtime"
