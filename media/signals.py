"""Signals media sends; apps above it answer (they connect in their AppConfig.ready)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when a user who neither owns a file nor sees it as an avatar asks for it, with
# keyword arguments:
#   user_id: int          who asks
#   channels: list[str]   the channels the file was sent to, private ones first
# A receiver answers True if the user may read one of those channels; messaging does
# (the same check as reading that channel's history). With no receiver, no one
# but the owner reads a file.
channel_read_check = Signal()
