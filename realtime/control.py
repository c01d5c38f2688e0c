"""Closing live connections from synchronous code (REST views, admin actions)."""

from __future__ import annotations

from collections import defaultdict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.locator import get_locator
from realtime.node import CLOSE


def disconnect_user(*, user_id: int, reason: str, token_key: str | None = None) -> int:
    """Send `offline`/`reason` to the user's live connections (only those of one token
    if `token_key` is given) on whatever node they are, and close them.
    Returns how many connections were told.

    Called after the commit that revoked the token(s): the revocation is marked in
    the locator before its connections are read, so that a connection registering
    at this moment either is read here or finds the mark and checks its token.
    """
    locator = get_locator()
    locator.mark_revoked(user_id)
    records = [
        r for r in locator.conns_of(user_id) if token_key is None or r.token_key == token_key
    ]
    by_node: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_node[record.node].append(record.conn_id)
    if by_node:
        async_to_sync(_send)(dict(by_node), reason)
    return len(records)


def disconnect_token(*, user_id: int, token_key: str, reason: str = "logout") -> int:
    return disconnect_user(user_id=user_id, token_key=token_key, reason=reason)


async def _send(by_node: dict[str, list[str]], reason: str) -> None:
    layer = get_channel_layer()
    for node, conn_ids in by_node.items():
        await layer.send(node, {"type": CLOSE, "conns": conn_ids, "reason": reason})
