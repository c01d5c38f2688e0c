"""The cluster as operators see it (GET /api/cluster/, imcluster status, the admin):
synchronous, read from the database and the registry."""

from __future__ import annotations

from django.conf import settings

from realtime.cluster.registry import Registry, now_ms
from realtime.cluster.store import read_ring


def cluster_status(registry: Registry) -> dict:
    version, _ = read_ring()
    wall = now_ms()
    nodes = sorted((n for n in registry.nodes_sync() if n.expires > wall), key=lambda n: n.node)
    return {"ring": version, "vnodes": settings.IM_VNODES,
            "nodes": [n.public() for n in nodes]}
