"""Running outbox work on long-lived threads that keep their database connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from realtime.db import with_kept_connection

T = TypeVar("T")


def run_with_connection(fn: Callable[..., T], *args) -> T:
    """Call fn on this thread, which keeps its database connection for the next call
    (opening one per batch cost the message path a tenth of a core), dropping it only
    when it broke."""
    return with_kept_connection(fn, *args)
