"""Placement: consistent hashing of user ids over the active nodes.

A `Ring` is immutable: a node builds a new one on every change of the active set,
never mutates one in place. Every node builds it from the same inputs (the members
recorded in the database, the same virtual-node count), so every node places a user
on the same node.

uhashring puts `vnodes` points per node on a 128-bit MD5 circle. Two points that
collide (practically never at 128 bits) go to the node inserted last; members are
inserted in sorted order, so even a collision resolves the same way on every node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from uhashring import HashRing


@dataclass(frozen=True)
class Ring:
    version: int
    members: tuple[str, ...]  # node ids, sorted
    vnodes: int
    _hash: HashRing | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, version: int, members, vnodes: int) -> Ring:
        ordered = tuple(sorted(set(members)))
        hashring = HashRing({m: {"vnodes": vnodes} for m in ordered}) if ordered else None
        return cls(version, ordered, vnodes, hashring)

    def owner(self, user_id: int) -> str | None:
        """The node the user belongs on, or None while no node is active."""
        if self._hash is None:
            return None
        return self._hash.get_node(str(user_id))

    def without(self, node_id: str) -> Ring:
        """The ring once `node_id` has left (same version: not yet recorded)."""
        return Ring.build(self.version, [m for m in self.members if m != node_id], self.vnodes)
