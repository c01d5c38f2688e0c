"""`python -m imclient` in subprocesses against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from tests.imclient.conftest import WAIT, users
from tests.support.clients import ahttp
from tests.support.proxy import FaultProxy

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


class Proc:
    """A CLI subprocess whose output lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = asyncio.Condition()
        self._readers = [asyncio.create_task(self._collect(proc.stdout, self.out)),
                         asyncio.create_task(self._collect(proc.stderr, self.err))]

    @classmethod
    async def start(cls, server, account, *args: str) -> Proc:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "imclient", "--server", server.base_url,
            "--username", account.username, "--password", PASSWORD, *args,
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _collect(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            async with self._changed:
                into.append(line.decode().rstrip("\n"))
                self._changed.notify_all()

    async def expect(self, pattern: str, *, stderr: bool = False, count: int = 1,
                     timeout: float = WAIT) -> list[str]:
        """Wait until `count` lines of the output match `pattern`; return them."""
        lines = self.err if stderr else self.out
        regex = re.compile(pattern)

        def matching() -> list[str]:
            return [line for line in lines if regex.search(line)]

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{pattern!r} x{count} not seen in {timeout}s; "
                                 f"stdout={self.out} stderr={self.err}") from None
        return matching()

    async def type(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = WAIT) -> int:
        if self.proc.stdin and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            raise AssertionError(f"still running; stdout={self.out} stderr={self.err}") from None
        await asyncio.gather(*self._readers)
        return code


async def run(server, account, *args: str) -> tuple[int, list[str], list[str]]:
    proc = await Proc.start(server, account, *args)
    code = await proc.finish()
    return code, proc.out, proc.err


async def test_send_and_listen(sdk_server):
    alice, bob = await users(sdk_server, 2)
    status, group = await ahttp(sdk_server.base_url, "POST", "/api/groups/",
                                {"name": "cli", "members": [bob.id]}, token=alice.token)
    assert status == 201
    listener = await Proc.start(sdk_server, bob, "--transport", "ws", "listen", "--count", "3")
    await listener.expect(r"^\*\*\* listening as user", stderr=True)

    acks = []
    for args in (["--to", str(bob.id), "hello bob"], ["--to", str(bob.id), "second"],
                 ["--group", str(group["id"]), "--type", "emoji", "🎉"]):
        code, out, err = await run(sdk_server, alice, "send", *args)
        assert code == 0, err
        assert len(out) == 1
        acks.append(json.loads(out[0]))
    assert [(a["type"], a["seq"]) for a in acks] == [("ack", 1), ("ack", 2), ("ack", 1)]
    assert acks[0]["channel"] == f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    assert acks[2]["channel"] == f"g:{group['id']}"

    assert await listener.finish() == 0, listener.err
    printed = [json.loads(line) for line in listener.out]
    assert [(m["from"], m["body"]) for m in printed] == [
        (alice.id, {"text": "hello bob"}), (alice.id, {"text": "second"}),
        (alice.id, {"emoji": "🎉"})]
    assert [m["id"] for m in printed] == [a["id"] for a in acks]


