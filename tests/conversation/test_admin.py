"""The moderation admin through Django's test client: finding messages, the report
queue's actions and the read-only audit log (PostgreSQL in that pass)."""

from __future__ import annotations

import time

import pytest

from messaging.models import AuditEntry, Message, Report
from messaging.services.message_send import SendRequest, messages_send
from messaging.services.moderation import report_create
from tests.accounts.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _send(sender, to, text, client_id):
    outcome = messages_send([SendRequest(sender_id=sender.pk, client_id=client_id, type="text",
                                         body={"text": text}, to=to.pk)])[0]
    assert outcome.refused is None
    return outcome.result.message


def test_messages_are_found_by_channel_sender_text_and_time(staff_client):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    first = _send(alice, bob, "the quick brown fox", "1")
    _send(bob, alice, "lazy dog", "2")
    _send(carol, bob, "another fox", "3")
    Message.objects.filter(channel=first.channel, seq=2).update(
        ts=int((time.time() - 3 * 86400) * 1000))

    def count(**query) -> int:
        page = staff_client.get("/admin/messaging/message/", query)
        assert page.status_code == 200
        return page.context["cl"].result_count

    assert count(q=first.channel) == 2
    assert count(q=alice.username) == 1
    assert count(q="fox") == 2
    assert count(within="1d") == 2 and count(within="7d") == 3
    # Messages are the channels' log: not added, changed or deleted here.
    assert staff_client.get("/admin/messaging/message/add/").status_code == 403
    pk = Message.objects.get(channel=first.channel, seq=1).pk
    change = staff_client.post(f"/admin/messaging/message/{pk}/change/", {"body": "{}"})
    assert change.status_code == 403
    assert Message.objects.get(pk=pk).body == {"text": "the quick brown fox"}


def test_report_queue_actions_are_audited_and_the_log_is_read_only(staff_client):
    alice, bob = make_user("alice"), make_user("bob")
    message = _send(alice, bob, "spam spam", "1")
    report = report_create(reporter_id=bob.pk, channel=message.channel, seq=1, reason="spam")

    answer = staff_client.post("/admin/messaging/report/", {
        "action": "redact", "_selected_action": [str(report.pk)], "reason": "advertising"})
    assert answer.status_code == 302
    report.refresh_from_db()
    assert report.state == Report.REDACTED and report.handled_by is not None
    target = Message.objects.get(channel=message.channel, seq=1)
    recall = Message.objects.get(channel=message.channel, seq=2)
    assert target.body == {} and target.recalled == recall.ts
    assert (recall.type, recall.target, recall.sender_id) == ("recall", 1, report.handled_by_id)
    entry = AuditEntry.objects.get()
    assert (entry.moderator_id, entry.action, entry.subject, entry.reason) == (
        report.handled_by_id, "redact", f"{message.channel}#1", "advertising")

    assert staff_client.get("/admin/messaging/auditentry/").status_code == 200
    assert staff_client.get("/admin/messaging/auditentry/add/").status_code == 403
    url = f"/admin/messaging/auditentry/{entry.pk}/change/"
    assert staff_client.post(url, {"reason": "nothing happened"}).status_code == 403
    delete = f"/admin/messaging/auditentry/{entry.pk}/delete/"
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get().reason == "advertising"


def _change_form_data(staff_client, user) -> dict:
    """The user's change form as the admin page fills it in."""
    page = staff_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        widget = field.widget
        if hasattr(widget, "decompress"):  # a date and a time in two inputs
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None else str(value)
    return data


def test_a_ban_from_the_users_admin_is_audited_with_its_reason(staff_client):
    from knox.models import AuthToken

    alice, bob = make_user("alice"), make_user("bob")
    AuthToken.objects.create(user=alice)
    answer = staff_client.post("/admin/accounts/user/", {
        "action": "ban", "_selected_action": [str(alice.pk)], "reason": "spam bot"})
    assert answer.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active and not AuthToken.objects.filter(user=alice).exists()
    entry = AuditEntry.objects.get()
    moderator = entry.moderator
    assert moderator.username == "root"
    assert (entry.action, entry.subject, entry.reason) == ("ban", f"user {alice.pk}", "spam bot")

    # Banning someone already banned does nothing, and writes nothing.
    staff_client.post("/admin/accounts/user/", {
        "action": "ban", "_selected_action": [str(alice.pk)], "reason": "again"})
    assert AuditEntry.objects.count() == 1

    # Unticking "active" on the change page is the same ban; ticking it lifts it.
    data = _change_form_data(staff_client, bob)
    data.pop("is_active")
    data["moderation_reason"] = "harassment"
    answer = staff_client.post(f"/admin/accounts/user/{bob.pk}/change/", data)
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    bob.refresh_from_db()
    assert not bob.is_active
    latest = AuditEntry.objects.first()
    assert (latest.moderator_id, latest.action, latest.subject, latest.reason) == (
        moderator.pk, "ban", f"user {bob.pk}", "harassment")

    data = _change_form_data(staff_client, bob)
    data["is_active"] = "on"
    assert staff_client.post(f"/admin/accounts/user/{bob.pk}/change/", data).status_code == 302
    bob.refresh_from_db()
    assert bob.is_active
    latest = AuditEntry.objects.first()
    assert (latest.action, latest.subject, latest.reason) == ("lift ban", f"user {bob.pk}", "")

    # Other edits of a user are not moderation: nothing more in the log.
    data = _change_form_data(staff_client, bob)
    data["display_name"] = "Bobby"
    assert staff_client.post(f"/admin/accounts/user/{bob.pk}/change/", data).status_code == 302
    assert AuditEntry.objects.count() == 3
    assert list(AuditEntry.objects.values_list("action", flat=True)) == [
        "lift ban", "ban", "ban"]
