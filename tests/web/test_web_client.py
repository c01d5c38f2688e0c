"""The web client in a real browser (Debian's Chromium driven by Playwright) against
real imserver processes: two people chat with each other and with a wire client, the
link is cut and the server restarted under them, an image and a group, history
paging, and the SDK's sequence tracker in the browser's own JavaScript engine.

PostgreSQL pass only (not `embedded`): a browser test is slow, and what it covers
does not depend on the database.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import async_playwright, expect

from tests.support.clients import TcpClient, ahttp, make_user
from tests.support.proxy import FaultProxy
from tests.web.browser import WAIT_MS, ChatPage, launch

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

# `make web-screenshot` sets this to regenerate the picture in docs/web.md.
SCREENSHOT_DIR = os.environ.get("IM_WEB_SCREENSHOT_DIR")


def name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


async def test_page_is_served_with_a_strict_policy(make_deployment):
    server = make_deployment().start_server()
    status, _ = await ahttp(server.base_url, "GET", "/api/health/")
    assert status == 200

    def head() -> dict:
        with urllib.request.urlopen(server.base_url + "/", timeout=10) as response:
            return {"status": response.status, "csp": response.headers["Content-Security-Policy"],
                    "type": response.headers["Content-Type"], "body": response.read().decode()}

    page = await asyncio.to_thread(head)
    assert page["status"] == 200 and page["type"].startswith("text/html")
    assert "script-src 'self'" in page["csp"] and "frame-ancestors 'none'" in page["csp"]
    assert 'data-testid="connection-status"' in page["body"]
    # Unknown API paths still answer JSON, not the page.
    status, body = await ahttp(server.base_url, "GET", "/api/no-such-thing/")
    assert status == 404 and isinstance(body, dict)


async def test_two_people_chat_through_cut_links_and_a_restart(make_deployment):
    proxy = await FaultProxy("127.0.0.1:1").start()  # its target is set once the server runs
    # The browser reaches the server only through the proxy: the page, REST and the
    # WebSocket the gateway names.
    deployment = make_deployment(IM_PUBLIC_WS_URL=proxy.ws_url)
    server = deployment.start_server()
    proxy.retarget(server.http_address)
    base = f"http://127.0.0.1:{proxy.port}"
    wire = None
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            alice = await ChatPage.open(browser, base, viewport={"width": 1000, "height": 640})
            bob = await ChatPage.open(browser, base)
            alice_name, bob_name = name("alice"), name("bob")
            await alice.register(alice_name)
            await bob.register(bob_name)

            # Alice opens the chat by username: it is listed at once, before any message.
            channel = await alice.open_chat(bob_name)
            await expect(alice.conversation(channel)).to_have_count(1)
            await alice.send("hello bob 👋")
            await expect(bob.conversation(channel)).to_have_count(1, timeout=WAIT_MS)
            await expect(bob.unread(channel)).to_have_text("1")
            await bob.conversation(channel).click()
            assert await bob.wait_shown(channel, 1) == [(1, "hello bob 👋")]
            await expect(bob.unread(channel)).to_have_text("0")

            # A wire client (TCP, straight to the server) writes to Alice; she answers.
            carol = await make_user(server.base_url, "carol")
            wire = await TcpClient.connect(server.tcp_host, server.tcp_port)
            await wire.auth(carol.token)
            alice_id = await alice.page.evaluate("imApp.me.id")
            await wire.send_text(text="from the wire", to=alice_id)
            (ack,) = await wire.acks(1)
            await expect(alice.conversation(ack["channel"])).to_have_count(1, timeout=WAIT_MS)
            await alice.conversation(ack["channel"]).click()
            assert await alice.wait_shown(ack["channel"], 1) == [(1, "from the wire")]
            await alice.send("hi carol")
            # Alice saw Carol's message and typed: Carol hears of both (a private channel).
            seen = [await wire.expect_any(("read", "typing", "text"))]
            while seen[-1]["type"] != "text" or not any(f["type"] == "read" for f in seen):
                seen.append(await wire.expect_any(("read", "typing", "text")))
            (pushed,) = [f for f in seen if f["type"] == "text"]
            assert pushed["body"] == {"text": "hi carol"} and pushed["from"] == alice_id
            receipt = next(f for f in seen if f["type"] == "read")
            assert (receipt["user"], receipt["seq"]) == (alice_id, 1)

            # Both write while the proxy cuts every link twice: nothing lost or doubled.
            await alice.conversation(channel).click()
            await alice.page.evaluate("window.notReloaded = true")
            sent = ["hello bob 👋"]
            for i in range(6):
                await alice.send(f"alice {i}")
                await bob.send(f"bob {i}")
                sent += [f"alice {i}", f"bob {i}"]
                if i in (1, 4):
                    # Both have a live WebSocket through the proxy (and these sends
                    # on it, most not yet acked): cut them all.
                    await alice.wait_online()
                    await bob.wait_online()
                    assert proxy.cut() >= 2
            await assert_same_conversation(alice, bob, channel, sent)

            # The server restarts (SIGTERM: offline/shutdown) while Bob writes.
            await asyncio.to_thread(server.stop)
            await expect(bob.by("connection-status")).not_to_have_text("online", timeout=WAIT_MS)
            await bob.send("written while the server was down")
            sent.append("written while the server was down")
            server = await asyncio.to_thread(deployment.start_server)
            proxy.retarget(server.http_address)
            await alice.wait_online()
            await bob.wait_online()
            await assert_same_conversation(alice, bob, channel, sent)
            assert await alice.page.evaluate("window.notReloaded") is True  # recovered in place
            for page in (alice, bob):  # the first link, one per cut, one after the restart
                assert await page.page.evaluate("imApp.client.stats.connections") >= 4
            assert alice.errors == [] and bob.errors == []
            if SCREENSHOT_DIR:
                await alice.page.screenshot(path=str(Path(SCREENSHOT_DIR) / "web-conversation.png"))
            await browser.close()
    finally:
        if wire is not None:
            await wire.close()
        await proxy.close()


async def assert_same_conversation(alice: ChatPage, bob: ChatPage, channel: str,
                                   sent: list[str]) -> None:
    """Both screens show exactly the sent texts, once each, under seqs 1..N in order."""
    shown_a = await alice.wait_shown(channel, len(sent))
    shown_b = await bob.wait_shown(channel, len(sent))
    assert [seq for seq, _ in shown_a] == list(range(1, len(sent) + 1)), shown_a
    assert sorted(text for _, text in shown_a) == sorted(sent), shown_a
    assert shown_a == shown_b
    # Each sender's own messages keep the order they were written in.
    for who in ("alice", "bob"):
        mine = [text for _, text in shown_a if text.startswith(who)]
        assert mine == [text for text in sent if text.startswith(who)]
    # Nothing is left waiting for an ack.
    for page in (alice, bob):
        await expect(page.by("message-pending")).to_have_count(0, timeout=WAIT_MS)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_group_image_unread_counts_and_history(make_deployment):
    server = make_deployment().start_server()
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        # Alice on a phone-sized screen, Bob on a desktop one.
        alice = await ChatPage.open(browser, server.base_url,
                                    viewport={"width": 390, "height": 740},
                                    is_mobile=True, has_touch=True)
        bob = await ChatPage.open(browser, server.base_url)
        alice_name, bob_name = name("alice"), name("bob")
        await alice.register(alice_name)
        await bob.register(bob_name)

        # Alice creates a group with Bob in it, from the form.
        await alice.page.get_by_role("button", name="New group").click()
        await alice.page.get_by_label("Group name").fill("team")
        await alice.page.get_by_label("Members (usernames, comma-separated)").fill(bob_name)
        await alice.page.get_by_role("button", name="Create group").click()
        current = alice.page.locator('[data-testid="conversation"][aria-current="true"]')
        await expect(current).to_have_count(1)
        channel = await current.get_attribute("data-channel")
        assert channel.startswith("g:")

        # An image: uploaded, sent as a media message, shown inline to both. The
        # group's first message is how Bob's page learns of the group.
        await alice.page.locator("#attach").set_input_files(
            {"name": "red.png", "mimeType": "image/png", "buffer": png(64, 48)})
        await expect(bob.unread(channel)).to_have_text("1", timeout=WAIT_MS)
        await alice.send("two")
        await alice.send("three")
        await expect(bob.unread(channel)).to_have_text("3", timeout=WAIT_MS)
        await bob.conversation(channel).click()
        await expect(bob.unread(channel)).to_have_text("0")
        for page in (alice, bob):
            image = page.page.locator(f'[data-testid="message"][data-channel="{channel}"] img')
            await expect(image).to_have_count(1, timeout=WAIT_MS)
            await page.page.wait_for_function(
                "(img) => img.complete && img.naturalWidth === 64",
                arg=await image.element_handle(), timeout=WAIT_MS)

        # History: 120 more messages from a wire client; a newly opened page shows the
        # newest and loads older pages as Bob scrolls up, until all are there once.
        dave = await make_user(server.base_url, "dave")
        owner_token = await alice.page.evaluate("imApp.client.token")
        status, _ = await ahttp(server.base_url, "POST", f"/api/groups/{channel[2:]}/members/",
                                {"user_ids": [dave.id]}, token=owner_token)
        assert status in (200, 201)
        wire = await TcpClient.connect(server.tcp_host, server.tcp_port)
        try:
            await wire.auth(dave.token)
            for i in range(120):
                await wire.send_text(text=f"old {i}", group=int(channel[2:]))
            await wire.acks(120)
        finally:
            await wire.close()
        # Alice has the group open: what arrives there is read at once.
        await expect(alice.unread(channel)).to_have_text("0", timeout=WAIT_MS)
        later = await ChatPage.open(browser, server.base_url)
        await later.by("login-username").fill(bob_name)
        await later.by("login-password").fill("correct horse battery staple")
        await later.by("login-submit").click()
        await later.wait_online()
        await later.conversation(channel).click()
        shown = await later.wait_shown(channel, 50)
        assert shown[-1] == (123, "old 119")
        for _ in range(10):
            if len(await later.shown(channel)) == 123:
                break
            await later.page.locator("#messages").evaluate("(box) => { box.scrollTop = 0; }")
            await later.wait_shown(channel, len(await later.shown(channel)) + 1)
        shown = await later.shown(channel)
        assert [seq for seq, _ in shown] == list(range(1, 124))
        assert [text for _, text in shown[3:]] == [f"old {i}" for i in range(120)]
        assert alice.errors == [] and bob.errors == [] and later.errors == []
        await browser.close()


async def test_tracker_and_corrections_in_the_browser(make_deployment):
    """The SDK's tracker, run by the browser: once each, in order, holes reported;
    the app's model applies edits and recalls."""
    server = make_deployment().start_server()
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await (await browser.new_context()).new_page()
        await page.goto(server.base_url + "/")
        result = await page.evaluate("""async () => {
            const { SeqTracker } = await import("/static/webclient/sdk/tracker.js");
            let clock = 0;
            const t = new SeqTracker(() => clock);
            const out = [];
            const take = (seq) => out.push(
                ...t.offer({ channel: "g:1", seq }).map((i) => i.message.seq));
            take(2); take(3);
            const gapAt0 = t.gaps(300).length;
            clock = 301;
            const gapAfter = t.gaps(300);
            take(1); take(2); take(1); take(5);
            const base = t.advanceTo("g:1", 4).map((i) => i.message.seq);
            return { out, gapAt0, gapAfter, base, position: t.position("g:1"),
                     hole: t.hasGap("g:1") };
        }""")
        assert result == {"out": [1, 2, 3], "gapAt0": 0, "gapAfter": ["g:1"], "base": [5],
                          "position": 5, "hole": False}

        # Edits and recalls (section 11) change their target in place, count as no
        # new message, and an older copy from history does not undo them.
        corrected = await page.evaluate("""async () => {
            const { Conversation, preview } = await import(
                "/static/webclient/app/conversations.js");
            const c = new Conversation("p:1:2");
            const msg = (seq, type, extra) => ({ channel: "p:1:2", seq, ts: seq * 10, from: 1,
                                                 type, ...extra });
            c.put(msg(1, "text", { body: { text: "helo" } }));
            c.put(msg(2, "text", { body: { text: "bye" } }));
            const edited = c.correct(msg(3, "edit", { target: 1, body: { text: "hello" } }));
            c.correct(msg(4, "recall", { target: 2 }));
            const stale = c.put(msg(1, "text", { body: { text: "helo" } }));
            return { first: c.messages.get(1).body.text, edited: edited.edited,
                     second: c.messages.get(2).body, recalled: c.messages.get(2).recalled,
                     last: preview(c.lastMessage), stale, lastSeq: c.lastSeq };
        }""")
        assert corrected == {"first": "hello", "edited": 30, "second": {}, "recalled": 40,
                             "last": "message removed", "stale": False, "lastSeq": 4}
        await browser.close()
