"""This node as a member of the cluster: its heartbeat in the registry, the ring it
serves, and the changes of the active set it records.

Leaderless: every node reads the registry on its heartbeat, and any node that finds
the active set different from the ring recorded in the database records the new one
(compare-and-set on the version, so a change is recorded once). Every node reads the
recorded ring a few times a second and rebuilds its own from it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from realtime.cluster.registry import ACTIVE, DRAINING, NodeInfo, Registry, now_ms
from realtime.cluster.ring import Ring
from realtime.cluster.store import propose_ring, read_ring
from realtime.config import NodeConfig
from realtime.db import run_read, run_write

log = logging.getLogger(__name__)

# How often the recorded ring is read: a drained node leaves every gateway within this.
RING_POLL_S = 0.5


class ClusterMember:
    def __init__(self, *, node_id: str, channel: str, config: NodeConfig, registry: Registry,
                 connection_count: Callable[[], int],
                 on_ring_change: Callable[[Ring, Ring], None],
                 on_data_lost: Callable[[], Awaitable[None]],
                 on_drain_requested: Callable[[], None]) -> None:
        self.node_id = node_id
        self.channel = channel
        self.config = config
        self.registry = registry
        self.ring = Ring.build(0, [], config.vnodes)
        self.directory: dict[str, NodeInfo] = {}  # last entry seen of every node
        self.state = ACTIVE
        self.ws: str | None = None
        self.tcp: str | None = None
        self.since = now_ms()
        self._connection_count = connection_count
        self._on_ring_change = on_ring_change
        self._on_data_lost = on_data_lost
        self._on_drain_requested = on_drain_requested
        self._last_seen: dict[str, float] = {}  # node id -> monotonic time seen alive
        self._loss_seen_at: float | None = None
        self._suspect_until = 0.0  # after seeing another node's new marker
        self._marker: str | None = None  # the marker's value this node last saw
        self._task: asyncio.Task | None = None

    # --- what other parts read ----------------------------------------------------------

    def addresses(self, node_id: str | None) -> dict | None:
        """{"ws", "tcp"} of a node, as `offline`'s `reconnect` names them."""
        info = self.directory.get(node_id) if node_id is not None else None
        return None if info is None else {"ws": info.ws, "tcp": info.tcp}

    def placement(self, user_id: int) -> dict | None:
        """GET /api/gateway/'s answer, or None while no node is active."""
        ring = self.ring
        owner = ring.owner(user_id)
        info = self.directory.get(owner) if owner is not None else None
        if info is None:
            return None
        return {"node": owner, "ws": info.ws, "tcp": info.tcp, "ring": ring.version}

    def channels(self) -> set[str]:
        """The channel of every node this one knows of (to deliver everywhere)."""
        return {info.channel for info in self.directory.values()}

    def routing_suspect(self) -> bool:
        """Redis lost its data lately: nodes may not have written their connections
        back yet, so deliver to every node."""
        return self._loss_seen_at is not None or time.monotonic() < self._suspect_until

    # --- lifecycle ----------------------------------------------------------------------

    async def join(self, *, ws: str | None, tcp: str | None) -> None:
        """Register, enter the ring, and start the heartbeat."""
        self.ws, self.tcp = ws, tcp
        await self.registry.clear_drain(self.node_id)
        await self._beat(joining=True)
        await self._join_ring()
        await self._read_ring()
        self._task = asyncio.create_task(self._run(), name="im-cluster")

    async def leave(self) -> Ring:
        """Leave the ring at once (draining); answer the ring without this node."""
        self.state = DRAINING
        if self._task is not None:
            self._task.cancel()  # nothing of this node's may add it back
            await asyncio.gather(self._task, return_exceptions=True)
        for _ in range(50):
            version, members = await run_read(read_ring)
            if self.node_id not in members:
                break
            await run_write(propose_ring, version, [m for m in members if m != self.node_id])
        await self._read_ring()
        self._task = asyncio.create_task(self._beat_only(), name="im-cluster-draining")
        return self.ring

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:
            await self.registry.leave(self.node_id)
        except Exception:
            log.warning("could not remove this node from the registry", exc_info=True)

    # --- the loop -----------------------------------------------------------------------

    async def _beat_only(self) -> None:
        """While draining: stay in the registry (state draining), out of the ring."""
        while True:
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("cluster heartbeat failed", exc_info=True)
            await asyncio.sleep(self.config.node_heartbeat_s)

    async def _run(self) -> None:
        next_beat = time.monotonic() + self.config.node_heartbeat_s
        while True:
            await asyncio.sleep(RING_POLL_S)
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.config.node_heartbeat_s
                    await self._beat()
                    await self._reconcile()
                await self._read_ring()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis or the database unreachable: keep serving the ring we have.
                log.warning("cluster heartbeat failed; keeping ring %d", self.ring.version,
                            exc_info=True)

    async def _beat(self, *, joining: bool = False) -> None:
        info = NodeInfo(
            node=self.node_id, channel=self.channel, ws=self.ws, tcp=self.tcp, state=self.state,
            connections=self._connection_count(), since=self.since,
            expires=now_ms() + self.config.node_ttl_s * 1000,
        )
        beat = await self.registry.beat(info)
        now = time.monotonic()
        if beat.marker is None and joining:
            # A fresh Redis, or one that lost its data: this node has no connections to
            # write back, and a node that has sees the new marker on its next heartbeat
            # and writes back then.
            self._marker = await self.registry.restore_marker()
        elif beat.marker is None:
            if self._loss_seen_at is None:
                self._loss_seen_at = now
                log.warning("Redis lost the cluster's data; writing this node's connections "
                            "again and delivering to every node meanwhile")
            await self._on_data_lost()  # on every heartbeat while the marker is gone
            if now - self._loss_seen_at > 1.5 * self.config.node_heartbeat_s:
                # Every node has had a heartbeat to write its connections back.
                self._marker = await self.registry.restore_marker()
                self._loss_seen_at = None
        else:
            if self._marker is not None and beat.marker != self._marker:
                # Set again after a loss this node did not see: write back now, and
                # until every node has had a heartbeat to do the same, deliver to all.
                self._suspect_until = now + 1.5 * self.config.node_heartbeat_s
                await self._on_data_lost()
            self._marker = beat.marker
            self._loss_seen_at = None
        await self._read_directory()
        self.directory[self.node_id] = info
        self._last_seen[self.node_id] = now
        if beat.drain_requested and self.state == ACTIVE:
            self._on_drain_requested()

    async def _read_directory(self) -> None:
        now, wall = time.monotonic(), now_ms()
        for entry in await self.registry.nodes():
            if entry.expires > wall:
                self.directory[entry.node] = entry
                self._last_seen[entry.node] = now

    def _alive(self) -> set[str]:
        """Nodes heard from within IM_NODE_TTL_S, by this node's clock (so an entry
        lost with Redis's data does not count as a death)."""
        now = time.monotonic()
        alive = {n for n, seen in self._last_seen.items() if now - seen < self.config.node_ttl_s}
        for node in set(self._last_seen) - alive:
            del self._last_seen[node]
            self.directory.pop(node, None)
        return alive | {self.node_id}

    async def _reconcile(self) -> None:
        """Record the ring without the nodes that died, and with this node if it is
        missing. Only a node adds itself (so no one adds back a node that drains)."""
        alive = self._alive()
        version, current = await run_read(read_ring)
        members = {m for m in current if m in alive}
        if self.state == ACTIVE:
            members.add(self.node_id)
        if members != set(current):
            await run_write(propose_ring, version, sorted(members))

    async def _join_ring(self) -> None:
        version, current = await run_read(read_ring)
        if self.node_id not in current:
            await run_write(propose_ring, version, [*current, self.node_id])

    async def _read_ring(self) -> None:
        version, members = await run_read(read_ring)
        if version == self.ring.version and tuple(members) == self.ring.members:
            return
        if not set(members) <= self.directory.keys():
            try:
                await self._read_directory()  # a node joined since the last heartbeat
            except Exception:
                log.warning("could not read the registry", exc_info=True)
        old, new = self.ring, Ring.build(version, members, self.config.vnodes)
        self.ring = new
        log.info("ring %d -> %d: %s", old.version, new.version, ", ".join(new.members) or "no node")
        self._on_ring_change(old, new)
