"""Where messages are stored: one interface, chosen once per process by settings."""

from __future__ import annotations

from functools import cache

from messaging.store.base import AppendResult, MessageStore, NewMessage, StoredMessage

__all__ = ["AppendResult", "MessageStore", "NewMessage", "StoredMessage", "get_store"]


@cache
def get_store() -> MessageStore:
    from messaging.store.orm import OrmMessageStore

    return OrmMessageStore()
