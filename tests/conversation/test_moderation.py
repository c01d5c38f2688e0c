"""Moderation: reports over REST, the admin's queue and redaction reaching every
member's screen at once, the audit log, and banned senders refused."""

from __future__ import annotations

import asyncio
import html
import secrets

import pytest

from tests.support.admin import AdminSession
from tests.support.clients import ahttp, connect, login_again, make_user


async def _group_with_message(server, text: str = "buy cheap pills"):
    alice, bob, carol = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "m", "members": [bob.id, carol.id]}, token=alice.token)
    assert status == 201
    a = await connect(server, "tcp")
    await a.auth(alice.token)
    await a.send_text(group=group["id"], text=text, client_id="spam-1")
    ack = await a.expect("ack")
    return alice, bob, carol, group, a, ack


@pytest.mark.mongo
async def test_reports_over_rest(server):
    alice, bob, carol, group, a, ack = await _group_with_message(server)
    channel = group["channel"]
    report = {"channel": channel, "seq": ack["seq"], "reason": "spam"}
    status, body = await ahttp(server.base_url, "POST", "/api/reports/", report,
                               token=bob.token)
    assert status == 201, body
    assert {k: body[k] for k in ("channel", "seq", "reason", "state")} == {
        **report, "state": "open"}
    # Once per reporter and message.
    status, again = await ahttp(server.base_url, "POST", "/api/reports/", report,
                                token=bob.token)
    assert status == 201 and again["id"] == body["id"]
    outsider = await make_user(server.base_url)
    status, body = await ahttp(server.base_url, "POST", "/api/reports/", report,
                               token=outsider.token)
    assert status == 403 and "detail" in body
    status, body = await ahttp(server.base_url, "POST", "/api/reports/",
                               {**report, "seq": 99}, token=bob.token)
    assert status == 404 and "detail" in body
    for bad in ({**report, "reason": ""}, {**report, "seq": 0}, {"channel": channel},
                {**report, "channel": "x" * 100}, {**report, "reason": "r" * 1001}):
        status, body = await ahttp(server.base_url, "POST", "/api/reports/", bad,
                                   token=bob.token)
        assert status == 400 and isinstance(body, dict), bad
    status, body = await ahttp(server.base_url, "POST", "/api/reports/", report)
    assert status == 401


@pytest.mark.mongo
async def test_moderator_redacts_a_reported_message_on_every_screen(server):
    word = secrets.token_hex(6)
    alice, bob, carol, group, a, ack = await _group_with_message(server, f"buy {word} now")
    channel = group["channel"]
    b = await connect(server, "ws")
    await b.auth(bob.token)
    a2 = await connect(server, "ws")
    await a2.auth(await login_again(server.base_url, alice), device="second")
    status, report = await ahttp(server.base_url, "POST", "/api/reports/",
                                 {"channel": channel, "seq": ack["seq"], "reason": "spam"},
                                 token=carol.token)
    assert status == 201
    moderator = await asyncio.to_thread(AdminSession.create, server)
    queue = await asyncio.to_thread(moderator.get, "/admin/messaging/report/?state__exact=open")
    assert f"{channel}" in queue and "spam" in queue

    status = await asyncio.to_thread(moderator.post, "/admin/messaging/report/", {
        "action": "redact", "_selected_action": str(report["id"]), "reason": "selling pills"})
    assert status == 200
    # Every member's live connection, the sender's included, gets the recall at once.
    for client in (a, a2, b):
        recall = await client.expect("recall")
        assert (recall["channel"], recall["target"], recall["body"]) == (channel, 1, {})
        assert recall["from"] != alice.id and recall["seq"] == 2
    status, found = await ahttp(server.base_url, "GET",
                                f"/api/users/?search={moderator.username}", token=bob.token)
    moderator_id = next(u["id"] for u in found if u["username"] == moderator.username)
    assert recall["from"] == moderator_id
    status, page = await ahttp(server.base_url, "GET", f"/api/channels/{channel}/messages/",
                               token=bob.token)
    first = page["messages"][0]
    assert first["body"] == {} and first["recalled"] == recall["ts"]

    # The report is closed, and the audit log says who did what, to what, and why.
    closed = await asyncio.to_thread(moderator.get,
                                     f"/admin/messaging/report/{report['id']}/change/")
    assert "redacted" in closed
    log = html.unescape(await asyncio.to_thread(moderator.get, "/admin/messaging/auditentry/"))
    assert moderator.username in log and f"{channel}#1" in log and "selling pills" in log
    # ... read-only: no adding, no changing.
    assert "/admin/messaging/auditentry/add/" not in log

    # Messages are found by channel, sender and text; a redacted one shows no text.
    await a.send_text(group=group["id"], text=f"{word} again", client_id="spam-2")
    await a.expect("ack")
    for query in (channel, alice.username, word):
        found = await asyncio.to_thread(moderator.get, f"/admin/messaging/message/?q={query}")
        assert f"{word} again" in found and f"buy {word} now" not in found, query
        assert "recalled" in found or query == word


@pytest.mark.mongo
async def test_ban_from_the_queue_refuses_the_senders_next_messages(server):
    alice, bob, carol, group, a, ack = await _group_with_message(server)
    b = await connect(server, "tcp")
    await b.auth(bob.token)
    status, report = await ahttp(server.base_url, "POST", "/api/reports/",
                                 {"channel": group["channel"], "seq": 1, "reason": "abuse"},
                                 token=bob.token)
    moderator = await asyncio.to_thread(AdminSession.create, server)
    status = await asyncio.to_thread(moderator.post, "/admin/messaging/report/", {
        "action": "ban_sender", "_selected_action": str(report["id"]), "reason": "abuse"})
    assert status == 200
    assert (await a.expect("offline"))["reason"] == "kicked"
    status, _ = await ahttp(server.base_url, "GET", "/api/channels/", token=alice.token)
    assert status == 401
    log = html.unescape(await asyncio.to_thread(moderator.get, "/admin/messaging/auditentry/"))
    assert f"user {alice.id}" in log and "ban sender" in log
    # Dismissing is audited too.
    status, other = await ahttp(server.base_url, "POST", "/api/reports/",
                                {"channel": group["channel"], "seq": 1, "reason": "meh"},
                                token=carol.token)
    await asyncio.to_thread(moderator.post, "/admin/messaging/report/", {
        "action": "dismiss", "_selected_action": str(other["id"]), "reason": "fine"})
    log = html.unescape(await asyncio.to_thread(moderator.get, "/admin/messaging/auditentry/"))
    assert f"report {other['id']}" in log and "dismiss report" in log
