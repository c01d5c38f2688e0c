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

# Sent after the commit of messages stored outside the realtime tier (a moderator's
# redaction in the admin), with `deliveries`: [(frame, recipient user ids)]; realtime
# pushes each frame to the recipients' live connections.
messages_to_push = Signal()