async def test_errors_exit_non_zero_with_a_message(sdk_server):
    (alice,) = await users(sdk_server, 1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "imclient", "--server", sdk_server.base_url, "--username",
        alice.username, "--password", "wrong", "send", "--to", "1", "x", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 1 and b"error: login refused" in err and not out
    code, out, err = await run(sdk_server, alice, "send", "--to", str(2**62), "nobody")
    assert code == 1 and any("not_found" in line for line in err) and not out
    code, _, err = await run(sdk_server, alice, "send", "--to", "1", "--group", "2", "x")
    assert code == 2 and any("not allowed with" in line for line in err)


async def test_two_people_chat_while_one_link_is_cut_and_restored(sdk_server):
    alice, bob = await users(sdk_server, 2)
    async with FaultProxy(sdk_server.tcp_address, seed=5) as proxy:
        a = await Proc.start(sdk_server, alice, "--address", proxy.address,
                             "chat", "--to", str(bob.id))
        b = await Proc.start(sdk_server, bob, "--transport", "ws", "chat", "--to", str(alice.id))
        for proc in (a, b):
            await proc.expect(r"^\*\*\* connected")
            await proc.expect(r"^\*\*\* chat with")

        def said(user, text: str) -> str:
            return rf"^\[\d\d:\d\d:\d\d\] {user.username}: {re.escape(text)}$"

        await a.type("hello bob")
        await b.expect(said(alice, "hello bob"))
        await b.type("hi alice")
        await a.expect(said(bob, "hi alice"))

        proxy.refuse()
        proxy.cut()
        await a.expect(r"^\*\*\* link lost")
        await b.type("are you there?")
        await b.expect(said(bob, "are you there?"))
        await a.type("typed while offline")  # after bob's line: it was typed later
        await a.expect(r"^\*\*\* offline: the message goes out when the link returns")
        proxy.refuse(False)
        await a.expect(r"^\*\*\* link restored")
        for proc in (a, b):
            await proc.expect(said(bob, "are you there?"))
            await proc.expect(said(alice, "typed while offline"))
        await b.type("welcome back")
        for proc in (a, b):
            await proc.expect(said(bob, "welcome back"))
        codes = [await a.finish(), await b.finish()]
    assert codes == [0, 0], (a.err, b.err)

    def transcript(proc: Proc) -> list[str]:
        return [line for line in proc.out if line.startswith("[")]

    assert transcript(a) == transcript(b)
    assert [line.split("] ", 1)[1] for line in transcript(a)] == [
        f"{alice.username}: hello bob", f"{bob.username}: hi alice",
        f"{bob.username}: are you there?", f"{alice.username}: typed while offline",
        f"{bob.username}: welcome back"]
    # A late joiner sees the same conversation as history.
    late = await Proc.start(sdk_server, bob, "chat", "--to", str(alice.id))
    await late.expect(said(bob, "welcome back"))
    assert await late.finish() == 0
    assert transcript(late) == transcript(a)


async def test_chat_ends_with_status_3_when_the_server_ends_the_session(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    chat = await Proc.start(sdk_server, alice, "--device", "desk", "chat", "--to", str(bob.id))
    await chat.expect(r"^\*\*\* chat with")
    await clients(sdk_server, alice, "ws", device="desk")  # takes the device over
    await chat.expect(r"^\*\*\* session ended: replaced")
    assert await chat.finish() == 3


async def test_two_chats_show_read_marks_typing_edits_and_recalls(sdk_server):
    alice, bob = await users(sdk_server, 2)
    a = await Proc.start(sdk_server, alice, "chat", "--to", str(bob.id))
    b = await Proc.start(sdk_server, bob, "--transport", "ws", "chat", "--to", str(alice.id))
    for proc in (a, b):
        await proc.expect(r"^\*\*\* chat with")
    await a.type("helo bob")
    await b.expect(rf"{alice.username}: helo bob$")
    # Bob's chat showed it, so marked it read; alice is told.
    await a.expect(rf"^\*\*\* {bob.username} has read up to #1$")
    await b.type("/typing")
    await a.expect(rf"^\*\*\* {bob.username} is typing$")
    await a.type("/edit hello bob")
    for proc in (a, b):
        await proc.expect(rf"^\*\*\* #1 edited by {alice.username}: hello bob$")
    await a.type("/recall")
    for proc in (a, b):
        await proc.expect(rf"^\*\*\* #1 recalled by {alice.username}$")
    assert [await a.finish(), await b.finish()] == [0, 0]
    # Opened again, the history shows the message as it is now.
    late = await Proc.start(sdk_server, bob, "chat", "--to", str(alice.id))
    await late.expect(rf"{alice.username}: \(recalled\)$")
    assert await late.finish() == 0
