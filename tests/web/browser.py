"""Driving the web client in Debian's Chromium with Playwright (tests only).

Playwright's own browser downloads are never used: the Chromium of the system
(`apt-get install chromium`, done by scripts/test-services.sh) is launched by path.
"""

from __future__ import annotations

import shutil

from playwright.async_api import Browser, Page, Playwright, expect

PASSWORD = "correct horse battery staple"
WAIT_MS = 30_000  # a reconnect after a restart takes a few backoff steps


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no chromium on PATH: run scripts/test-services.sh "
                       "(it runs apt-get install chromium)")


async def launch(playwright: Playwright) -> Browser:
    # --no-sandbox: tests run as root in CI, where Chromium's sandbox cannot start.
    return await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])


class ChatPage:
    """One person in one browser context (own storage: a separate user and tab)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @classmethod
    async def open(cls, browser: Browser, base_url: str, **context_options) -> ChatPage:
        context = await browser.new_context(**context_options)
        page = await context.new_page()
        chat = cls(page, base_url)
        await page.goto(base_url + "/")
        return chat

    def by(self, test_id: str):
        return self.page.get_by_test_id(test_id)

    async def register(self, username: str) -> None:
        await self.by("login-username").fill(username)
        await self.by("login-password").fill(PASSWORD)
        await self.by("register-submit").click()
        await self.wait_online()

    async def wait_online(self) -> None:
        await expect(self.by("connection-status")).to_have_text("online", timeout=WAIT_MS)

    def conversation(self, channel: str):
        return self.page.locator(f'[data-testid="conversation"][data-channel="{channel}"]')

    async def open_chat(self, username: str) -> str:
        """Open the private chat with `username` by name; returns its channel."""
        await self.by("new-chat").fill(username)
        await self.by("new-chat").press("Enter")
        item = self.page.locator('[data-testid="conversation"][aria-current="true"]')
        await expect(item).to_have_count(1)
        return await item.get_attribute("data-channel")

    async def send(self, text: str) -> None:
        await self.by("composer").fill(text)
        await self.by("composer").press("Enter")

    async def shown(self, channel: str) -> list[tuple[int, str]]:
        """(seq, text) of every message element of `channel`, in screen order."""
        shown = await self.page.evaluate(
            """(channel) => [...document.querySelectorAll(
                   `[data-testid="message"][data-channel="${channel}"]`)]
                 .map((n) => [Number(n.dataset.seq), n.querySelector(".body").textContent])""",
            channel,
        )
        return [(seq, text) for seq, text in shown]

    def unread(self, channel: str):
        return self.conversation(channel).get_by_test_id("unread")

    async def wait_shown(self, channel: str, count: int) -> list[tuple[int, str]]:
        await self.page.wait_for_function(
            """([channel, count]) => document.querySelectorAll(
                   `[data-testid="message"][data-channel="${channel}"]`).length >= count""",
            arg=[channel, count], timeout=WAIT_MS,
        )
        return await self.shown(channel)
