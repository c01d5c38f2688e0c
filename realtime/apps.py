from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The long-lived connection server: sessions, the node, the transports, and the
    `imserver`/`runserver` commands that start them."""

    name = "realtime"

    def ready(self) -> None:
        from accounts.signals import tokens_revoked
        from imsite import metrics
        from messaging.signals import messages_to_push
        from realtime.control import on_tokens_revoked
        from realtime.gauges import NodeCollector
        from realtime.pushes import push_stored

        tokens_revoked.connect(on_tokens_revoked, dispatch_uid="realtime.close-revoked")
        messages_to_push.connect(push_stored, dispatch_uid="realtime.push-stored")
        metrics.register_collector(NodeCollector())
