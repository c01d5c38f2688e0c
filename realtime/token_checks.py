"""Authentications that arrive together are checked together.

A connect storm (a node restarted, a dead node's users arriving) brings thousands of
`auth` frames within a second; checked one by one, each costs a query and the ORM's
work to build it. Here the tokens that queue while a check is in flight are checked
by the next one, all in one query (accounts.tokens.authenticate_tokens). An `auth`
alone is checked at once, as before.
"""

from __future__ import annotations

import asyncio

from accounts.tokens import TokenIdentity, authenticate_tokens
from realtime.db import run_read

# At most this many tokens per query, and this many queries at once (of the reader
# pool's threads: the rest stay free for syncs).
MAX_BATCH = 256
PARALLEL = 2


class TokenChecks:
    def __init__(self) -> None:
        self._pending: list[tuple[str, asyncio.Future[TokenIdentity | None]]] = []
        self._running = 0

    def check(self, raw: str) -> asyncio.Future[TokenIdentity | None]:
        """Who `raw` belongs to (None: unknown, expired or revoked), once checked."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((raw, future))
        if self._running < PARALLEL:
            self._running += 1
            asyncio.create_task(self._drain(), name="im-token-checks")
        return future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # the frames read in this turn of the loop join in
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                try:
                    answers = await run_read(authenticate_tokens, [raw for raw, _ in batch])
                except Exception as exc:  # the database: each waiting auth fails with it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._running -= 1
