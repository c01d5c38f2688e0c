"""Read positions (docs/protocol.md, Conversation state): stored per (user, channel), forward only.

Applied by the write path in the same transaction as the messages of its batch, so a
read frame costs one statement per batch, not one commit. Sending a message moves the
sender's position to it; a `read` frame moves it explicitly and is told to the user's
other connections and, in a private channel, to the peer's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from improto.channels import parse_channel
from improto.conversation import read_event
from improto.errors import FORBIDDEN, INVALID
from messaging.models import ReadPosition


@dataclass(frozen=True, slots=True)
class ReadRequest:
    user_id: int
    channel: str
    seq: int


@dataclass(frozen=True, slots=True)
class ReadMoved:
    """A read position that moved: the frame to push and to whom."""

    frame: dict
    recipients: frozenset[int]


def read_refusal(request: ReadRequest, *, active: set[int], last_seq: int,
                 groups: dict[int, frozenset[int]]) -> tuple[str, str] | None:
    """(code, message) if the request is refused, else None."""
    if request.user_id not in active:
        return (FORBIDDEN, "this account is disabled")
    parsed = parse_channel(request.channel)
    if parsed.kind == "p":
        member = request.user_id in (parsed.a, parsed.b)
    else:
        member = request.user_id in groups.get(parsed.group, ())
    if not member:
        return (FORBIDDEN, f"not a member of {request.channel}")
    if request.seq > last_seq:
        return (INVALID, f"seq {request.seq} is beyond the last seq {last_seq}")
    return None


def read_groups(requests: Iterable[ReadRequest]) -> set[int]:
    """The groups whose members the batch must know to check these requests."""
    groups = set()
    for request in requests:
        parsed = parse_channel(request.channel)
        if parsed.kind == "g":
            groups.add(parsed.group)
    return groups


def read_positions_advance(marks: Iterable[tuple[int, str, int]], *, report: bool = True
                           ) -> dict[tuple[int, str], int]:
    """Move each (user, channel) to at least seq, in one statement; returns the
    positions that moved, with their new seq (only if `report`: a batch of sends
    alone has no one to tell). Never moves one back, also when two nodes write the
    same position at once (the comparison is in the statement)."""
    best: dict[tuple[int, str], int] = {}
    for user_id, channel, seq in marks:
        if seq < 1:
            continue  # nothing to record (and no row for a channel without messages)
        key = (user_id, channel)
        if seq > best.get(key, -1):
            best[key] = seq
    if not best:
        return {}
    table = ReadPosition._meta.db_table
    rows = sorted(best.items())  # one order for every writer: no deadlock between them
    if connection.vendor == "postgresql":
        # One array per column: the same statement text whatever the batch's size, so
        # the driver converts it once (a VALUES list was re-parsed every batch).
        source = "SELECT * FROM unnest(%s::int8[], %s::varchar[], %s::int8[])"
        params: list = [[u for (u, _), _ in rows], [c for (_, c), _ in rows],
                        [seq for _, seq in rows]]
    else:
        source = "VALUES " + ", ".join(["(%s, %s, %s)"] * len(rows))
        params = []
        for (user_id, channel), seq in rows:
            params.extend((user_id, channel, seq))
    sql = (
        f'INSERT INTO "{table}" ("user_id", "channel", "seq") {source} '
        f'ON CONFLICT ("user_id", "channel") DO UPDATE SET "seq" = excluded."seq" '
        f'WHERE excluded."seq" > "{table}"."seq"'
    )
    if report:
        sql += ' RETURNING "user_id", "channel", "seq"'
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not report:
            return {}
        return {(user_id, channel): seq for user_id, channel, seq in cursor.fetchall()}


def read_moved(*, user_id: int, channel: str, seq: int, tell_peer: bool = True) -> ReadMoved:
    """Who hears of a moved position: the user's connections and, in a private
    channel, the peer's (unless `tell_peer` is False: a block between them hides it,
    as it hides presence); other group members are not told."""
    parsed = parse_channel(channel)
    recipients = {user_id}
    if parsed.kind == "p" and tell_peer:
        recipients.update((parsed.a, parsed.b))
    return ReadMoved(read_event(channel=channel, user=user_id, seq=seq), frozenset(recipients))
