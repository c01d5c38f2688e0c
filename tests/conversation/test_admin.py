"""The moderation admin through Django's test client: the message browser (search,
one message, redaction), the report queue's actions and the read-only audit log.

Marked `mongo`: on SQLite and PostgreSQL the messages are in the SQL table; in the
MongoDB pass (IM_TEST_MONGODB=1) the same tests run with them on a MongoDB-protocol
server, where the table stays empty and the admin must read the store."""

from __future__ import annotations

import os
import secrets
import time

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from messaging import admin_messages
from messaging.models import AuditEntry, Message, Report
from messaging.services.message_send import SendRequest, messages_send
from messaging.services.moderation import report_create
from messaging.store import NewMessage, get_store
from messaging.store.mongo import MongoMessageStore
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.mongo, pytest.mark.django_db(transaction=True)]

BROWSER = "/admin/messaging/message/"


@pytest.fixture(autouse=True)
def store(request, settings):
    """This pass's message store: MongoDB in the MongoDB pass, else the SQL database."""
    mongo = os.environ.get("IM_TEST_MONGODB") == "1"
    if mongo:
        server = request.getfixturevalue("mongo_server")
        settings.IM_MONGODB_URL = server.url(f"im_test_mongo_{secrets.token_hex(6)}")
    else:
        settings.IM_MONGODB_URL = None
    settings.IM_REDIS_URL = None
    get_store.cache_clear()
    store = get_store()
    assert isinstance(store, MongoMessageStore) == mongo
    yield store
    get_store.cache_clear()


def _send(sender, to, text, client_id):
    outcome = messages_send([SendRequest(sender_id=sender.pk, client_id=client_id, type="text",
                                         body={"text": text}, to=to.pk)])[0]
    assert outcome.refused is None
    return outcome.result.message


def _found(client, **query) -> list[tuple[str, int]]:
    page = client.get(BROWSER, query)
    assert page.status_code == 200
    return [(row["channel"], row["seq"]) for row in page.context["rows"]]


def _store(store, sender, to, text: str, *, ts: int):
    """A message stored at a chosen time (a fresh ts above the channel's last one)."""
    a, b = sorted((sender.pk, to.pk))
    return store.append([NewMessage(channel=f"p:{a}:{b}", sender_id=sender.pk,
                                    client_id=secrets.token_hex(4), type="text",
                                    body={"text": text}, recipient_id=to.pk)],
                        now_ms=ts)[0].message


def test_messages_are_found_by_channel_sender_text_and_time(staff_client, store):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    now = int(time.time() * 1000)
    days_ago = now - 3 * 86400 * 1000
    old = _store(store, carol, alice, "an old fox", ts=days_ago)
    first = _store(store, alice, bob, "the quick brown FOX", ts=now - 3000)
    second = _store(store, bob, alice, "lazy dog", ts=now - 2000)
    third = _store(store, carol, bob, "another fox", ts=now - 1000)
    everything = [(m.channel, m.seq) for m in (third, second, first, old)]
    assert Message.objects.exists() != isinstance(store, MongoMessageStore)

    assert _found(staff_client) == everything  # newest first
    assert _found(staff_client, q=first.channel) == everything[1:3]
    assert _found(staff_client, q="alic") == [(first.channel, 1)]
    assert _found(staff_client, q="fox") == [everything[0], everything[2], everything[3]]
    assert _found(staff_client, channel=first.channel) == everything[1:3]
    assert _found(staff_client, sender="CAROL") == [everything[0], everything[3]]
    assert _found(staff_client, sender=str(bob.pk)) == [everything[1]]
    assert _found(staff_client, sender="nobody") == []
    assert _found(staff_client, text="Fox", channel=first.channel) == [everything[2]]
    assert _found(staff_client, within="1d") == everything[:3]
    assert _found(staff_client, within="7d") == everything
    moment = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(days_ago / 1000 + 60))
    assert _found(staff_client, until=moment) == [everything[3]]
    assert _found(staff_client, since=moment, type="text") == everything[:3]
    assert _found(staff_client, type="recall") == []
    bad = staff_client.get(BROWSER, {"since": "yesterday-ish"})
    assert bad.status_code == 200 and bad.context["rows"] == []
    assert "since" in bad.context["form"].errors


def test_pages_go_from_newest_to_oldest(staff_client, monkeypatch):
    monkeypatch.setattr(admin_messages, "PAGE", 2)
    alice, bob = make_user(), make_user()
    for i in range(5):
        _send(alice, bob, f"message {i}", str(i))
    page = staff_client.get(BROWSER, {"sender": alice.username})
    assert [r["seq"] for r in page.context["rows"]] == [5, 4]
    assert page.context["newer"] is None
    older = page.context["older"]
    page = staff_client.get(BROWSER + older)
    assert [r["seq"] for r in page.context["rows"]] == [3, 2]
    page = staff_client.get(BROWSER + page.context["older"])
    assert [r["seq"] for r in page.context["rows"]] == [1]
    assert page.context["older"] is None and page.context["newer"]


