"""The message store on MongoDB (the official driver, pymongo 4).

Only messages and their per-channel counters live here; users, groups, memberships,
read positions and each channel's membership row (ChannelState) stay in the SQL
database. Two collections:

- ``messages``: one document per message; unique (channel, seq), unique (channel,
  sender, client id) for idempotency, and (channel, target) for the revisions that
  unread counts subtract.
  A fourth index, (ts, seq) descending, serves the moderators' search, newest first.
- ``channels``: ``{_id: channel, seq, ts, first?}``, the channel's committed
  high-water mark: every seq up to ``seq`` is stored and durable, and ``ts`` is the
  greatest ts among them. Readers never read past it. ``first`` (absent: 1) is the
  lowest seq still stored, raised by the retention task before it deletes below it.

A batch is written without a multi-document transaction (a standalone server has
none): for each channel, read the mark S, insert the channel's new messages at
S+1, S+2, ... in order (an ordered insert stops at the first failure), then raise the
mark with ``$max`` to the last seq inserted. A message can exist at seq X only if
its writer inserted S+1..X-1 before it, so the stored seqs of a channel are always
a prefix 1..N with no hole; the mark only makes the prefix visible once durable.
Two writers racing on a channel collide on the unique (channel, seq) index; the
loser rolls the mark forward over whatever run is stored above it (the winner's,
or a crashed writer's: durable, never acked, acked as a duplicate on its retry)
and tries again above it. See docs/architecture.md, "The MongoDB message store".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pymongo
from django.db.models import Q
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from improto.channels import parse_channel
from improto.conversation import EDIT, RECALL
from messaging.models import ChannelState, Membership
from messaging.store.base import (
    AppendResult,
    MessageQuery,
    NewMessage,
    RetentionStep,
    StoredMessage,
)

_DUPLICATE_KEY = 11000
_FIELDS = ("channel", "seq", "ts", "sender_id", "client_id", "type", "body", "recipient_id",
           "group_id", "target", "edited", "recalled")
_MAX_ATTEMPTS = 1000  # collisions per channel before giving up (each one means progress)


def from_document(doc: dict) -> StoredMessage:
    return StoredMessage(**{f: doc.get(f) for f in _FIELDS})


def to_document(message: StoredMessage) -> dict:
    return {f: getattr(message, f) for f in _FIELDS}


class MongoMessageStore:
    def __init__(self, url: str, *, database: str = "im") -> None:
        self.client = pymongo.MongoClient(url, tz_aware=False)
        db = self.client.get_default_database(database)
        # Durable before ack: acknowledged by a majority, in the journal. On a
        # standalone server "majority" is the server itself, j the journal sync.
        concern = WriteConcern(w="majority", j=True)
        # On a replica set, readers see only majority-committed marks and messages (a
        # failover cannot take back what a reader saw); a standalone server has no
        # majority read concern to give, and nothing to roll back.
        replicated = "setName" in self.client.admin.command("hello")
        majority = ReadConcern("majority" if replicated else None)
        self.messages = db.get_collection("messages", write_concern=concern,
                                          read_concern=majority)
        self.channels = db.get_collection("channels", write_concern=concern,
                                          read_concern=majority)
        self.ensure_indexes()

    def ensure_indexes(self) -> None:
        self.messages.create_index([("channel", 1), ("seq", 1)], unique=True,
                                   name="channel_seq")
        self.messages.create_index([("channel", 1), ("sender_id", 1), ("client_id", 1)],
                                   unique=True, name="channel_sender_client")
        self.messages.create_index([("channel", 1), ("target", 1)], name="channel_target",
                                   partialFilterExpression={"target": {"$gt": 0}})
        self.messages.create_index([("ts", -1), ("seq", -1)], name="ts_seq")

    # -- writing ----------------------------------------------------------------

    def append(self, batch: Sequence[NewMessage], *, now_ms: int) -> list[AppendResult]:
        if not batch:
            return []
        channels = sorted({m.channel for m in batch})
        self._ensure_channel_rows(channels)
        by_channel: dict[str, list[int]] = {}
        for index, m in enumerate(batch):
            by_channel.setdefault(m.channel, []).append(index)
        results: list[AppendResult | None] = [None] * len(batch)
        ours: set[tuple[str, int, str]] = set()  # stored by this call

        def settle(channel: str, decided: list[AppendResult]) -> None:
            for index, result in zip(by_channel[channel], decided, strict=True):
                results[index] = result

        # First every channel at once: one read of the marks, one ordered insert, one
        # update of the marks. A channel whose insert is refused (a racing writer at
        # its seq, or a retry: the unique (channel, sender, client id) index) goes
        # again on its own, the careful way, which looks its client ids up.
        marks = self._marks(channels)
        planned = {
            channel: self._decide(channel, [batch[i] for i in by_channel[channel]],
                                  marks[channel], {}, ours, now_ms)
            for channel in channels
        }
        slow: list[str] = []
        fresh = [m for channel in channels for m in planned[channel][1]]
        stored = fresh[: self._insert(fresh)]
        ours.update((m.channel, m.sender_id, m.client_id) for m in stored)
        tops = {m.channel: m for m in stored}
        if tops:
            self.channels.bulk_write(
                [UpdateOne({"_id": c}, {"$max": {"seq": m.seq, "ts": m.ts}})
                 for c, m in tops.items()], ordered=False)
        landed = {(m.channel, m.seq) for m in stored}
        for channel, (decided, its_fresh) in planned.items():
            if its_fresh and (channel, its_fresh[-1].seq) not in landed:
                slow.append(channel)
            else:
                settle(channel, decided)
        for channel in sorted(slow):
            settle(channel, self._append_channel(
                channel, [batch[i] for i in by_channel[channel]], now_ms, ours))
        self._apply_revisions([(batch[i], r) for i, r in enumerate(results)])
        return results  # type: ignore[return-value]

    def _decide(self, channel: str, batch: list[NewMessage], mark: dict,
                existing: dict[tuple[int, str], StoredMessage],
                ours: set[tuple[str, int, str]], now_ms: int
                ) -> tuple[list[AppendResult], list[StoredMessage]]:
        """Each message's result, and the new ones to insert above the mark. A message
        this call stored in an earlier attempt is new, not a duplicate."""
        results: list[AppendResult] = []
        fresh: list[StoredMessage] = []
        seen: set[tuple[int, str]] = set()
        existing = dict(existing)
        seq, ts = mark["seq"], max(mark["ts"], now_ms)
        for m in batch:
            key = (m.sender_id, m.client_id)
            if key in existing:
                dup = key in seen or (channel, *key) not in ours
                results.append(AppendResult(existing[key], dup=dup))
                seen.add(key)
                continue
            seq += 1
            stored = StoredMessage(
                channel=channel, seq=seq, ts=ts, sender_id=m.sender_id,
                client_id=m.client_id, type=m.type, body=m.body,
                recipient_id=m.recipient_id, group_id=m.group_id, target=m.target,
            )
            existing[key] = stored
            seen.add(key)
            fresh.append(stored)
            results.append(AppendResult(stored, dup=False))
        return results, fresh

    def _insert(self, fresh: list[StoredMessage]) -> int:
        """Insert in order, stopping at the first collision; how many were inserted."""
        if not fresh:
            return 0
        try:
            self.messages.insert_many([to_document(m) for m in fresh], ordered=True)
        except BulkWriteError as error:
            codes = {e.get("code") for e in error.details.get("writeErrors", [])}
            if codes - {_DUPLICATE_KEY}:
                raise
            return error.details.get("nInserted", 0)
        return len(fresh)

    def _append_channel(self, channel: str, batch: list[NewMessage], now_ms: int,
                        ours: set[tuple[str, int, str]]) -> list[AppendResult]:
        for _ in range(_MAX_ATTEMPTS):
            self._roll_forward(channel)
            mark = self._mark(channel)
            existing = self._existing(channel, batch, mark)
            results, fresh = self._decide(channel, batch, mark, existing, ours, now_ms)
            inserted = self._insert(fresh)
            ours.update((channel, m.sender_id, m.client_id) for m in fresh[:inserted])
            if inserted:
                self._raise_mark(channel, fresh[inserted - 1].seq, fresh[0].ts)
            if inserted == len(fresh):
                return results
            # Someone wrote at these seqs first (or one of ours was sent meanwhile from
            # elsewhere): make the run above the mark visible and decide again.
        raise RuntimeError(f"could not append to {channel}: too many collisions")

    def _marks(self, channels: list[str]) -> dict[str, dict]:
        found = {d["_id"]: d for d in self.channels.find({"_id": {"$in": channels}})}
        missing = [c for c in channels if c not in found]
        if missing:
            # Created with an insert, never with an upserting update: two such upserts
            # racing on a new _id are not both answered alike on every server.
            try:
                self.channels.insert_many([{"_id": c, "seq": 0, "ts": 0} for c in missing],
                                          ordered=False)
            except BulkWriteError as error:
                codes = {e.get("code") for e in error.details.get("writeErrors", [])}
                if codes - {_DUPLICATE_KEY}:
                    raise
            found.update({d["_id"]: d for d in self.channels.find({"_id": {"$in": missing}})})
        return found

    def _mark(self, channel: str) -> dict:
        return self._marks([channel])[channel]

    def _raise_mark(self, channel: str, seq: int, ts: int) -> None:
        self.channels.update_one({"_id": channel}, {"$max": {"seq": seq, "ts": ts}})

    def _roll_forward(self, channel: str) -> None:
        """Raise the mark over the contiguous run stored right above it."""
        mark = self._mark(channel)
        top, ts = mark["seq"], mark["ts"]
        for doc in self.messages.find({"channel": channel, "seq": {"$gt": top}},
                                      {"seq": 1, "ts": 1}).sort("seq", 1):
            if doc["seq"] != top + 1:
                break
            top, ts = doc["seq"], max(ts, doc["ts"])
        if top > mark["seq"]:
            self._raise_mark(channel, top, ts)

    def _existing(self, channel: str, batch: list[NewMessage],
                  mark: dict) -> dict[tuple[int, str], StoredMessage]:
        """The batch's messages already stored, by (sender, client id). One stored
        above the mark (a crashed or a racing writer's) is made visible first."""
        senders: dict[int, set[str]] = {}
        for m in batch:
            senders.setdefault(m.sender_id, set()).add(m.client_id)
        found = {}
        for sender, client_ids in senders.items():
            query = {"channel": channel, "sender_id": sender,
                     "client_id": {"$in": sorted(client_ids)}}
            for doc in self.messages.find(query):
                found[sender, doc["client_id"]] = doc
        if any(doc["seq"] > mark["seq"] for doc in found.values()):
            self._roll_forward(channel)
        return {key: from_document(doc) for key, doc in found.items()}

    def _ensure_channel_rows(self, channels: list[str]) -> None:
        """A private channel's SQL row (who its two members are: the channel list and
        presence read it) exists from its first message on, as with the SQL store."""
        rows = []
        for name in channels:
            parsed = parse_channel(name)
            if parsed.kind == "p":
                rows.append(ChannelState(channel=name, user_a=parsed.a, user_b=parsed.b))
        if rows:
            ChannelState.objects.bulk_create(rows, ignore_conflicts=True)

    def _apply_revisions(self, pairs: list[tuple[NewMessage, AppendResult]]) -> None:
        """Each edit or recall of the batch, new or a retry's duplicate, gives its target
        its state: a retry after a crash between the two writes finishes the job."""
        for m, result in pairs:
            if m.target is None or m.type not in (EDIT, RECALL):
                continue
            stored = result.message
            if m.type == EDIT:
                self.revise(stored.channel, m.target, body=m.body, edited=stored.ts)
            else:
                self.revise(stored.channel, m.target, body={}, recalled=stored.ts)

    def revise(self, channel: str, seq: int, *, body: dict, edited: int | None = None,
               recalled: int | None = None) -> None:
        """Idempotent and monotonic: a recalled message stays recalled, and an edit
        never replaces a later one (applied again by a retry, it changes nothing)."""
        query: dict = {"channel": channel, "seq": seq, "recalled": None}
        changes: dict = {"body": body}
        if recalled is not None:
            changes["recalled"] = recalled
        if edited is not None:
            changes["edited"] = edited
            query["$or"] = [{"edited": None}, {"edited": {"$lte": edited}}]
        self.messages.update_one(query, {"$set": changes})

    # -- reading ----------------------------------------------------------------

    def range(
        self, channel: str, *, after: int = 0, before: int | None = None, limit: int = 100
    ) -> list[StoredMessage]:
        top = self.last_seqs([channel])[channel]
        upper = top + 1 if before is None else min(before, top + 1)
        query = {"channel": channel, "seq": {"$gt": after, "$lt": upper}}
        if after or before is None:
            cursor = self.messages.find(query).sort("seq", 1).limit(limit)
            return [from_document(d) for d in cursor]
        docs = list(self.messages.find(query).sort("seq", -1).limit(limit))
        docs.reverse()
        return [from_document(d) for d in docs]

    def last_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        found = {d["_id"]: d["seq"] for d in self.channels.find({"_id": {"$in": list(channels)}})}
        return {c: found.get(c, 0) for c in channels}

    def channels_of_user(self, user_id: int) -> list[tuple[str, int]]:
        group_ids = Membership.objects.filter(user_id=user_id).values("group_id")
        names = list(ChannelState.objects.filter(
            Q(user_a=user_id) | Q(user_b=user_id) | Q(group_id__in=group_ids)
        ).values_list("channel", flat=True))
        return sorted(self.last_seqs(names).items())

    def find(self, keys: Sequence[tuple[str, int]], *, lock: bool = False
             ) -> dict[tuple[str, int], StoredMessage]:
        """The stored (visible) messages at these (channel, seq) keys. `lock` has no
        MongoDB counterpart: revisions of one target are ordered by revise()'s
        conditions instead (docs/architecture.md)."""
        if not keys:
            return {}
        marks = self.last_seqs(sorted({c for c, _ in keys}))
        found = {}
        for channel, seq in sorted(set(keys)):
            if seq <= marks[channel]:
                doc = self.messages.find_one({"channel": channel, "seq": seq})
                if doc is not None:
                    found[channel, seq] = from_document(doc)
        return found

    def stored_keys(self, keys: Sequence[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Which (channel, sender, client id) are already stored."""
        groups: dict[tuple[str, int], set[str]] = {}
        for channel, sender, client_id in keys:
            groups.setdefault((channel, sender), set()).add(client_id)
        found = set()
        for (channel, sender), client_ids in sorted(groups.items()):
            query = {"channel": channel, "sender_id": sender,
                     "client_id": {"$in": sorted(client_ids)}}
            found.update((channel, sender, d["client_id"])
                         for d in self.messages.find(query, {"client_id": 1}))
        return found

    def revisions_after(self, positions: dict[str, int]) -> dict[str, int]:
        """How many edits and recalls each channel holds after the given seq (one
        indexed query per channel: edits and recalls are few)."""
        marks = self.last_seqs(list(positions))
        counts = {}
        for channel, after in positions.items():
            n = sum(1 for d in self.messages.find({"channel": channel, "target": {"$gt": 0}},
                                                  {"seq": 1})
                    if after < d["seq"] <= marks[channel])
            if n:
                counts[channel] = n
        return counts

    # -- retention --------------------------------------------------------------------

    def first_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        found = {d["_id"]: d.get("first", 1)
                 for d in self.channels.find({"_id": {"$in": list(channels)}},
                                             {"first": 1})}
        return {c: found.get(c, 1) for c in channels}

    def expired_channels(self, *, before_ts: int) -> list[str]:
        expired = []
        for mark in self.channels.find({}, {"seq": 1, "first": 1}).sort("_id", 1):
            first = mark.get("first", 1)
            if first > mark["seq"]:
                continue
            oldest = self.messages.find_one({"channel": mark["_id"], "seq": first}, {"ts": 1})
            if oldest is not None and oldest["ts"] < before_ts:
                expired.append(mark["_id"])
        return expired

    def expire(self, channel: str, *, before_ts: int, limit: int) -> RetentionStep:
        mark = self._mark(channel)
        first = mark.get("first", 1)
        top = None
        query = {"channel": channel, "seq": {"$gte": first, "$lte": mark["seq"]}}
        for doc in self.messages.find(query, {"seq": 1, "ts": 1}).sort("seq", 1).limit(limit):
            if doc["ts"] >= before_ts:
                break
            top = doc["seq"]
        if top is None:
            return RetentionStep(deleted=0, first_seq=first)
        # The mark first ($max: never down), then the documents below it.
        self.channels.update_one({"_id": channel}, {"$max": {"first": top + 1}})
        deleted = self.messages.delete_many({"channel": channel, "seq": {"$lte": top}})
        return RetentionStep(deleted=deleted.deleted_count, first_seq=top + 1)

    def search(self, query: MessageQuery, *, offset: int = 0, limit: int = 100
               ) -> list[StoredMessage]:
        """Messages matching the query, newest first, without those above their
        channel's mark (written by a batch still in flight, or by a crashed writer
        before its retry): such a page is shorter than `limit`."""
        # One flat document, not an $and of clauses: SecantusDB's planner only uses an
        # index for an equality on top-level fields (docs/architecture.md).
        found: dict = {}
        if query.channel is not None:
            found["channel"] = query.channel
        if query.sender_ids is not None:
            found["sender_id"] = {"$in": list(query.sender_ids)}
        if query.text:
            found["body.text"] = _contains(query.text)
        if query.type:
            found["type"] = query.type
        if query.since_ms is not None:
            found.setdefault("ts", {})["$gte"] = query.since_ms
        if query.until_ms is not None:
            found.setdefault("ts", {})["$lt"] = query.until_ms
        if query.anything:
            found["$or"] = [{"channel": query.anything},
                            {"sender_id": {"$in": list(query.anything_senders)}},
                            {"body.text": _contains(query.anything)}]
        docs = list(self.messages.find(found).sort([("ts", -1), ("seq", -1)])
                    .skip(offset).limit(limit))
        marks = self.last_seqs(sorted({d["channel"] for d in docs}))
        return [from_document(d) for d in docs if d["seq"] <= marks[d["channel"]]]

    def import_run(self, run: list[StoredMessage]) -> int:
        """Store an exported run of one channel's messages, ascending and contiguous,
        skipping those at or below the channel's mark; the same steps as a writer's
        (insert above the mark, then raise it), so an import that dies halfway leaves
        no visible hole and a rerun continues. Returns how many were stored."""
        channel = run[0].channel
        self._ensure_channel_rows([channel])
        self._mark(channel)
        self._roll_forward(channel)
        last = self.last_seqs([channel])[channel]
        if last == 0 and run[0].seq > 1:
            # Exported after retention removed the oldest: start at its first_seq.
            last = run[0].seq - 1
            self.channels.update_one({"_id": channel}, {"$max": {"seq": last, "first": last + 1}})
        fresh = [m for m in run if m.seq > last]
        for offset, m in enumerate(fresh):
            if m.seq != last + 1 + offset:
                raise ValueError(f"{channel}: seq {m.seq} follows {last + offset} in the input")
        if fresh:
            self.messages.insert_many([to_document(m) for m in fresh], ordered=True)
            self._raise_mark(channel, fresh[-1].seq, max(m.ts for m in fresh))
        return len(fresh)

    def counts(self, channels: Sequence[str]) -> dict[str, int]:
        """How many messages each channel holds up to its mark."""
        marks = self.last_seqs(channels)
        return {c: self.messages.count_documents({"channel": c, "seq": {"$lte": marks[c]}})
                for c in channels}


def _contains(text: str) -> dict:
    """A case-insensitive substring match, as SQL's icontains (no index: a scan)."""
    return {"$regex": re.escape(text), "$options": "i"}
