from django.apps import AppConfig


class MessagingConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'messaging'

    def ready(self) -> None:
        from accounts.signals import account_closed, user_moderated, users_deleting
        from imsite import metrics
        from media.signals import channel_read_check
        from messaging.gauges import MembersCacheCollector
        from messaging.selectors.channels import channel_readable_any
        from messaging.services.groups import (
            groups_leave_after_account_closed,
            groups_repair_after_users_deleted,
        )
        from messaging.services.moderation import audit_user_moderated

        channel_read_check.connect(channel_readable_any, dispatch_uid="messaging.channel-read")
        users_deleting.connect(
            groups_repair_after_users_deleted, dispatch_uid="messaging.repair-groups"
        )
        account_closed.connect(
            groups_leave_after_account_closed, dispatch_uid="messaging.leave-groups"
        )
        user_moderated.connect(audit_user_moderated, dispatch_uid="messaging.audit-bans")
        metrics.register_collector(MembersCacheCollector())
