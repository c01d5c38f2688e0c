"""What this process runs, for the synchronous code that needs it (REST views, admin,
signal receivers). imserver builds the node explicitly and installs it here; a
process without a node (a Celery worker, a management command) gets the locator and
registry built from the settings, once."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings

from realtime.cluster.registry import MemoryRegistry, RedisRegistry, Registry
from realtime.locator import Locator, build_locator

if TYPE_CHECKING:
    from realtime.node import Node

_running: list[Node] = []
_ready: list[asyncio.Future] = []  # resolved with the node once it is installed


def install(node: Node) -> None:
    _running[:] = [node]
    for waiter in _ready:
        if not waiter.done():
            waiter.set_result(node)


async def wait_for_node() -> Node:
    """The running node; a connection that arrives while it starts waits for it."""
    if _running:
        return _running[0]
    if not _ready:
        _ready.append(asyncio.get_running_loop().create_future())
    return await asyncio.shield(_ready[0])


def running_node() -> Node | None:
    return _running[0] if _running else None


def build_registry(redis_url: str | None, prefix: str) -> Registry:
    if redis_url:
        return RedisRegistry(redis_url, f"{prefix}:cluster")
    return MemoryRegistry()


@cache
def _standalone() -> tuple[Locator, Registry]:
    return (build_locator(settings.IM_REDIS_URL, settings.IM_REDIS_PREFIX),
            build_registry(settings.IM_REDIS_URL, settings.IM_REDIS_PREFIX))


def locator() -> Locator:
    node = running_node()
    return node.locator if node is not None else _standalone()[0]


def registry() -> Registry:
    node = running_node()
    return node.member.registry if node is not None else _standalone()[1]
