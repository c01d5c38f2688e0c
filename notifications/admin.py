"""Moderation of push registrations and the notification outbox.

Secrets never show here. A dead (or failed) notification can be sent again; the
breaker state of a target host is shown beside each registration (from Redis when
the deployment has it)."""

from django.contrib import admin, messages
from django.db import transaction

from notifications.breaker import get_breaker
from notifications.dispatch import publish
from notifications.models import ChannelSetting, Device, Notification
from notifications.outbox import outbox_resend
from notifications.providers.registry import provider_for


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "device", "kind", "enabled", "breaker", "created", "updated"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["user"]
    search_fields = ["user__username", "device"]
    exclude = ["secret"]
    readonly_fields = ["user", "device", "kind", "target", "created", "updated", "breaker"]

    @admin.display(description="breaker (host: consecutive failures, open until ms)")
    def breaker(self, obj: Device) -> str:
        host = provider_for(obj.kind).host_of(obj.target)
        state = get_breaker().state(host)
        return f"{host}: {state.get('fails', 0)}, {state.get('open_until', 0) or '-'}"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "key", "kind", "user_id", "channel", "seq", "state", "attempts",
                    "last_status", "last_error", "next_attempt_at", "sent_ms"]
    list_filter = ["state", "kind"]
    search_fields = ["key", "channel"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["resend"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Send again (dead or failed ones)")
    def resend(self, request, queryset):
        with transaction.atomic():
            picked = outbox_resend(list(queryset.values_list("id", flat=True)))
            transaction.on_commit(lambda: publish(picked))
        self.message_user(request, f"{len(picked)} notification(s) queued again.",
                          messages.SUCCESS)


@admin.register(ChannelSetting)
class ChannelSettingAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "muted"]
    list_filter = ["muted"]
    search_fields = ["channel", "user__username"]
