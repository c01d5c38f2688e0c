"""This process's copy of the members of groups, each labelled with the group's
`members_version` (docs/architecture.md, "Group members, cached by version").

An entry is only ever used by a caller that has just read the group's version from
the database and found the same number: every change to a group's members raises
the version in the change's own transaction, so a matching version means the cached
set is the group's members as of that read, on every node, without any message
between nodes. Nothing is ever invalidated: a stale entry is simply not used, and
replaced by the next read.

The one rule for callers: fill it only from committed data, never inside a
transaction that changes memberships (a version raised there and then rolled back
could be raised again by another change, with other members, and match).

Bounded twice, least recently used out first: IM_MEMBERS_CACHE_GROUPS groups (0
turns it off) and IM_MEMBERS_CACHE_MEMBERS member ids in all (about 100 bytes each:
the set's slot and the int), so many large groups cannot take a node's memory. Safe
to share between the writer thread and the read threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from django.conf import settings


class MembersCache:
    def __init__(self, capacity: int, max_members: int = 1_000_000) -> None:
        self.capacity = capacity
        self.max_members = max_members
        self._entries: OrderedDict[int, tuple[int, frozenset[int]]] = OrderedDict()
        self._held = 0  # member ids in all the entries
        self._lock = threading.Lock()
        # Lookups answered from the cache, and not (read by the metrics at a scrape).
        self.hits = self.misses = 0

    def get(self, group_id: int, version: int) -> frozenset[int] | None:
        """The members cached under exactly this version, else None."""
        with self._lock:
            entry = self._entries.get(group_id)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(group_id)
            return entry[1]

    def put(self, group_id: int, version: int, members: frozenset[int]) -> None:
        """Remember `members` under `version`, unless a later version is held already
        (two threads filling one group: the slower one read older rows)."""
        if self.capacity <= 0 or len(members) > self.max_members:
            return
        with self._lock:
            held = self._entries.get(group_id)
            if held is not None:
                if held[0] > version:
                    return
                self._held -= len(held[1])
            self._entries[group_id] = (version, members)
            self._entries.move_to_end(group_id)
            self._held += len(members)
            while len(self._entries) > self.capacity or self._held > self.max_members:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._held -= len(evicted)

    def drop(self, group_ids: Iterable[int]) -> None:
        """Forget groups that no longer exist."""
        with self._lock:
            for group_id in group_ids:
                held = self._entries.pop(group_id, None)
                if held is not None:
                    self._held -= len(held[1])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._held = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def members_held(self) -> int:
        return self._held


_process_cache: MembersCache | None = None
_process_cache_lock = threading.Lock()


def members_cache() -> MembersCache:
    """The cache of this process, made on first use with its settings."""
    global _process_cache
    if _process_cache is None:
        with _process_cache_lock:
            if _process_cache is None:
                _process_cache = MembersCache(settings.IM_MEMBERS_CACHE_GROUPS,
                                              settings.IM_MEMBERS_CACHE_MEMBERS)
    return _process_cache
