"""The hot window: each channel's most recent messages in a Redis sorted set.

Scored by seq and written only after the durable store has committed, so anything
in the window is stored. A range is served from the window only when the window
holds it without a hole; otherwise (a cold range, a flushed or lagging Redis) it
comes from the durable store, which stays the source of truth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgpack
import redis
from django.db import transaction

from messaging.store.base import (
    AppendResult,
    MessageStore,
    NewMessage,
    RetentionStep,
    StoredMessage,
)

log = logging.getLogger(__name__)

_EXPIRE_S = 7 * 24 * 3600  # a channel quiet for a week drops out of memory


class HotWindowStore:
    def __init__(self, inner: MessageStore, *, url: str, prefix: str, window: int) -> None:
        self.inner = inner
        self.window = window
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, socket_timeout=5)

    def _key(self, channel: str) -> str:
        return f"{self.prefix}:{channel}"

    def append(self, batch: Sequence[NewMessage], *, now_ms: int) -> list[AppendResult]:
        results = self.inner.append(batch, now_ms=now_ms)
        fresh: dict[str, dict[bytes, int]] = {}
        for result in results:
            if not result.dup:
                message = result.message
                fresh.setdefault(message.channel, {})[_pack(message)] = message.seq
        if fresh:
            # The write path's transaction (the caller's) commits after this returns:
            # the window is written once it has, on the same thread, before any ack.
            transaction.on_commit(lambda: self._remember(fresh))
        return results

    def _remember(self, fresh: dict[str, dict[bytes, int]]) -> None:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for channel, members in fresh.items():
                    key = self._key(channel)
                    pipe.zadd(key, members)
                    pipe.zremrangebyrank(key, 0, -self.window - 1)
                    pipe.expire(key, _EXPIRE_S)
                pipe.execute()
        except redis.RedisError:
            # The messages are stored; readers fall back to the database.
            log.warning("could not update the hot window", exc_info=True)

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
        messages = [_unpack(item) for item in raw]
        for offset, message in enumerate(messages):
            if message.seq != after + 1 + offset:
                return None  # a hole (trimmed, flushed or still being written)
        return messages

    def revise(self, channel: str, seq: int, *, body: dict, edited: int | None = None,
               recalled: int | None = None) -> None:
        self.inner.revise(channel, seq, body=body, edited=edited, recalled=recalled)
        # The window's copy is stale: drop it; ranges through it are read from the
        # store (a hole sends them there).
        try:
            self.redis.zremrangebyscore(self._key(channel), seq, seq)
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
            # The window must not serve what the store no longer holds (should this
            # fail, readers still drop what lies below first_seq: channel_messages).
            self.redis.zremrangebyscore(self._key(channel), "-inf", step.first_seq - 1)
        return step


_ORDER = ("channel", "seq", "ts", "sender_id", "client_id", "type", "body", "recipient_id",
          "group_id", "target", "edited", "recalled")


def _pack(message: StoredMessage) -> bytes:
    return msgpack.packb([getattr(message, f) for f in _ORDER], use_bin_type=True)


def _unpack(raw: bytes) -> StoredMessage:
    return StoredMessage(*msgpack.unpackb(raw, raw=False))
