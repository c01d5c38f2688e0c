"""The admin's message browser: moderators find, read and redact messages in whichever
store holds them (the SQL table, or MongoDB), through the store's search.

It keeps the place of the Message model in the admin (/admin/messaging/message/ and
its permission, "view message"), but never reads the table itself: with the MongoDB
store the table is empty. Redaction goes through messaging.services.moderation.
"""

from __future__ import annotations

import datetime
import json
import time

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from improto.vocabulary import CONTENT_TYPES, REVISION_TYPES
from messaging.models import Message, Report
from messaging.services.moderation import ModerationRefused, message_redact
from messaging.store import MessageQuery, StoredMessage, get_search, get_store

PAGE = 100
WITHIN = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
AROUND = 5  # messages shown on each side of one being viewed


class MessageSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search",
                        help_text="Channel (exact, e.g. g:9 or p:3:7), part of a sender's "
                                  "username, or text.")
    channel = forms.CharField(required=False, max_length=64)
    sender = forms.CharField(required=False, max_length=150,
                             help_text="Username (exact, any case) or user id.")
    text = forms.CharField(required=False, max_length=200)
    type = forms.ChoiceField(required=False, choices=[("", "any")] + [
        (t, t) for t in (*CONTENT_TYPES, *REVISION_TYPES)])
    within = forms.ChoiceField(required=False, label="Sent", choices=[
        ("", "any time"), ("1h", "in the last hour"), ("1d", "in the last day"),
        ("7d", "in the last 7 days"), ("30d", "in the last 30 days")])
    since = forms.DateTimeField(required=False, label="Sent from (UTC)",
                                help_text="e.g. 2026-11-30 08:00")
    until = forms.DateTimeField(required=False, label="Sent before (UTC)")
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)

    def query(self) -> MessageQuery:
        data = self.cleaned_data
        users = get_user_model().objects
        since_ms = _ms(data["since"])
        if data["within"]:
            recent = int((time.time() - WITHIN[data["within"]]) * 1000)
            since_ms = recent if since_ms is None else max(since_ms, recent)
        sender_ids = None
        if data["sender"]:
            sender = data["sender"].strip()
            match = Q(username__iexact=sender)
            if sender.isdigit():
                match |= Q(pk=int(sender))
            sender_ids = tuple(users.filter(match).values_list("pk", flat=True))
        anything = data["q"].strip() or None
        anything_senders = ()
        if anything:
            anything_senders = tuple(
                users.filter(username__icontains=anything).values_list("pk", flat=True)[:1000])
        return MessageQuery(
            channel=data["channel"].strip() or None, sender_ids=sender_ids,
            text=data["text"].strip() or None, type=data["type"] or None,
            since_ms=since_ms, until_ms=_ms(data["until"]),
            anything=anything, anything_senders=anything_senders,
        )


def _ms(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def given_reason(request) -> str:
    return (request.POST.get("reason") or "").strip()


def redact_message(request, channel: str, seq: int) -> bool:
    """Redact one message as the request's moderator; a refusal is shown, not raised."""
    try:
        message_redact(moderator_id=request.user.pk, channel=channel, seq=seq,
                       reason=given_reason(request))
    except ModerationRefused as refused:
        messages.error(request, f"{channel}#{seq}: {refused}")
        return False
    return True


def message_key(value: str) -> tuple[str, int] | None:
    """'g:9#18' -> ('g:9', 18); None for anything else."""
    channel, _, seq = value.rpartition("#")
    if not channel or len(channel) > 64 or not seq.isdigit() or int(seq) < 1:
        return None
    return channel, int(seq)


def preview(message: StoredMessage) -> str:
    body = message.body or {}
    text = body.get("text") or body.get("emoji") or body.get("caption") or ""
    return str(text)[:80]


def state(message: StoredMessage) -> str:
    if message.recalled is not None:
        return "recalled"
    return "edited" if message.edited is not None else ""


def sent(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / 1000))


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin page that shows and never adds, changes or deletes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """Messages are the log of their channels: found, read and redacted here, never
    added, changed or deleted."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.message_view)
        return [path("view/", view, name="messaging_message_view"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._redact_selected(request)
        form = MessageSearchForm(request.GET or None)
        found: list[StoredMessage] = []
        page, more = 1, False
        if not form.is_bound or form.is_valid():  # else the form shows its errors
            query = form.query() if form.is_bound else MessageQuery()
            page = (form.cleaned_data["page"] if form.is_bound else None) or 1
            found = get_search().search(query, offset=(page - 1) * PAGE, limit=PAGE + 1)
            more, found = len(found) > PAGE, found[:PAGE]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": "Messages", "form": form,
            "rows": self._rows(found), "page": page,
            "newer": self._page_link(request, page - 1) if page > 1 else None,
            "older": self._page_link(request, page + 1) if more else None,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/messaging/message/browse.html", context)

    def message_view(self, request):
        """One message, what was said around it, and the reports about it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        key = message_key(f"{request.GET.get('channel', '')}#{request.GET.get('seq', '')}")
        store = get_store()
        message = store.find([key]).get(key) if key else None
        if request.method == "POST" and message is not None:
            if redact_message(request, *key):
                messages.success(request, f"{key[0]}#{key[1]} redacted")
            return HttpResponseRedirect(request.get_full_path())
        around = []
        if message is not None:
            around = store.range(key[0], after=max(0, key[1] - AROUND - 1),
                                 limit=2 * AROUND + 1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": f"Message {key[0]}#{key[1]}" if key else "Message",
            "message": message, "key": key,
            "body": json.dumps(message.body, indent=2, ensure_ascii=False) if message else "",
            "row": self._rows([message])[0] if message else None,
            "around": self._rows(around),
            "reports": Report.objects.filter(channel=key[0], seq=key[1])
                             .select_related("reporter") if key else [],
        }
        status = 200 if message is not None else 404
        return TemplateResponse(request, "admin/messaging/message/view.html", context,
                                status=status)

    def _redact_selected(self, request):
        keys = [message_key(v) for v in request.POST.getlist("selected")]
        if not keys or None in keys:
            messages.warning(request, "Tick the messages to redact.")
        else:
            done = sum(redact_message(request, channel, seq) for channel, seq in keys)
            if done:
                messages.success(request, f"{done} message(s) redacted")
        return HttpResponseRedirect(request.get_full_path())

    def _rows(self, found: list[StoredMessage]) -> list[dict]:
        names = dict(get_user_model().objects.filter(pk__in={m.sender_id for m in found})
                     .values_list("pk", "username"))
        view = reverse("admin:messaging_message_view")
        return [{
            "key": f"{m.channel}#{m.seq}", "channel": m.channel, "seq": m.seq,
            "sender": names.get(m.sender_id, f"user {m.sender_id}"), "sender_id": m.sender_id,
            "type": m.type, "target": m.target, "preview": preview(m), "sent": sent(m.ts),
            "state": state(m), "url": f"{view}?{urlencode({'channel': m.channel, 'seq': m.seq})}",
        } for m in found]

    @staticmethod
    def _page_link(request, page: int) -> str:
        query = request.GET.copy()
        query["page"] = str(page)
        return "?" + query.urlencode()
