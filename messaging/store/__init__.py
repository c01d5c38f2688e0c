"""Where messages are stored: one interface, chosen once per process by settings."""

from __future__ import annotations

from functools import cache

from messaging.store.base import (
    AppendResult,
    MessageQuery,
    MessageSearch,
    MessageStore,
    NewMessage,
    RetentionStep,
    StoredMessage,
)

__all__ = ["AppendResult", "MessageQuery", "MessageSearch", "MessageStore", "NewMessage",
           "RetentionStep", "StoredMessage", "get_search", "get_store", "store_flush"]


@cache
def get_store() -> MessageStore:
    from django.conf import settings

    from messaging.store.orm import OrmMessageStore

    store: MessageStore
    if settings.IM_MONGODB_URL:
        from messaging.store.mongo import MongoMessageStore

        store = MongoMessageStore(settings.IM_MONGODB_URL)
    else:
        store = OrmMessageStore()
    if settings.IM_REDIS_URL and settings.IM_HOT_WINDOW > 0:
        from messaging.store.hot import HotWindowStore

        store = HotWindowStore(
            store,
            url=settings.IM_REDIS_URL,
            prefix=f"{settings.IM_REDIS_PREFIX}:hot",
            window=settings.IM_HOT_WINDOW,
            queue_bytes=settings.IM_HOT_WINDOW_QUEUE_BYTES,
            hold_path=settings.IM_TEST_HOT_WINDOW_HOLD,
        )
    return store


def store_flush(timeout: float) -> bool:
    """At shutdown: make the writes the store still has queued (the hot window's),
    waiting at most `timeout`. False if some were left."""
    flush = getattr(get_store(), "flush", None)
    return flush(timeout) if flush is not None else True


def get_search() -> MessageSearch:
    """The moderators' search, on the durable store (the hot window holds only each
    channel's newest messages)."""
    from django.conf import settings

    from messaging.store.hot import HotWindowStore
    from messaging.store.orm_search import OrmMessageSearch

    if not settings.IM_MONGODB_URL:
        return OrmMessageSearch()
    store = get_store()
    return store.inner if isinstance(store, HotWindowStore) else store  # MongoMessageStore
