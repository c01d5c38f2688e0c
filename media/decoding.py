"""Where uploaded files are decoded: a few threads of their own, never more at once.

An image's decoded size is its pixel count, not its byte count: a 160 KB PNG of
7000 x 7000 pixels takes 196 MB while it decodes, so memory grows with the number of
decodes running together, and each upload used to decode on its own request thread.
`inspect_upload` runs media.sniffing.inspect (image decode, audio and video probes)
on a pool of IM_MEDIA_DECODE_WORKERS threads, which bounds that memory at
workers x the largest image (IM_MAX_IMAGE_PIXELS x 4 bytes). Up to
IM_MEDIA_DECODE_QUEUE more uploads wait for a worker, each at most
IM_MEDIA_DECODE_WAIT_S; beyond either, `DecodeBusy` (the API answers 503 with
Retry-After). The caller is a request thread (Django runs the synchronous view on
one), so the server's event loop never waits on a decode.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import BinaryIO

from django.conf import settings
from PIL import Image

from media.sniffing import Inspected, inspect

# Pillow allocates image memory in blocks of up to this size (its default is 16 MiB).
# glibc serves an allocation above its largest dynamic mmap threshold (32 MiB) with
# mmap and unmaps it on free; smaller ones come from the allocating thread's heap and
# stay there. With 64 MiB blocks the memory of a burst of big decodes goes back to the
# system once they end, instead of staying with the decode threads for good.
IMAGE_BLOCK_BYTES = 64 * 1024 * 1024


def configure_image_memory() -> None:
    """Pillow's block size (its PILLOW_BLOCK_SIZE), unless the environment sets it."""
    if "PILLOW_BLOCK_SIZE" not in os.environ:
        Image.core.set_block_size(IMAGE_BLOCK_BYTES)


class DecodeBusy(Exception):
    """Every decode worker is busy and the queue is full, or the wait was too long."""


class DecodePool:
    def __init__(self, *, workers: int, queue: int, wait_s: float) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="media-decode")
        # Uploads running or waiting; a bounded semaphore so a bug cannot add slots.
        self._admitted = threading.BoundedSemaphore(workers + queue)
        self._wait_s = wait_s

    def run(self, fn, *args):
        if not self._admitted.acquire(blocking=False):
            raise DecodeBusy()
        try:
            future = self._executor.submit(fn, *args)
            try:
                return future.result(timeout=self._wait_s)
            except FutureTimeout:
                if future.cancel():  # still queued: it never runs
                    raise DecodeBusy() from None
                # Already decoding: its memory is taken either way, so let it finish.
                return future.result()
        finally:
            self._admitted.release()


_pool: DecodePool | None = None
_pool_lock = threading.Lock()


def decode_pool() -> DecodePool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = DecodePool(workers=settings.IM_MEDIA_DECODE_WORKERS,
                               queue=settings.IM_MEDIA_DECODE_QUEUE,
                               wait_s=settings.IM_MEDIA_DECODE_WAIT_S)
        return _pool


def inspect_upload(file: BinaryIO) -> Inspected:
    """media.sniffing.inspect on a decode worker. Raises DecodeBusy, MediaInvalid."""
    return decode_pool().run(inspect, file)
