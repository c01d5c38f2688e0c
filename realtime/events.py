"""Node-to-node events: the one place that names them and builds them.

Every node listens on its own channel-layer channel (its name). Other nodes, and the
REST side (logout, ban), reach its connections by sending it one of these events:

- `deliver`: messages to push to local connections, as (frame, user ids, origin
  connection id) items; the origin connection is skipped (it had the ack).
- `close`: connection ids to tell `offline`/reason and close.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from realtime.locator import ConnRecord

DELIVER = "im.deliver"
CLOSE = "im.close"


def deliver_event(items: list) -> dict:
    return {"type": DELIVER, "items": items}


def close_event(conn_ids: list[str], reason: str) -> dict:
    return {"type": CLOSE, "conns": conn_ids, "reason": reason}


def conns_by_node(records: Iterable[ConnRecord]) -> dict[str, list[str]]:
    """Connection ids grouped by the node that holds them."""
    by_node: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_node[record.node].append(record.conn_id)
    return dict(by_node)
