"""Closing live connections from synchronous code (REST views, admin actions).

Accounts does not call up here: it sends `accounts.signals.tokens_revoked` after the
commit, and `RealtimeConfig.ready` connects `on_tokens_revoked` to it.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime import runtime
from realtime.events import close_event, conns_by_node


def disconnect_user(*, user_id: int, reason: str, token_key: str | None = None) -> int:
    """Send `offline`/`reason` to the user's live connections (only those of one token
    if `token_key` is given) on whatever node they are, and close them.
    Returns how many connections were told.

    Called after the commit that revoked the token(s): the revocation is marked in
    the locator before its connections are read, so that a connection registering
    at this moment either is read here or finds the mark and checks its token.
    """
    locator = runtime.locator()
    locator.mark_revoked(user_id)
    records = [
        r for r in locator.conns_of(user_id) if token_key is None or r.token_key == token_key
    ]
    by_node = conns_by_node(records)
    if by_node:
        async_to_sync(_send)(by_node, reason)
    return len(records)


def on_tokens_revoked(sender, *, user_id: int, token_key: str | None, reason: str,
                      **kwargs) -> None:
    """Receiver of accounts' `tokens_revoked`: close what the revoked tokens opened."""
    disconnect_user(user_id=user_id, token_key=token_key, reason=reason)


async def _send(by_node: dict[str, list[str]], reason: str) -> None:
    layer = get_channel_layer()
    for node, conn_ids in by_node.items():
        await layer.send(node, close_event(conn_ids, reason))
