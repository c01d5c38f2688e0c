"""Database work for the event loop, on threads of its own.

Writes go to one writer thread (the batch writer serialises them anyway, and one
thread keeps one persistent connection); reads go to a small pool. Neither shares
asgiref's thread-sensitive executor with the HTTP views.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

T = TypeVar("T")

_WRITERS, _READERS = 1, 4
_writer = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="im-db-write")
_readers = ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="im-db-read")


def with_kept_connection(fn: Callable[..., T], *args, **kwargs) -> T:
    """Call fn on this thread, which keeps its database connection for the next call
    (what the message path's threads do; the benchmark's store measurements too)."""
    try:
        return fn(*args, **kwargs)
    finally:
        _keep_connection_healthy()


def _keep_connection_healthy() -> None:
    """These few threads live as long as the process, so each keeps its connection
    (reopening one cost a small batch more than its queries). Django's own
    close_old_connections would close it every time: under ASGI, CONN_MAX_AGE stays 0
    for the request threads, which come and go. A broken connection is dropped and
    reopened by the next call."""
    connection = connections["default"]
    if connection.connection is None:
        return
    if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
        connection.close()
    elif connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


async def run_read(fn: Callable[..., T], *args, **kwargs) -> T:
    loop = asyncio.get_running_loop()
    call = functools.partial(with_kept_connection, fn, *args, **kwargs)
    return await loop.run_in_executor(_readers, call)


async def run_write(fn: Callable[..., T], *args, **kwargs) -> T:
    loop = asyncio.get_running_loop()
    call = functools.partial(with_kept_connection, fn, *args, **kwargs)
    return await loop.run_in_executor(_writer, call)


def close_connections() -> None:
    """Close the connection every thread of both pools keeps (when the process is done
    with the database: at shutdown, or before a test database is dropped)."""
    for pool, size in ((_writer, _WRITERS), (_readers, _READERS)):
        barrier = threading.Barrier(size)  # one call on each thread, not two on one

        def close(_: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(timeout=30)
            connections.close_all()

        list(pool.map(close, range(size)))
