"""Signals realtime sends; apps above it subscribe (in their AppConfig.ready)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by imserver once it listens, with no arguments, before it says it is ready.
# notifications starts its outbox threads there (an embedded server delivers what a
# previous run left pending).
server_started = Signal()
