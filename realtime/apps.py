from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The long-lived connection server: sessions, the node, the transports, and the
    `imserver`/`runserver` commands that start them."""

    name = "realtime"

    def ready(self) -> None:
        from accounts.signals import tokens_revoked
        from imsite import metrics
        from messaging.retention_thread import RETENTION
        from messaging.signals import messages_to_push
        from realtime.control import on_tokens_revoked
        from realtime.gauges import NodeCollector
        from realtime.pushes import push_stored
        from realtime.signals import server_started

        tokens_revoked.connect(on_tokens_revoked, dispatch_uid="realtime.close-revoked")
        messages_to_push.connect(push_stored, dispatch_uid="realtime.push-stored")
        metrics.register_collector(NodeCollector())
        # Without a broker, each server runs retention itself (IM_RETENTION_IN_SERVER).
        server_started.connect(lambda **kw: RETENTION.start(), weak=False,
                               dispatch_uid="realtime.retention")
