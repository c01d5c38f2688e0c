"""The moderators' message search on the SQL store (SQLite, PostgreSQL)."""

from __future__ import annotations

from django.db.models import Q

from messaging.models import Message
from messaging.store.base import MessageQuery, StoredMessage
from messaging.store.orm import stored_message


class OrmMessageSearch:
    def search(self, query: MessageQuery, *, offset: int = 0, limit: int = 100
               ) -> list[StoredMessage]:
        rows = Message.objects.all()
        if query.channel is not None:
            rows = rows.filter(channel=query.channel)
        if query.sender_ids is not None:
            rows = rows.filter(sender_id__in=query.sender_ids)
        if query.text:
            rows = rows.filter(body__text__icontains=query.text)
        if query.type:
            rows = rows.filter(type=query.type)
        if query.since_ms is not None:
            rows = rows.filter(ts__gte=query.since_ms)
        if query.until_ms is not None:
            rows = rows.filter(ts__lt=query.until_ms)
        if query.anything:
            rows = rows.filter(Q(channel=query.anything)
                               | Q(sender_id__in=query.anything_senders)
                               | Q(body__text__icontains=query.anything))
        rows = rows.order_by("-ts", "-seq")[offset : offset + limit]
        return [stored_message(row) for row in rows]
