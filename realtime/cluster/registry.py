"""The node registry: which nodes run, where clients reach them, in what state.

Each node writes its own entry every IM_NODE_HEARTBEAT_S; an entry whose `expires`
has passed is a dead node's. No keyspace notifications (Redis sends those once, to
whoever listens at that moment): every node reads the whole registry on its tick.

A marker key tells whether Redis still holds what the nodes wrote: when it is gone
(Redis restarted empty, or was flushed), the nodes write their live connections again
on every heartbeat and deliver to every node, until 1.5 heartbeats after the first
node noticed; that node then sets the marker again, with a new value, and a node that
finds a value it has not seen (it missed the loss) writes its connections once more.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Protocol

ACTIVE = "active"
DRAINING = "draining"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node: str  # the node's id
    channel: str  # its channel-layer channel: where other nodes reach it
    ws: str | None
    tcp: str | None
    state: str  # ACTIVE or DRAINING
    connections: int
    since: int  # ms: when the node started
    expires: int  # ms: its heartbeat pushes this forward

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> NodeInfo | None:
        try:
            fields = json.loads(raw)
            return cls(str(fields["node"]), str(fields["channel"]), fields["ws"], fields["tcp"],
                       str(fields["state"]), int(fields["connections"]), int(fields["since"]),
                       int(fields["expires"]))
        except (ValueError, TypeError, KeyError):
            return None

    def public(self) -> dict:
        """As GET /api/cluster/ shows it."""
        return {"node": self.node, "ws": self.ws, "tcp": self.tcp, "state": self.state,
                "connections": self.connections, "since": self.since}


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat learned."""

    # The marker's value (a generation: a new one each time it is set again after a
    # loss), or None: Redis lost what the nodes wrote.
    marker: str | None
    drain_requested: bool  # `imcluster drain` asked this node to drain


class Registry(Protocol):
    async def beat(self, info: NodeInfo) -> Beat:
        """Write this node's entry; read the marker and the drain request."""

    async def restore_marker(self) -> str:
        """Set the marker again (unless another node just did); answer its value."""

    async def leave(self, node_id: str) -> None: ...

    async def nodes(self) -> list[NodeInfo]:
        """Every entry, live or expired."""

    def nodes_sync(self) -> list[NodeInfo]: ...

    def request_drain(self, node_id: str) -> None: ...

    async def clear_drain(self, node_id: str) -> None:
        """Forget a drain request for this id (one left from an earlier process)."""


class MemoryRegistry:
    """The embedded default: this process is the whole cluster."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._drains: set[str] = set()

    async def beat(self, info: NodeInfo) -> Beat:
        self._nodes[info.node] = info
        return Beat(marker="memory", drain_requested=info.node in self._drains)

    async def restore_marker(self) -> str:
        return "memory"

    async def leave(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)

    async def nodes(self) -> list[NodeInfo]:
        return list(self._nodes.values())

    def nodes_sync(self) -> list[NodeInfo]:
        return list(self._nodes.values())

    def request_drain(self, node_id: str) -> None:
        self._drains.add(node_id)

    async def clear_drain(self, node_id: str) -> None:
        self._drains.discard(node_id)


class RedisRegistry:
    def __init__(self, url: str, prefix: str, drain_request_ttl_s: int = 60) -> None:
        import redis
        import redis.asyncio

        self._async = redis.asyncio.Redis.from_url(url, decode_responses=True)
        self._sync = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self._nodes_key = f"{prefix}:nodes"
        self._marker_key = f"{prefix}:marker"
        self._prefix = prefix
        self._drain_ttl_s = drain_request_ttl_s

    def _drain_key(self, node_id: str) -> str:
        return f"{self._prefix}:drain:{node_id}"

    async def beat(self, info: NodeInfo) -> Beat:
        async with self._async.pipeline(transaction=False) as pipe:
            pipe.hset(self._nodes_key, info.node, info.encode())
            pipe.get(self._marker_key)
            pipe.exists(self._drain_key(info.node))
            _, marker, drain = await pipe.execute()
        return Beat(marker=marker, drain_requested=bool(drain))

    async def restore_marker(self) -> str:
        await self._async.set(self._marker_key, secrets.token_hex(8), nx=True)
        return await self._async.get(self._marker_key)

    async def leave(self, node_id: str) -> None:
        await self._async.hdel(self._nodes_key, node_id)

    async def nodes(self) -> list[NodeInfo]:
        return self._decode(await self._async.hvals(self._nodes_key))

    def nodes_sync(self) -> list[NodeInfo]:
        return self._decode(self._sync.hvals(self._nodes_key))

    @staticmethod
    def _decode(values) -> list[NodeInfo]:
        return [info for info in map(NodeInfo.decode, values) if info is not None]

    def request_drain(self, node_id: str) -> None:
        self._sync.set(self._drain_key(node_id), 1, ex=self._drain_ttl_s)

    async def clear_drain(self, node_id: str) -> None:
        await self._async.delete(self._drain_key(node_id))
