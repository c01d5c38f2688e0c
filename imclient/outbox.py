"""The outbox: messages sent but not yet acknowledged.

Each pending send keeps its frame and client id until the server acks it. It is
written once per connection (again on every new one) and again after a
`rate_limited` or `internal` refusal, always under the same client id, so the server
stores it once. Refusals make the outbox pause, then send paced, the pace easing
with every ack (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import asyncio
import random
import time

from improto.errors import INTERNAL, RATE_LIMITED

from .connection import Connection
from .errors import SendFailed

# Server error codes after which the same frame may simply be sent again.
RETRYABLE = frozenset({RATE_LIMITED, INTERNAL})


class PendingSend:
    __slots__ = ("frame", "future", "sent_on", "writes")

    def __init__(self, frame: dict, future: asyncio.Future) -> None:
        self.frame = frame
        self.future = future
        self.sent_on: Connection | None = None  # the connection it was last written to
        self.writes = 0


class Outbox:
    def __init__(self, *, id_prefix: str, rng: random.Random, stats: dict[str, int]) -> None:
        self.id_prefix = id_prefix  # the client ids this client generates start with it
        self.pending: dict[str, PendingSend] = {}
        self.own_ids: set[str] = set()  # client ids chosen by the application
        self._rng = rng
        self._stats = stats
        self._wake = asyncio.Event()
        self._paused_until = 0.0
        self._rate_strikes = 0
        self._pace = 0.0  # seconds between frames once the server rate-limits (0: unpaced)

    def is_own(self, client_id: str) -> bool:
        """Whether a message with this client id (from this user) was sent here."""
        return client_id.startswith(self.id_prefix) or client_id in self.own_ids

    def add(self, client_id: str, frame: dict) -> PendingSend:
        """Queue a frame (or join the send already pending under that client id)."""
        pending = self.pending.get(client_id)
        if pending is None:
            pending = PendingSend(frame, asyncio.get_running_loop().create_future())
            self.pending[client_id] = pending
            if not client_id.startswith(self.id_prefix):
                self.own_ids.add(client_id)
            self._wake.set()
        return pending

    def abandon(self, client_id: str, pending: PendingSend) -> None:
        """The application stopped waiting: stop sending it."""
        if self.pending.get(client_id) is pending and not pending.future.done():
            del self.pending[client_id]
            pending.future.cancel()

    def fail_all(self, error: BaseException) -> None:
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
                pending.future.exception()  # retrieved: nobody may be waiting any more
        self.pending.clear()

    def detach(self, conn: Connection) -> None:
        """`conn` is gone: what was written to it goes out again on the next one."""
        for pending in self.pending.values():
            if pending.sent_on is conn:
                pending.sent_on = None

    async def run(self, conn: Connection) -> None:
        """Write every pending frame not yet written to `conn`, for as long as it lives."""
        while True:
            self._wake.clear()
            wait = self._paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            due = [p for p in self.pending.values() if p.sent_on is not conn]
            if not due:
                await self._wake.wait()
                continue
            for pending in due:
                if self._paused_until > time.monotonic():
                    break
                if pending.sent_on is conn or pending.future.done():
                    continue
                if pending.writes:
                    self._stats["resent"] += 1
                pending.writes += 1
                pending.sent_on = conn
                await conn.send(pending.frame)
                if self._pace:
                    await asyncio.sleep(self._pace)

    def acked(self, client_id: object) -> PendingSend | None:
        """The send an `ack` settles (None if it is not ours any more)."""
        pending = self.pending.pop(client_id, None)
        if pending is None:
            return None
        self._rate_strikes = 0
        if self._pace:
            self._pace = 0.0 if self._pace < 0.002 else self._pace * 0.97
        return pending

    def refused(self, client_id: object, code: str, text: str) -> bool:
        """An `error` frame for a pending send: retry it or fail it. False if it
        answers none of ours."""
        pending = self.pending.get(client_id)
        if pending is None:
            return False
        if code in RETRYABLE:
            if code == RATE_LIMITED:
                self._stats["rate_limited"] += 1
            pending.sent_on = None
            if self._paused_until <= time.monotonic():
                # The frames already on their way will be refused too: count one
                # strike per pause. Afterwards frames go out paced.
                self._paused_until = time.monotonic() + self.pause_delay()
                self._pace = min(1.0, max(0.02, self._pace * 2))
            self._wake.set()
            return True
        del self.pending[client_id]
        if not pending.future.done():
            pending.future.set_exception(SendFailed(code, text, client_id))
        return True

    def pause_delay(self) -> float:
        """How long to hold back after a refusal; grows with consecutive refusals."""
        self._rate_strikes += 1
        ceiling = min(5.0, 0.1 * 2 ** min(self._rate_strikes, 6))
        return self._rng.uniform(ceiling / 2, ceiling)