def test_a_moderator_redacts_from_the_browser_and_it_is_audited(staff_client, store):
    alice, bob = make_user(), make_user()
    spam = _send(alice, bob, "cheap pills", "1")
    kept = _send(alice, bob, "hello", "2")
    answer = staff_client.post(f"{BROWSER}?channel={spam.channel}", {
        "selected": [f"{spam.channel}#{spam.seq}"], "reason": "advertising"})
    assert answer.status_code == 302 and answer["Location"].endswith(f"?channel={spam.channel}")
    recall = store.find([(spam.channel, 3)])[spam.channel, 3]
    target = store.find([(spam.channel, spam.seq)])[spam.channel, spam.seq]
    assert target.body == {} and target.recalled == recall.ts
    assert (recall.type, recall.target) == ("recall", spam.seq)
    assert store.find([(kept.channel, kept.seq)])[kept.channel, kept.seq].body == {"text": "hello"}
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.subject, entry.reason) == (
        "redact", f"{spam.channel}#{spam.seq}", "advertising")
    rows = staff_client.get(BROWSER, {"channel": spam.channel}).context["rows"]
    assert [(r["seq"], r["state"], r["preview"]) for r in rows] == [
        (3, "", ""), (2, "", "hello"), (1, "recalled", "")]
    # Nothing ticked, or something that is not a message: nothing done.
    for selected in ([], ["g:1"], [f"{spam.channel}#x"]):
        answer = staff_client.post(BROWSER, {"selected": selected, "reason": "r"})
        assert answer.status_code == 302
    assert AuditEntry.objects.count() == 1


def test_one_message_with_its_neighbours_and_reports_and_a_redact_button(staff_client, store):
    alice, bob = make_user(), make_user()
    sent = [_send(alice, bob, f"line {i}", str(i)) for i in range(1, 9)]
    report_create(reporter_id=bob.pk, channel=sent[0].channel, seq=7, reason="rude words")
    url = f"{BROWSER}view/"
    page = staff_client.get(url, {"channel": sent[0].channel, "seq": 7})
    assert page.status_code == 200
    assert page.context["row"]["preview"] == "line 7" and '"text": "line 7"' in page.context["body"]
    assert [r["seq"] for r in page.context["around"]] == [2, 3, 4, 5, 6, 7, 8]
    assert [r.reason for r in page.context["reports"]] == ["rude words"]
    assert b"rude words" in page.content
    for missing in ({"channel": sent[0].channel, "seq": 99}, {"channel": "g:1", "seq": "x"}, {}):
        assert staff_client.get(url, missing).status_code == 404
    answer = staff_client.post(f"{url}?channel={sent[0].channel}&seq=7", {"reason": "rude"})
    assert answer.status_code == 302
    assert store.find([(sent[0].channel, 7)])[sent[0].channel, 7].recalled is not None
    assert AuditEntry.objects.get().subject == f"{sent[0].channel}#7"


def test_the_browser_needs_the_view_permission_and_never_changes_a_message(staff_client):
    alice, bob = make_user(), make_user()
    message = _send(alice, bob, "hello", "1")
    assert staff_client.get(f"{BROWSER}add/").status_code == 403
    staff = make_user(is_staff=True)
    client = Client()
    client.force_login(staff)
    key = {"channel": message.channel, "seq": message.seq}
    assert client.get(BROWSER).status_code == 403
    assert client.get(f"{BROWSER}view/", key).status_code == 403
    assert client.post(BROWSER, {"selected": [f"{message.channel}#1"]}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(staff)
    assert _found(client) == [(message.channel, 1)]
    assert client.get(f"{BROWSER}view/", key).status_code == 200
    if Message.objects.exists():  # the SQL store: its row is not changed here either
        pk = Message.objects.get().pk
        change = staff_client.post(f"{BROWSER}{pk}/change/", {"body": "{}"})
        assert change.status_code == 403
        assert Message.objects.get(pk=pk).body == {"text": "hello"}


def test_report_queue_actions_are_audited_and_the_log_is_read_only(staff_client, store):
    alice, bob = make_user("alice"), make_user("bob")
    message = _send(alice, bob, "spam spam", "1")
    report = report_create(reporter_id=bob.pk, channel=message.channel, seq=1, reason="spam")
    # The queue links each report to its message, and the report shows it from the store.
    queue = staff_client.get("/admin/messaging/report/")
    assert f"{BROWSER}view/?channel={message.channel}&amp;seq=1".replace(":", "%3A") \
        in queue.content.decode()
    page = staff_client.get(f"/admin/messaging/report/{report.pk}/change/").content.decode()
    assert "spam spam" in page and "alice" in page

    answer = staff_client.post("/admin/messaging/report/", {
        "action": "redact", "_selected_action": [str(report.pk)], "reason": "advertising"})
    assert answer.status_code == 302
    report.refresh_from_db()
    assert report.state == Report.REDACTED and report.handled_by is not None
    found = store.find([(message.channel, 1), (message.channel, 2)])
    target, recall = found[message.channel, 1], found[message.channel, 2]
    assert target.body == {} and target.recalled == recall.ts
    assert (recall.type, recall.target, recall.sender_id) == ("recall", 1, report.handled_by_id)
    entry = AuditEntry.objects.get()
    assert (entry.moderator_id, entry.action, entry.subject, entry.reason) == (
        report.handled_by_id, "redact", f"{message.channel}#1", "advertising")
    page = staff_client.get(f"/admin/messaging/report/{report.pk}/change/").content.decode()
    assert "spam spam" not in page and "recalled" in page

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


def test_ban_from_the_queue_finds_the_sender_in_the_store(staff_client):
    alice, bob = make_user("alice"), make_user("bob")
    message = _send(alice, bob, "abuse", "1")
    report = report_create(reporter_id=bob.pk, channel=message.channel, seq=1, reason="abuse")
    answer = staff_client.post("/admin/messaging/report/", {
        "action": "ban_sender", "_selected_action": [str(report.pk)], "reason": "abuse"})
    assert answer.status_code == 302
    alice.refresh_from_db()
    report.refresh_from_db()
    assert not alice.is_active and report.state == Report.BANNED
    assert AuditEntry.objects.get().subject == f"user {alice.pk}"
