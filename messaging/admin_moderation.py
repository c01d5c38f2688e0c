"""Moderation in the admin: find messages, redact them, work the report queue, and
read the audit log. Every action goes through messaging.services.moderation, which
writes the audit entry with it."""

from __future__ import annotations

import time

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model

from accounts.services import user_deactivate
from messaging.models import AuditEntry, Message, Report
from messaging.services.moderation import (
    BAN,
    ModerationRefused,
    audit,
    message_redact,
    report_close,
)
from messaging.store import get_store


class ReasonForm(ActionForm):
    reason = forms.CharField(required=False, max_length=1000,
                             help_text="Why (kept in the audit log)")


def _reason(request) -> str:
    return (request.POST.get("reason") or "").strip()


class SentWithin(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "within"
    CHOICES = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}

    def lookups(self, request, model_admin):
        return [("1h", "in the last hour"), ("1d", "in the last day"),
                ("7d", "in the last 7 days"), ("30d", "in the last 30 days")]

    def queryset(self, request, queryset):
        seconds = self.CHOICES.get(self.value() or "")
        if seconds is None:
            return queryset
        return queryset.filter(ts__gte=int((time.time() - seconds) * 1000))


def _redact(request, channel: str, seq: int) -> bool:
    try:
        message_redact(moderator_id=request.user.pk, channel=channel, seq=seq,
                       reason=_reason(request))
    except ModerationRefused as refused:
        messages.error(request, f"{channel}#{seq}: {refused}")
        return False
    return True


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages are the log of their channels: found and redacted here, never edited."""

    list_display = ["channel", "seq", "sender", "type", "preview", "sent", "state"]
    list_select_related = ["sender"]
    list_filter = [SentWithin, "type"]
    search_fields = ["=channel", "sender__username", "body__text"]
    search_help_text = "Channel (exact, e.g. g:9 or p:3:7), sender's username, or text."
    ordering = ["-ts", "channel", "-seq"]
    action_form = ReasonForm
    actions = ["redact"]
    show_full_result_count = False

    @admin.display(description="text")
    def preview(self, obj: Message) -> str:
        text = obj.body.get("text") or obj.body.get("emoji") or obj.body.get("caption") or ""
        return text[:80]

    @admin.display(description="sent (UTC)")
    def sent(self, obj: Message) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(obj.ts / 1000))

    @admin.display(description="state")
    def state(self, obj: Message) -> str:
        if obj.recalled is not None:
            return "recalled"
        return "edited" if obj.edited is not None else ""

    @admin.action(description="Redact: recall as moderator, on every member's screen")
    def redact(self, request, queryset):
        done = sum(_redact(request, m.channel, m.seq) for m in queryset)
        if done:
            messages.success(request, f"{done} message(s) redacted")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "seq", "reporter", "reason", "state", "created_at",
                    "handled_by"]
    list_filter = ["state"]
    list_select_related = ["reporter", "handled_by"]
    search_fields = ["=channel", "reporter__username", "reason"]
    action_form = ReasonForm
    actions = ["dismiss", "redact", "ban_sender"]
    readonly_fields = ["reporter", "channel", "seq", "reason", "state", "created_at",
                       "handled_by", "handled_at"]

    @admin.action(description="Dismiss: nothing to do")
    def dismiss(self, request, queryset):
        for report in queryset.filter(state=Report.OPEN):
            report_close(report=report, moderator_id=request.user.pk, state=Report.DISMISSED,
                         reason=_reason(request))

    @admin.action(description="Redact the reported message")
    def redact(self, request, queryset):
        for report in queryset.filter(state=Report.OPEN):
            if _redact(request, report.channel, report.seq):
                report_close(report=report, moderator_id=request.user.pk,
                             state=Report.REDACTED, reason=_reason(request))

    @admin.action(description="Ban the sender of the reported message")
    def ban_sender(self, request, queryset):
        users = get_user_model().objects
        for report in queryset.filter(state=Report.OPEN):
            found = get_store().find([(report.channel, report.seq)])
            sender_id = found[report.channel, report.seq].sender_id if found else None
            sender = users.filter(pk=sender_id, is_active=True).first()
            if sender is not None:
                user_deactivate(user=sender)
                audit(moderator_id=request.user.pk, action=BAN, subject=f"user {sender.pk}",
                      reason=_reason(request) or f"report {report.pk}")
            report_close(report=report, moderator_id=request.user.pk, state=Report.BANNED,
                         reason=_reason(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: who did what, to what, when and why."""

    list_display = ["created_at", "moderator", "action", "subject", "reason"]
    list_filter = ["action"]
    list_select_related = ["moderator"]
    search_fields = ["moderator__username", "subject", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
