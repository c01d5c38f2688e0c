"""Signals messaging sends to the layers above it (realtime subscribes in its
AppConfig.ready): messaging never imports them."""

from django.dispatch import Signal

# Sent after the commit of messages stored outside the realtime tier (a moderator's
# redaction in the admin), with `deliveries`: [(frame, recipient user ids)]; the
# receiver pushes each frame to the recipients' live connections.
messages_stored = Signal()
