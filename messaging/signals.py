"""Signals messaging sends to the layers above it; they subscribe in their
AppConfig.ready, and messaging never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent on the writer's thread right after the commit that stored new messages (never
# for a duplicate), with keyword arguments:
#   stored: list[tuple[StoredMessage, frozenset[int]]]   each message and its channel's
#                                                        members (the sender included)
# A receiver must return at once (hand the work to a thread of its own): the acks of
# the batch wait for it. notifications fills its outbox from it.
messages_stored = Signal()

# Sent on the writer's thread inside the transaction that stores new messages (never
# for a duplicate), after they are written, with the same `stored` as above. A
# receiver may write to the database in that transaction (at most a statement per
# batch: the acks of the batch wait for it) and does no other I/O; what it writes
# commits or rolls back with the messages. notifications records there which
# messages its outbox still has to consider, so a crash after the commit loses none.
messages_storing = Signal()

# Sent after the commit of messages stored outside the realtime tier (a moderator's
# redaction in the admin), with `deliveries`: [(frame, recipient user ids)]; realtime
# pushes each frame to the recipients' live connections.
messages_to_push = Signal()
