"""Catching up: every message of the user's channels, once each and in seq order.

Pushes, acks and sync pages all go through one SeqTracker. A session starts with a
full sync (the channel list, then each channel from the last seq held); a hole that
stays open longer than the reorder window is pulled; a full sync runs again every
`resync_interval`. What the tracker releases goes to the queue the application's
iterators read.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from improto.channels import parse_channel
from improto.conversation import ReadMark
from improto.errors import FORBIDDEN, INVALID, NOT_FOUND
from improto.frames import SyncChannels, SyncRange, command_to_dict

from .connection import Connection, ConnectionLost
from .models import Message
from .outbox import RETRYABLE
from .store import StateStore
from .tracker import SeqTracker

log = logging.getLogger("imclient")

SYNC_PAGE = 100  # small pages make progress on a link that keeps failing
# After these refusals the channel is not ours any more (left, removed, deleted).
_GONE = frozenset({FORBIDDEN, NOT_FOUND, INVALID})


class ServerError(Exception):
    """The server refused a request frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Sync:
    def __init__(
        self,
        *,
        store: StateStore | None,
        stats: dict[str, int],
        is_own: Callable[[Message], bool],
        retry_delay: Callable[[], float],
        reorder_window: float,
        resync_interval: float,
        request_timeout: float,
        replay_history: bool,
        on_channel_list: Callable[[list], None] = lambda channels: None,
        on_released: Callable[[Message], None] = lambda message: None,
        list_all_channels: Callable[[], Awaitable[list]] | None = None,
    ) -> None:
        self.tracker = SeqTracker()
        self.queue: asyncio.Queue = asyncio.Queue()  # (message, own) items, then the end
        self._store = store
        self._stats = stats
        self._is_own = is_own
        self._retry_delay = retry_delay
        self._reorder_window = reorder_window
        self._resync_interval = resync_interval
        self._request_timeout = request_timeout
        self._replay_history = replay_history
        self._on_channel_list = on_channel_list  # the list, read positions included
        self._on_released = on_released  # each message as the application gets it
        # The whole list over REST, when the wire's was cut at the sync size bound.
        self._list_all_channels = list_all_channels
        self._requests: dict[str, asyncio.Future] = {}
        self._request_ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._user_id: int | None = None
        self._state_loaded = False
        self._need_baseline = False
        self._store_marked = False

    def load_state(self, user_id: int) -> None:
        """Once, on the first session: start from the positions the state file holds."""
        self._user_id = user_id
        if self._state_loaded:
            return
        self._state_loaded = True
        if self._store is not None and self._store.initialized(user_id):
            for channel, seq in self._store.positions(user_id).items():
                self.tracker.advance_to(channel, seq)
        else:
            self._need_baseline = not self._replay_history

    async def run(self, conn: Connection, caught_up: Callable[[], None]) -> None:
        """Catch up on `conn`, call `caught_up`, then keep the holes filled."""
        await self._full_sync(conn)
        caught_up()
        next_resync = time.monotonic() + self._resync_interval
        while True:
            self._wake.clear()
            for channel in self.tracker.gaps(self._reorder_window):
                self._stats["gap_syncs"] += 1
                await self._pull(conn, channel)
            if time.monotonic() >= next_resync:
                await self._full_sync(conn)
                next_resync = time.monotonic() + self._resync_interval
            deadline = next_resync
            gap_deadline = self.tracker.next_gap_deadline(self._reorder_window)
            if gap_deadline is not None:
                deadline = min(deadline, gap_deadline)
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                pass

    # --- requests and their answers -----------------------------------------------------

    async def request(self, conn: Connection,
                      command: SyncChannels | SyncRange | ReadMark) -> dict:
        """Send a request (a sync, or a read mark) and wait for its answer (retrying
        `rate_limited`)."""
        frame = command_to_dict(command)
        while True:
            request_id = f"s{next(self._request_ids)}"
            future = asyncio.get_running_loop().create_future()
            self._requests[request_id] = future
            try:
                await conn.send({**frame, "id": request_id})
                return await asyncio.wait_for(future, self._request_timeout)
            except TimeoutError:
                raise ConnectionLost(f"no answer to {frame['type']} in time") from None
            except ServerError as error:
                if error.code not in RETRYABLE:
                    raise
                await asyncio.sleep(self._retry_delay())
            finally:
                self._requests.pop(request_id, None)

    def answered(self, frame: dict) -> bool:
        """A `sync` answer (or a read mark's `ack`) arrived: True if it was ours."""
        future = self._requests.get(frame.get("id"))
        if future is None:
            return False
        if not future.done():
            future.set_result(frame)
        return True

    def refused(self, request_id: object, code: str, text: str) -> bool:
        """An `error` frame for one of our requests? Then it fails that request."""
        if request_id not in self._requests:
            return False
        future = self._requests[request_id]
        if not future.done():
            future.set_exception(ServerError(code, text))
        return True

    def connection_lost(self) -> None:
        for future in self._requests.values():
            if not future.done():
                future.set_exception(ConnectionLost("connection lost"))
                future.exception()
        self._requests.clear()

    async def _full_sync(self, conn: Connection) -> None:
        """The channel list, then every channel that has more than the client holds."""
        self._stats["full_syncs"] += 1
        reply = await self.request(conn, SyncChannels(id=None))
        channels = reply.get("channels") or []
        if reply.get("truncated") and self._list_all_channels is not None:
            # A user with more channels than one reply holds: the rest from REST (if
            # that fails, the wire's part now, the rest at the next resync).
            try:
                channels = await self._list_all_channels()
            except Exception:
                self._stats["channel_list_partial"] += 1
        self._on_channel_list(channels)
        listed = {c["channel"]: c["last_seq"] for c in channels}
        if self._need_baseline:
            # A first start without state: what is already stored counts as read.
            for channel, last_seq in listed.items():
                self._emit(self.tracker.advance_to(channel, last_seq))
            self._need_baseline = False
            if self._store is not None:
                self._store.save_many(self._user_id, listed)
        if self._store is not None and not self._store_marked:
            self._store.mark_initialized(self._user_id)
            self._store_marked = True
        for entry in channels:
            self._skip_removed(entry["channel"], entry.get("first_seq", 1))
        for channel, last_seq in listed.items():
            if last_seq > self.tracker.position(channel):
                await self._pull(conn, channel)

    def _skip_removed(self, channel: str, first_seq: object) -> None:
        """Seqs below the channel's first_seq were removed by the server's retention
        policy: gone, not a hole to wait for or pull (docs/sdk.md, Retention)."""
        if type(first_seq) is int and first_seq - 1 > self.tracker.position(channel):
            self._stats["removed_skipped"] += first_seq - 1 - self.tracker.position(channel)
            self._emit(self.tracker.advance_to(channel, first_seq - 1))

    async def _pull(self, conn: Connection, channel: str) -> None:
        """Fetch `channel` from the last contiguous seq held up to its last seq."""
        while True:
            after = self.tracker.position(channel)
            command = SyncRange(id=None, channel=channel, after=after, limit=SYNC_PAGE)
            try:
                reply = await self.request(conn, command)
            except ServerError as error:
                log.warning("cannot sync %s: %s", channel, error)
                if error.code in _GONE:
                    self.tracker.forget(channel)  # no longer a member
                return
            messages = reply.get("messages") or []
            self._stats["pulled"] += len(messages)
            self._skip_removed(channel, reply.get("first_seq", 1))
            for frame in messages:
                self.received(frame)
            position = self.tracker.position(channel)
            if not messages or position >= reply.get("last_seq", 0) or position == after:
                break
        if self.tracker.has_gap(channel):
            # Still a hole after a complete pull (the server had not got that far
            # yet): wait another window instead of pulling in a loop.
            self.tracker.restart_gap(channel)

    # --- messages in ----------------------------------------------------------------------

    def received(self, frame: dict) -> None:
        """A message frame (pushed or from a sync page)."""
        try:
            message = Message.from_frame(frame)
            parse_channel(message.channel)
            if type(message.seq) is not int or message.seq < 1:
                raise ValueError("bad seq")
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed message frame: %r", frame)
            return
        self.feed(message, self._is_own(message))

    def feed(self, message: Message, own: bool) -> None:
        self._emit(self.tracker.offer(message, own))
        if self.tracker.has_gap(message.channel):
            self._wake.set()

    def _emit(self, released: list) -> None:
        for item in released:
            self._on_released(item[0])
            self.queue.put_nowait(item)

