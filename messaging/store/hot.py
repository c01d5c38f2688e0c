"""The hot window: each channel's most recent messages in a Redis sorted set.

Scored by seq and written only after the durable store has committed, so anything
in the window is stored. The write comes after the acks, from a thread of its own
(`messaging/store/hot_writer.py`), so a range is served from the window only when the
window holds it without a hole; otherwise (a cold range, a flushed, lagging or
revised one) it comes from the durable store, which stays the source of truth.

A revision replaces the message's copy with a tombstone, in one script with the
append's check (`messaging/store/hot_scripts.py`): a write of the original that lands
later, from this node's queue or another node's, is skipped, so what the window
serves is current too.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

import msgpack
import redis
from django.db import transaction

from messaging.store import hot_scripts
from messaging.store.base import (
    AppendResult,
    MessageStore,
    NewMessage,
    RetentionStep,
    StoredMessage,
)
from messaging.store.hot_writer import Batch, DeferredWrites, WindowReset

log = logging.getLogger(__name__)

_EXPIRE_S = 7 * 24 * 3600  # a channel quiet for a week drops out of memory


class HotWindowStore:
    def __init__(self, inner: MessageStore, *, url: str, prefix: str, window: int,
                 queue_bytes: int = 8 << 20, hold_path: str = "") -> None:
        self.inner = inner
        self.window = window
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._append_script = self.redis.register_script(hot_scripts.APPEND)
        self._revise_script = self.redis.register_script(hot_scripts.REVISE)
        self._expire_script = self.redis.register_script(hot_scripts.EXPIRE)
        self._epoch_key = f"{prefix}:~epoch"
        self._epoch: bytes | None = None  # the token last seen; only the writer's thread
        try:
            self._epoch = self._learn_epoch()
        except redis.RedisError:
            pass  # learnt at the first write
        self.writes = DeferredWrites(self._remember, capacity=queue_bytes, hold_path=hold_path)

    def _key(self, channel: str) -> str:
        return f"{self.prefix}:{channel}"

    def append(self, batch: Sequence[NewMessage], *, now_ms: int) -> list[AppendResult]:
        results = self.inner.append(batch, now_ms=now_ms)
        fresh: Batch = {}
        for result in results:
            if not result.dup:
                message = result.message
                fresh.setdefault(message.channel, []).append((message.seq, _pack(message)))
        if fresh:
            # The write path's transaction (the caller's) commits after this returns:
            # the window's write is queued once it has, in commit order, and made after
            # the acks by the window's own thread. Robust: nothing that goes wrong with
            # the window may fail a batch that is stored.
            transaction.on_commit(lambda: self.writes.put(fresh), robust=True)
        return results

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout`) until every queued window write is made."""
        return self.writes.flush(timeout)

    def _learn_epoch(self) -> bytes | None:
        # Whatever token is there when the window starts is the current one: nothing
        # older is queued yet.
        self.redis.set(self._epoch_key, secrets.token_hex(8), nx=True)
        return self.redis.get(self._epoch_key)

    def _remember(self, batches: list[Batch]) -> None:
        """Write batches (in commit order) into the windows: on the window's thread."""
        merged: dict[str, list[tuple[int, bytes]]] = {}
        for batch in batches:
            for channel, members in batch.items():
                merged.setdefault(channel, []).extend(members)
        if self._epoch is None:
            self._epoch = self._learn_epoch()
        keys, args = [self._epoch_key], [self.window, _EXPIRE_S, self._epoch or b"",
                                         secrets.token_hex(8)]
        for channel, members in merged.items():
            keys.append(self._key(channel))
            seqs = [seq for seq, _ in members]
            args.extend((len(members), max(seqs), min(seqs)))
            for seq, member in members:
                args.extend((seq, member))
        done, value = self._append_script(keys=keys, args=args)
        if not done:
            self._epoch = value
            raise WindowReset

    def range(
        self, channel: str, *, after: int = 0, before: int | None = None, limit: int = 100
    ) -> list[StoredMessage]:
        if before is None:
            hot = self._hot_range(channel, after, limit)
            if hot is not None:
                return hot
        return self.inner.range(channel, after=after, before=before, limit=limit)

    def _hot_range(self, channel: str, after: int, limit: int) -> list[StoredMessage] | None:
        try:
            raw = self.redis.zrangebyscore(self._key(channel), after + 1, "+inf", 0, limit)
        except redis.RedisError:
            return None
        if not raw:
            return None  # nothing hot: maybe nothing there, maybe flushed; ask the store
        messages = []
        for offset, item in enumerate(raw):
            if item[:1] == hot_scripts.MARK:
                return None  # a revised message's tombstone, or retention's floor
            message = _unpack(item)
            if message.seq != after + 1 + offset:
                return None  # a hole (trimmed, flushed or still being written)
            messages.append(message)
        return messages

    def revise(self, channel: str, seq: int, *, body: dict, edited: int | None = None,
               recalled: int | None = None) -> None:
        self.inner.revise(channel, seq, body=body, edited=edited, recalled=recalled)
        # The window's copy is stale: a tombstone replaces it, which a write of the
        # original still queued (here or on another node) cannot pass. Ranges through
        # it are read from the store. This runs before the revision commits: should
        # Redis fail, the revision fails with it rather than leave a stale copy.
        try:
            self._revise_script(keys=[self._key(channel)], args=[seq, _EXPIRE_S, self.window])
        except redis.RedisError:
            log.warning("could not drop a revised message from the hot window", exc_info=True)
            raise

    def last_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        return self.inner.last_seqs(channels)

    def channels_of_user(self, user_id: int) -> list[tuple[str, int]]:
        return self.inner.channels_of_user(user_id)

    def find(self, keys: Sequence[tuple[str, int]], *, lock: bool = False
             ) -> dict[tuple[str, int], StoredMessage]:
        return self.inner.find(keys, lock=lock)

    def stored_keys(self, keys: Sequence[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        return self.inner.stored_keys(keys)

    def revisions_after(self, positions: dict[str, int]) -> dict[str, int]:
        return self.inner.revisions_after(positions)

    def first_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        return self.inner.first_seqs(channels)

    def expired_channels(self, *, before_ts: int) -> list[str]:
        return self.inner.expired_channels(before_ts=before_ts)

    def expire(self, channel: str, *, before_ts: int, limit: int) -> RetentionStep:
        step = self.inner.expire(channel, before_ts=before_ts, limit=limit)
        if step.deleted:
            # The window must not serve what the store no longer holds, nor take it back
            # from a late write: a floor marker (should this fail, readers still drop
            # what lies below first_seq: channel_messages).
            self._expire_script(keys=[self._key(channel)], args=[step.first_seq - 1, _EXPIRE_S])
        return step


_ORDER = ("channel", "seq", "ts", "sender_id", "client_id", "type", "body", "recipient_id",
          "group_id", "target", "edited", "recalled")


def _pack(message: StoredMessage) -> bytes:
    return msgpack.packb([getattr(message, f) for f in _ORDER], use_bin_type=True)


def _unpack(raw: bytes) -> StoredMessage:
    return StoredMessage(*msgpack.unpackb(raw, raw=False))
