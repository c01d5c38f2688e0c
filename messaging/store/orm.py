"""The message store on the Django ORM (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Count, Exists, F, OuterRef, Q, Value, When

from messaging.models import ChannelState, Membership, Message
from messaging.store.base import AppendResult, NewMessage, RetentionStep, StoredMessage
from messaging.store.sql_batch import insert_and_advance, lock_states, stored_by_client_id

_FIELDS = (
    "channel", "seq", "ts", "sender_id", "client_id", "type", "body", "recipient_id", "group_id",
    "target", "edited", "recalled",
)


def stored_message(row: Message) -> StoredMessage:
    return StoredMessage(**{f: getattr(row, f) for f in _FIELDS})


class OrmMessageStore:
    def append(self, batch: Sequence[NewMessage], *, now_ms: int) -> list[AppendResult]:
        if not batch:
            return []
        channels = sorted({m.channel for m in batch})
        # Part of the caller's transaction when there is one (the write path's), no
        # savepoint of its own: a failure rolls the whole batch back.
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            states = lock_states(cursor, channels)
            existing = stored_by_client_id(cursor, batch, channels)
            results: list[AppendResult] = []
            fresh: list[StoredMessage] = []
            for m in batch:
                key = (m.channel, m.sender_id, m.client_id)
                if key in existing:
                    results.append(AppendResult(existing[key], dup=True))
                    continue
                last_seq, last_ts = states[m.channel]
                seq, ts = last_seq + 1, max(last_ts, now_ms)
                states[m.channel] = (seq, ts)
                stored = StoredMessage(
                    channel=m.channel, seq=seq, ts=ts, sender_id=m.sender_id,
                    client_id=m.client_id, type=m.type, body=m.body,
                    recipient_id=m.recipient_id, group_id=m.group_id, target=m.target,
                )
                fresh.append(stored)
                existing[key] = stored
                results.append(AppendResult(stored, dup=False))
            if fresh:
                written = {s.channel for s in fresh}
                insert_and_advance(cursor, fresh, {c: states[c] for c in written})
        return results

    def range(
        self, channel: str, *, after: int = 0, before: int | None = None, limit: int = 100
    ) -> list[StoredMessage]:
        query = Message.objects.filter(channel=channel)
        if before is not None:
            query = query.filter(seq__lt=before)
        if after or before is None:
            rows = query.filter(seq__gt=after).order_by("seq")[:limit]
            return [stored_message(r) for r in rows]
        rows = list(query.order_by("-seq")[:limit])
        rows.reverse()
        return [stored_message(r) for r in rows]

    def revise(self, channel: str, seq: int, *, body: dict, edited: int | None = None,
               recalled: int | None = None) -> None:
        changes: dict = {"body": body}
        if edited is not None:
            changes["edited"] = edited
        if recalled is not None:
            changes["recalled"] = recalled
        Message.objects.filter(channel=channel, seq=seq).update(**changes)

    def last_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        found = dict(
            ChannelState.objects.filter(channel__in=channels).values_list("channel", "last_seq")
        )
        return {c: found.get(c, 0) for c in channels}

    def channels_of_user(self, user_id: int) -> list[tuple[str, int]]:
        group_ids = Membership.objects.filter(user_id=user_id).values("group_id")
        rows = ChannelState.objects.filter(
            Q(user_a=user_id) | Q(user_b=user_id) | Q(group_id__in=group_ids)
        ).values_list("channel", "last_seq")
        return sorted(rows)

    def find(self, keys: Sequence[tuple[str, int]], *, lock: bool = False
             ) -> dict[tuple[str, int], StoredMessage]:
        if not keys:
            return {}
        match = Q()
        for channel, seq in sorted(set(keys)):
            match |= Q(channel=channel, seq=seq)
        query = Message.objects.filter(match).order_by("channel", "seq")
        if lock and connection.features.has_select_for_update:
            query = query.select_for_update(no_key=True)
        return {(row.channel, row.seq): stored_message(row) for row in query}

    def stored_keys(self, keys: Sequence[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        if not keys:
            return set()
        rows = Message.objects.filter(
            channel__in={k[0] for k in keys}, client_id__in={k[2] for k in keys}
        ).values_list("channel", "sender_id", "client_id")
        return set(rows) & set(keys)

    def revisions_after(self, positions: dict[str, int]) -> dict[str, int]:
        if not positions:
            return {}
        read = Case(*[When(channel=c, then=Value(seq)) for c, seq in positions.items()],
                    default=Value(0), output_field=BigIntegerField())
        rows = (
            Message.objects.filter(target__isnull=False, channel__in=list(positions))
            .annotate(read=read)
            .filter(seq__gt=F("read"))
            .order_by()
            .values("channel")
            .annotate(n=Count("pk"))
            .values_list("channel", "n")
        )
        return dict(rows)

    # -- retention ------------------------------------------------------------------

    def first_seqs(self, channels: Sequence[str]) -> dict[str, int]:
        found = dict(
            ChannelState.objects.filter(channel__in=channels).values_list("channel", "first_seq")
        )
        return {c: found.get(c, 1) for c in channels}

    def expired_channels(self, *, before_ts: int) -> list[str]:
        # One indexed probe per channel: its message at first_seq (ts grows with seq,
        # so that is its oldest).
        oldest = Message.objects.filter(
            channel=OuterRef("channel"), seq=OuterRef("first_seq"), ts__lt=before_ts)
        rows = ChannelState.objects.filter(first_seq__lte=F("last_seq")).filter(Exists(oldest))
        return sorted(rows.values_list("channel", flat=True))

    def expire(self, channel: str, *, before_ts: int, limit: int) -> RetentionStep:
        first = self.first_seqs([channel])[channel]
        # The next `limit` messages from first_seq, by the (channel, seq) index; ts
        # never decreases along seq, so the expired ones are a prefix of them.
        rows = Message.objects.filter(channel=channel, seq__gte=first).order_by("seq")
        top = None
        for seq, ts in rows.values_list("seq", "ts")[:limit]:
            if ts >= before_ts:
                break
            top = seq
        if top is None:
            return RetentionStep(deleted=0, first_seq=first)
        # Raised first, in a write of its own: readers that see the rows gone see the
        # new first_seq too. The condition keeps it from ever going down, and it
        # touches only first_seq (the writer updates last_seq and last_ts).
        with transaction.atomic():
            ChannelState.objects.filter(channel=channel, first_seq__lte=top).update(
                first_seq=top + 1)
        with transaction.atomic():
            # Also what a run that died between the two writes left below the mark.
            deleted, _ = Message.objects.filter(channel=channel, seq__lte=top).delete()
        return RetentionStep(deleted=deleted, first_seq=top + 1)
