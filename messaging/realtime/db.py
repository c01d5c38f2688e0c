"""Database work for the event loop, on threads of its own.

Writes go to one writer thread (the batch writer serialises them anyway, and one
thread keeps one persistent connection); reads go to a small pool. Neither shares
asgiref's thread-sensitive executor with the HTTP views.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import close_old_connections

T = TypeVar("T")

_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="im-db-write")
_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="im-db-read")


def _with_connection(fn: Callable[..., T], *args, **kwargs) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_read(fn: Callable[..., T], *args, **kwargs) -> T:
    loop = asyncio.get_running_loop()
    call = functools.partial(_with_connection, fn, *args, **kwargs)
    return await loop.run_in_executor(_readers, call)


async def run_write(fn: Callable[..., T], *args, **kwargs) -> T:
    loop = asyncio.get_running_loop()
    call = functools.partial(_with_connection, fn, *args, **kwargs)
    return await loop.run_in_executor(_writer, call)
