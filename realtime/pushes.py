"""Pushing stored messages from synchronous code (the admin's redactions).

Messaging sends `messages_to_push` after such a commit; `RealtimeConfig.ready`
connects `push_stored` to it. The frames go to the nodes that hold the
recipients' connections, as the node's own fan-out would send them.
"""

from __future__ import annotations

from collections import defaultdict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime import runtime
from realtime.events import deliver_event


def push_stored(sender, *, deliveries: list[tuple[dict, frozenset[int]]],
                       **kwargs) -> None:
    locator = runtime.locator()
    present: dict[str, set[int]] = defaultdict(set)
    for user_id in set().union(*(recipients for _, recipients in deliveries)):
        for record in locator.conns_of(user_id):
            present[record.node].add(user_id)
    if present:
        async_to_sync(_send)(present, deliveries)


async def _send(present: dict[str, set[int]],
                deliveries: list[tuple[dict, frozenset[int]]]) -> None:
    layer = get_channel_layer()
    for node, users in present.items():
        items = [(frame, sorted(users.intersection(recipients)), "")  # no origin to skip
                 for frame, recipients in deliveries if not users.isdisjoint(recipients)]
        await layer.send(node, deliver_event(items))
