"""A host and a transport for a Session under test: they record what the session asks
of them, and the test decides what they answer."""

from __future__ import annotations

import asyncio
import json

from accounts.tokens import authenticate_token
from realtime.db import run_read
from realtime.host import Registration
from realtime.ratelimit import Budget


class FakeAdapter:
    """A JSON WebSocket as the session sees it. `stalled` makes writes hang, as a
    socket whose peer stopped reading does."""

    form = "json"

    def __init__(self) -> None:
        self.frames: asyncio.Queue[dict] = asyncio.Queue()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.aborted = False
        self.stalled = False
        self._stall = asyncio.Event()

    async def write(self, payloads: list[bytes | str]) -> None:
        if self.stalled:
            await self._stall.wait()
        for payload in payloads:
            self.frames.put_nowait(json.loads(payload))

    async def close(self, code: int = 1000) -> None:
        if not self.closed.done():
            self.closed.set_result(code)

    def abort(self) -> None:
        self.aborted = True

    async def next(self, timeout: float = 5) -> dict:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def next_of(self, kind: str, timeout: float = 5) -> dict:
        while True:
            frame = await self.next(timeout)
            if frame.get("type") == kind:
                return frame


class FakeHost:
    name = "node-under-test"
    node_id = "node-under-test"

    def __init__(self) -> None:
        self.registered: list = []
        self.unregistered: list = []
        self.heartbeats = 0
        self.submitted: list[tuple] = []  # (request, origin, future)
        self.recently_revoked = False
        self.auth_wait_ms = 0  # what admit_auth answers
        self.forwarded: list[tuple[dict, frozenset[int]]] = []

    async def register(self, session) -> Registration:
        self.registered.append(session)
        return Registration(user_sends=Budget(1000, 1000, flood_s=10),
                            recently_revoked=self.recently_revoked)

    async def unregister(self, session) -> None:
        self.unregistered.append(session)

    async def heartbeat(self, session) -> None:
        self.heartbeats += 1

    def submit(self, request, *, origin: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.submitted.append((request, origin, future))
        return future

    def typing_allowed(self, user_id: int, channel: str) -> bool:
        return True

    def forward(self, frame: dict, recipients: frozenset[int], *, origin: str) -> None:
        self.forwarded.append((frame, recipients))

    def admit_auth(self) -> int:
        return self.auth_wait_ms

    async def authenticate(self, token: str):
        return await run_read(authenticate_token, token)

    async def close_connections(self, records, reason: str) -> None:
        raise AssertionError("a session never closes other connections")
