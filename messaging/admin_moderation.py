"""Moderation in the admin: work the report queue and read the audit log (finding and
redacting messages is the message browser's, messaging.admin_messages). Every action
goes through messaging.services.moderation, which writes the audit entry with it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.services import user_deactivate
from messaging.admin_messages import (
    ReadOnlyAdmin,
    given_reason,
    preview,
    redact_message,
    sent,
    state,
)
from messaging.models import AuditEntry, Report
from messaging.services.moderation import BAN, audit, report_close
from messaging.store import get_store


class ReasonForm(ActionForm):
    reason = forms.CharField(required=False, max_length=1000,
                             help_text="Why (kept in the audit log)")


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "seq", "message_link", "reporter", "reason", "state",
                    "created_at", "handled_by"]
    list_filter = ["state"]
    list_select_related = ["reporter", "handled_by"]
    search_fields = ["=channel", "reporter__username", "reason"]
    action_form = ReasonForm
    actions = ["dismiss", "redact", "ban_sender"]
    readonly_fields = ["reporter", "channel", "seq", "reported_message", "reason", "state",
                       "created_at", "handled_by", "handled_at"]

    @admin.display(description="message")
    def message_link(self, report: Report) -> str:
        """A link to the message in the browser (which reads it from the store)."""
        url = reverse("admin:messaging_message_view")
        query = urlencode({"channel": report.channel, "seq": report.seq})
        return format_html('<a href="{}?{}">view</a>', url, query)

    @admin.display(description="reported message")
    def reported_message(self, report: Report) -> str:
        """The message as the store holds it now (SQL or MongoDB alike)."""
        found = get_store().find([(report.channel, report.seq)])
        message = found.get((report.channel, report.seq))
        if message is None:
            return "(not found)"
        sender = get_user_model().objects.filter(pk=message.sender_id).first()
        return format_html("{}: \u201c{}\u201d, sent {} UTC{} ({})", sender or message.sender_id,
                           preview(message), sent(message.ts),
                           f", {state(message)}" if state(message) else "",
                           self.message_link(report))

    @admin.action(description="Dismiss: nothing to do")
    def dismiss(self, request, queryset):
        for report in queryset.filter(state=Report.OPEN):
            report_close(report=report, moderator_id=request.user.pk, state=Report.DISMISSED,
                         reason=given_reason(request))

    @admin.action(description="Redact the reported message")
    def redact(self, request, queryset):
        for report in queryset.filter(state=Report.OPEN):
            if redact_message(request, report.channel, report.seq):
                report_close(report=report, moderator_id=request.user.pk,
                             state=Report.REDACTED, reason=given_reason(request))

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
                      reason=given_reason(request) or f"report {report.pk}")
            report_close(report=report, moderator_id=request.user.pk, state=Report.BANNED,
                         reason=given_reason(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: who did what, to what, when and why."""

    list_display = ["created_at", "moderator", "action", "subject", "reason"]
    list_filter = ["action"]
    list_select_related = ["moderator"]
    search_fields = ["moderator__username", "subject", "reason"]
    date_hierarchy = "created_at"
