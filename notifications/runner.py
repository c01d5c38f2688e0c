"""Running outbox work on long-lived threads that keep their database connection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import close_old_connections, connection

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_with_connection(fn: Callable[..., T], *args) -> T:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        if connection.errors_occurred and not connection.is_usable():
            connection.close()
