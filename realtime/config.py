"""The settings a node runs with, read once when imserver builds it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeConfig:
    heartbeat_s: int  # clients' heartbeat (IM_HEARTBEAT_S)
    user_msgs_per_s: int
    user_burst: int
    flood_s: int
    token_recheck_s: int
    node_heartbeat_s: int
    node_ttl_s: int
    vnodes: int
    rebalance_rate: int
    drain_s: int
    auth_rate: int
    redis_url: str | None
    redis_prefix: str

    @classmethod
    def from_settings(cls, settings) -> NodeConfig:
        return cls(
            heartbeat_s=settings.IM_HEARTBEAT_S,
            user_msgs_per_s=settings.IM_RATE_USER_MSGS_PER_S,
            user_burst=settings.IM_RATE_USER_BURST,
            flood_s=settings.IM_FLOOD_S,
            token_recheck_s=settings.IM_TOKEN_RECHECK_S,
            node_heartbeat_s=settings.IM_NODE_HEARTBEAT_S,
            node_ttl_s=settings.IM_NODE_TTL_S,
            vnodes=settings.IM_VNODES,
            rebalance_rate=settings.IM_REBALANCE_RATE,
            drain_s=settings.IM_DRAIN_S,
            auth_rate=settings.IM_AUTH_RATE,
            redis_url=settings.IM_REDIS_URL,
            redis_prefix=settings.IM_REDIS_PREFIX,
        )
