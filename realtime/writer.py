"""Group commit: the sends that arrive together are stored in one transaction.

Every connection of the process submits into one FIFO queue; a single loop takes
whatever has queued up (at most `max_batch`), stores it with one call of the write
path on the writer thread, and resolves each submitter's future in order. Frames of
one connection therefore keep their order, and a commit is paid once per batch
instead of once per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from improto.errors import INTERNAL
from imsite import metrics
from messaging.services.message_send import Request, SendOutcome, SendRefused, messages_send
from realtime.db import run_write

log = logging.getLogger(__name__)

_STOP = object()


class BatchWriter:
    def __init__(
        self,
        *,
        after_store: Callable[[list[tuple[SendOutcome, str]]], None],
        max_batch: int = 512,
    ) -> None:
        self._queue: asyncio.Queue[tuple[Request, str, asyncio.Future]] = asyncio.Queue()
        self._after_store = after_store
        self._max_batch = max_batch
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="im-batch-writer")

    async def stop(self) -> None:
        """Finish what was submitted (nothing acked is ever half-written), then stop."""
        if self._task is not None:
            self._queue.put_nowait(_STOP)
            await self._task

    def submit(self, request: Request, origin: str) -> asyncio.Future[SendOutcome]:
        """Queue a send; the future resolves once it is stored (or refused)."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((request, origin, future))
        return future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if _STOP in batch:
                stopping = True
                batch = [item for item in batch if item is not _STOP]
                if not batch:
                    break
            started = metrics.now()
            outcomes = await self._store([request for request, _, _ in batch])
            stored = metrics.now()
            # Messages stored: not the reads, refusals and retries the batch also held.
            written = sum(1 for o in outcomes if o.result is not None and not o.result.dup)
            if written:
                metrics.MESSAGES_STORED.inc(written)
                metrics.BATCH_SIZE.observe(written)
            metrics.BATCH_SECONDS.observe(stored - started)
            # Acks first (the futures' callbacks push them), then the fan-out.
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
            self._after_store(
                [(outcome, origin)
                 for (_, origin, _), outcome in zip(batch, outcomes, strict=True)]
            )

    async def _store(self, requests: list[Request]) -> list[SendOutcome]:
        try:
            return await run_write(messages_send, requests)
        except Exception:
            if len(requests) == 1:
                log.exception("storing a message failed")
                return [SendOutcome(refused=SendRefused(INTERNAL, "message not stored"))]
        # One bad request must not fail its neighbours: store them one by one.
        log.warning("a batch of %d failed; storing its messages one by one", len(requests))
        outcomes = []
        for request in requests:
            outcomes.extend(await self._store([request]))
        return outcomes
