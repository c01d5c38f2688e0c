"""The ring's version and members in the database (synchronous; run on a thread).

Nodes change the ring by compare-and-set on its version, so two nodes that see a
change at once record it once, and the version grows by one per change."""

from __future__ import annotations

from realtime.models import ClusterRing

RING_ROW = 1


def read_ring() -> tuple[int, list[str]]:
    row, _ = ClusterRing.objects.get_or_create(pk=RING_ROW)
    return row.version, list(row.members)


def propose_ring(expected_version: int, members: list[str]) -> tuple[int, list[str]]:
    """Record `members` as the next ring if the version is still `expected_version`;
    answer the ring as it is afterwards (this change, or whoever was first)."""
    members = sorted(set(members))
    ClusterRing.objects.get_or_create(pk=RING_ROW)
    ClusterRing.objects.filter(pk=RING_ROW, version=expected_version).update(
        version=expected_version + 1, members=members
    )
    return read_ring()
