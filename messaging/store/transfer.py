"""Moving a deployment's messages between the SQL and the MongoDB store: a stream of
JSON lines, one message each, in (channel, seq) order, and a summary beside it
({"count", "channels": {channel: [last_seq, count]}}) that the import checks the
target against. Both directions are resumable: the export continues after the last
line it wrote, the import skips what the target already holds (seqs at or below its
last seq of the channel). A channel whose oldest messages were removed by retention
starts at its first kept seq in the export, and the import gives the target the same
first_seq; a channel retention emptied completely is not in the export at all."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from django.db import transaction
from django.db.models import Count

from improto.channels import parse_channel
from messaging.models import ChannelState, Message
from messaging.store.base import StoredMessage
from messaging.store.mongo import MongoMessageStore, from_document
from messaging.store.orm import stored_message

BATCH = 500


class TransferError(Exception):
    pass


def summary_path(path: Path) -> Path:
    return path.with_name(path.name + ".summary.json")


# -- reading a store ----------------------------------------------------------------


def sql_messages(after: tuple[str, int] | None) -> Iterator[StoredMessage]:
    query = Message.objects.order_by("channel", "seq")
    if after is not None:
        channel, seq = after
        query = query.filter(channel__gt=channel) | query.filter(channel=channel, seq__gt=seq)
        query = query.order_by("channel", "seq")
    for row in query.iterator(chunk_size=BATCH):
        yield stored_message(row)


def mongo_messages(store: MongoMessageStore,
                   after: tuple[str, int] | None) -> Iterator[StoredMessage]:
    """Only what readers may see: each channel up to its mark."""
    marks = {d["_id"]: d["seq"] for d in store.channels.find({}, {"seq": 1})}
    query: dict = {}
    if after is not None:
        channel, seq = after
        query = {"$or": [{"channel": {"$gt": channel}}, {"channel": channel, "seq": {"$gt": seq}}]}
    cursor = store.messages.find(query, {"_id": 0}).sort([("channel", 1), ("seq", 1)])
    for doc in cursor.batch_size(BATCH):
        if doc["seq"] <= marks.get(doc["channel"], 0):
            yield from_document(doc)


# -- export -------------------------------------------------------------------------


def _last_written(path: Path) -> tuple[str, int] | None:
    """(channel, seq) of the last complete line; a torn last line is cut off."""
    if not path.exists():
        return None
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        path.write_bytes(data)
    lines = data.splitlines()
    if not lines:
        return None
    last = json.loads(lines[-1])
    return last["channel"], last["seq"]


def export(messages_from, path: Path, *, resume: bool) -> dict:
    """Write the messages to `path` (continuing it with `resume`) and the summary of the
    whole file beside it; returns the summary."""
    after = _last_written(path) if resume else None
    if not resume:
        path.write_bytes(b"")
    with path.open("a", encoding="utf-8") as out:
        for message in messages_from(after):
            out.write(json.dumps(asdict(message), separators=(",", ":")) + "\n")
    summary = summarize(read_lines(path))
    summary_path(path).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def read_lines(path: Path) -> Iterator[StoredMessage]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield StoredMessage(**json.loads(line))


def summarize(messages: Iterable[StoredMessage]) -> dict:
    channels: dict[str, list[int]] = {}
    count = 0
    for m in messages:
        entry = channels.setdefault(m.channel, [0, 0])
        entry[0] = max(entry[0], m.seq)
        entry[1] += 1
        count += 1
    return {"count": count, "channels": channels}


# -- import -------------------------------------------------------------------------


def _batches(messages: Iterable[StoredMessage]) -> Iterator[list[StoredMessage]]:
    """Runs of one channel, at most BATCH long."""
    batch: list[StoredMessage] = []
    for m in messages:
        if batch and (m.channel != batch[0].channel or len(batch) >= BATCH):
            yield batch
            batch = []
        batch.append(m)
    if batch:
        yield batch


def _contiguous(batch: list[StoredMessage], last: int) -> list[StoredMessage]:
    fresh = [m for m in batch if m.seq > last]
    for offset, m in enumerate(fresh):
        if m.seq != last + 1 + offset:
            raise TransferError(f"{m.channel}: seq {m.seq} follows {last + offset} in the input")
    return fresh


def import_into_sql(messages: Iterable[StoredMessage]) -> int:
    written = 0
    for batch in _batches(messages):
        channel = batch[0].channel
        with transaction.atomic():
            state = ChannelState.objects.select_for_update().filter(channel=channel).first()
            if state is None:
                parsed = parse_channel(channel)
                state = ChannelState.objects.create(
                    channel=channel, user_a=parsed.a if parsed.kind == "p" else None,
                    user_b=parsed.b if parsed.kind == "p" else None,
                    group_id=parsed.group if parsed.kind == "g" else None)
            if state.last_seq == 0 and batch[0].seq > 1:
                # The source's retention removed the channel's oldest messages: its
                # export starts at its first_seq, and so does the target.
                state.first_seq, state.last_seq = batch[0].seq, batch[0].seq - 1
                state.save(update_fields=["first_seq", "last_seq"])
            fresh = _contiguous(batch, state.last_seq)
            if not fresh:
                continue
            Message.objects.bulk_create([Message(**asdict(m)) for m in fresh])
            state.last_seq = fresh[-1].seq
            state.last_ts = max(state.last_ts, max(m.ts for m in fresh))
            state.save(update_fields=["last_seq", "last_ts"])
        written += len(fresh)
    return written


def import_into_mongo(store: MongoMessageStore, messages: Iterable[StoredMessage]) -> int:
    written = 0
    for batch in _batches(messages):
        try:
            written += store.import_run(batch)
        except ValueError as error:
            raise TransferError(str(error))
    return written


def verify(summary: dict, *, last_seqs, counts) -> list[str]:
    """Differences between the summary and the target (empty when they agree)."""
    channels = summary["channels"]
    names = sorted(channels)
    have_last, have_count = last_seqs(names), counts(names)
    wrong = []
    for name in names:
        last, count = channels[name]
        if (have_last.get(name, 0), have_count.get(name, 0)) != (last, count):
            wrong.append(f"{name}: expected last seq {last} and {count} messages, found "
                         f"{have_last.get(name, 0)} and {have_count.get(name, 0)}")
    return wrong


def sql_counts(names: list[str]) -> dict[str, int]:
    rows = Message.objects.filter(channel__in=names).values("channel").annotate(n=Count("pk"))
    return {r["channel"]: r["n"] for r in rows}


def sql_last_seqs(names: list[str]) -> dict[str, int]:
    return dict(ChannelState.objects.filter(channel__in=names).values_list("channel", "last_seq"))
