"""The statements of one stored batch, on the writer's cursor.

The ORM's bulk_create and bulk_update build a model instance and an expression tree
per row (the ChannelState update a CASE WHEN per channel): that was most of the
write path's CPU. These are the same writes as a fixed handful of statements whatever
the batch's size, in the caller's transaction, with the same locks in the same order
and the same unique constraints; the model classes stay the schema and serve every
other query.

PostgreSQL: the channels' allocator rows locked FOR UPDATE in channel order, one
SELECT for retries, then one statement that inserts every message and moves every
channel's counters (a data-modifying WITH). SQLite: its writers are serialised whole
(BEGIN IMMEDIATE), so no row locks; one executemany each for the messages and the
counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import orjson
from django.db import connection

from improto.channels import parse_channel
from messaging.models import ChannelState, Message
from messaging.store.base import NewMessage, StoredMessage

# The message columns in StoredMessage's field order.
_MESSAGE_FIELDS = ("channel", "seq", "ts", "sender", "client_id", "type", "body", "recipient_id",
                   "group_id", "target", "edited", "recalled")
_INSERTED = 10  # the first ten: a new message has no edit or recall yet

_body = Message._meta.get_field("body")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _message_columns(count: int) -> str:
    return ", ".join(_q(Message._meta.get_field(f).column) for f in _MESSAGE_FIELDS[:count])


def lock_states(cursor, channels: list[str]) -> dict[str, tuple[int, int]]:
    """{channel: (last_seq, last_ts)} of every channel, each allocator row locked to
    commit, created first for a private channel's first message.

    Rows are locked in channel order so two batches never deadlock; the locks are
    held to commit, which is what keeps seq N+1 from committing before N.
    """
    states = _select_states(cursor, channels)
    missing = [c for c in channels if c not in states]
    if missing:
        rows = []
        for name in missing:
            parsed = parse_channel(name)
            if parsed.kind != "p":
                raise ValueError(f"no channel state for {name}")
            rows.append(ChannelState(channel=name, user_a=parsed.a, user_b=parsed.b))
        ChannelState.objects.bulk_create(rows, ignore_conflicts=True)
        states = _select_states(cursor, channels)
    return states


def _select_states(cursor, channels: list[str]) -> dict[str, tuple[int, int]]:
    if connection.vendor == "postgresql":
        where, params = f"{_q('channel')} = ANY(%s)", [channels]
    else:
        where, params = f"{_q('channel')} IN ({', '.join(['%s'] * len(channels))})", channels
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(
        f"SELECT {_q('channel')}, {_q('last_seq')}, {_q('last_ts')} "
        f"FROM {_q(ChannelState._meta.db_table)} WHERE {where} ORDER BY {_q('channel')}{lock}",
        params,
    )
    return {channel: (seq, ts) for channel, seq, ts in cursor.fetchall()}


def stored_by_client_id(cursor, batch: Sequence[NewMessage], channels: list[str]
                        ) -> dict[tuple[str, int, str], StoredMessage]:
    """The batch's messages already stored, by (channel, sender, client id): one query
    on the unique index's columns (a retry is rare, so this usually finds nothing)."""
    client_ids = sorted({m.client_id for m in batch})
    if connection.vendor == "postgresql":
        where = f"{_q('channel')} = ANY(%s) AND {_q('client_id')} = ANY(%s)"
        params = [channels, client_ids]
    else:
        where = (f"{_q('channel')} IN ({', '.join(['%s'] * len(channels))}) "
                 f"AND {_q('client_id')} IN ({', '.join(['%s'] * len(client_ids))})")
        params = [*channels, *client_ids]
    cursor.execute(
        f"SELECT {_message_columns(len(_MESSAGE_FIELDS))} "
        f"FROM {_q(Message._meta.db_table)} WHERE {where}",
        params,
    )
    wanted = {(m.channel, m.sender_id, m.client_id) for m in batch}
    found = {}
    for row in cursor.fetchall():
        key = (row[0], row[3], row[4])
        if key in wanted:
            body = _body.from_db_value(row[6], None, connection)
            found[key] = StoredMessage(*row[:6], body, *row[7:])
    return found


def insert_and_advance(cursor, messages: list[StoredMessage],
                       states: dict[str, tuple[int, int]]) -> None:
    """Insert the messages and set each written channel's (last_seq, last_ts)."""
    table, state_table = _q(Message._meta.db_table), _q(ChannelState._meta.db_table)
    channel, last_seq, last_ts = _q("channel"), _q("last_seq"), _q("last_ts")
    moved = sorted(states.items())  # channel order, as the locks were taken
    if connection.vendor == "postgresql":
        # The batch as one JSON document, encoded by one C call (a list of lists, each
        # body nested as it is): the statement's text is the same for every batch (the
        # driver converts it once) and no parameter grows with the batch but this one.
        # orjson: a body is in the wire codec's value domain (no NaN, ints within 64
        # bits), which is orjson's.
        messages_json = orjson.dumps([
            [m.channel, m.seq, m.ts, m.sender_id, m.client_id, m.type, m.body, m.recipient_id,
             m.group_id, m.target]
            for m in messages
        ]).decode()
        states_json = orjson.dumps([[name, seq, ts] for name, (seq, ts) in moved]).decode()
        cursor.execute(_pg_insert_and_advance(), [states_json, messages_json])
        return
    cursor.executemany(
        f"INSERT INTO {table} ({_message_columns(_INSERTED)}) "
        f"VALUES ({', '.join(['%s'] * _INSERTED)})",
        # The body's JSON text as the JSONField reads it back (Django's own encoding,
        # json.dumps through the field, was a tenth of the writer's time).
        [(m.channel, m.seq, m.ts, m.sender_id, m.client_id, m.type,
          orjson.dumps(m.body).decode(), m.recipient_id, m.group_id, m.target)
         for m in messages],
    )
    cursor.executemany(
        f"UPDATE {state_table} SET {last_seq} = %s, {last_ts} = %s WHERE {channel} = %s",
        [(seq, ts, name) for name, (seq, ts) in moved],
    )


@cache
def _pg_insert_and_advance() -> str:
    table, state_table = _q(Message._meta.db_table), _q(ChannelState._meta.db_table)
    types = ("varchar", "int8", "int8", "int8", "varchar", "varchar", "jsonb", "int8", "int8",
             "int8")
    select = ", ".join(f"(m -> {i})::jsonb" if t == "jsonb" else f"(m ->> {i})::{t}"
                       for i, t in enumerate(types))
    return (
        f"WITH moved AS (UPDATE {state_table} AS s SET {_q('last_seq')} = (v ->> 1)::int8, "
        f"{_q('last_ts')} = (v ->> 2)::int8 FROM json_array_elements(%s::json) AS v "
        f"WHERE s.{_q('channel')} = v ->> 0) "
        f"INSERT INTO {table} ({_message_columns(_INSERTED)}) "
        f"SELECT {select} FROM json_array_elements(%s::json) AS m"
    )
