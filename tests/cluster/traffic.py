"""Helpers for cluster tests: steady traffic through the SDK, and placements."""

from __future__ import annotations

import asyncio

from imclient import Client
from tests.imclient.conftest import until
from tests.support.clients import ahttp

QUICK = {"IM_NODE_HEARTBEAT_S": 1, "IM_NODE_TTL_S": 3, "IM_DRAIN_S": 3,
         "IM_RATE_MSGS_PER_S": 100000, "IM_RATE_BURST": 100000}


def address(server, transport: str) -> str:
    return server.tcp_address if transport == "tcp" else server.ws_url


async def placement(server, accounts) -> dict[int, str]:
    """Each user's node, as GET /api/gateway/ answers (from any node)."""
    answers = await _gateway(server, accounts)
    versions = {body["ring"] for _, body in answers}
    assert len(versions) == 1
    return {a.id: body["tcp"] for a, (_, body) in zip(accounts, answers, strict=True)}


async def settled_placement(server, accounts, timeout: float = 20) -> dict[int, str]:
    """`placement` once every answer names one ring version (behind shared ports, each
    answer may come from another node, and a node takes a heartbeat to see a change)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answers = await _gateway(server, accounts)
        if len({body["ring"] for _, body in answers}) == 1:
            return {a.id: body["tcp"] for a, (_, body) in zip(accounts, answers, strict=True)}
        assert asyncio.get_running_loop().time() < deadline, "the nodes named two rings"
        await asyncio.sleep(0.05)


async def _gateway(server, accounts) -> list[tuple[int, dict]]:
    answers = await asyncio.gather(*(ahttp(server.base_url, "GET", "/api/gateway/",
                                           token=a.token) for a in accounts))
    assert all(status == 200 for status, _ in answers), answers
    return answers


class Traffic:
    """One sender keeps sending to every receiver; each receiver keeps what it gets."""

    def __init__(self, sender: Client, receivers: dict[int, Client]) -> None:
        self.sender = sender
        self.receivers = receivers
        self.acked: dict[int, list[str]] = {uid: [] for uid in receivers}
        self.got: dict[int, list[tuple[int, str]]] = {uid: [] for uid in receivers}
        self.rounds = 0
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._send())] + [
            asyncio.create_task(self._receive(uid, c)) for uid, c in receivers.items()]

    async def _send(self) -> None:
        while not self._stop.is_set():
            texts = {uid: f"r{self.rounds}-{uid}" for uid in self.receivers}
            await asyncio.gather(*(self.sender.send_text(to=uid, text=text, timeout=30)
                                   for uid, text in texts.items()))
            for uid, text in texts.items():
                self.acked[uid].append(text)
            self.rounds += 1
            await asyncio.sleep(0.05)

    async def _receive(self, uid: int, client: Client) -> None:
        async for message in client.messages():
            self.got[uid].append((message.seq, message.text))

    async def wait_rounds(self, more: int) -> None:
        target = self.rounds + more
        await until(lambda: self.rounds >= target, timeout=60, what=f"{more} rounds sent")

    async def stop_and_check(self) -> None:
        self._stop.set()
        await self._tasks[0]
        await until(lambda: all(len(self.got[u]) >= len(self.acked[u]) for u in self.acked),
                    timeout=60, what="every acked message received")
        for uid, texts in self.acked.items():
            got = self.got[uid]
            assert [text for _, text in got] == texts, uid  # none lost, none twice, in order
            assert len({seq for seq, _ in got}) == len(got)
        for task in self._tasks[1:]:
            task.cancel()
