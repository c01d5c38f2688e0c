"""Sending one task's notifications: several requests at once, the breaker obeyed.

A worker's time goes into waiting for providers, not into CPU: one request after
the other held a worker to one round trip per notification. Requests go out in
waves of up to IM_PUSH_SEND_CONCURRENCY on a thread pool of the process, with two
rules that keep a failing host from getting a burst:
- a host's first request of the task goes alone; the others for it join the waves
  only once it answered (2xx, 404/410); after a transient failure, it is one at a
  time again;
- the breaker is asked before a request to a host unless it said "closed" and the
  host has not failed since (one Redis round trip per host and task, not per
  request); an open breaker holds the group; the probe goes alone.
Only the provider call runs on the pool: no database work there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings

from notifications.breaker import CLOSED, Breaker
from notifications.clock import now_ms
from notifications.models import Notification
from notifications.providers.base import BAD, GONE, OK, Outcome
from notifications.providers.registry import provider_for

HELD = "held"


@dataclass
class Sent:
    """What became of one group (the rows told as one notification)."""

    group: list[Notification]
    result: str  # ok, gone, bad, transient, or held (the breaker is open)
    outcome: Outcome | None = None
    wait_ms: int = 0


@dataclass
class _Hosts:
    closed: dict[str, bool] = field(default_factory=dict)  # said closed, no failure since
    proven: dict[str, bool] = field(default_factory=dict)  # last answer of this task was up
    told_up: set[str] = field(default_factory=set)  # breaker.succeeded already called


@cache
def _pool() -> ThreadPoolExecutor:
    # Per process (a prefork worker's child makes its own, after the fork).
    return ThreadPoolExecutor(settings.IM_PUSH_SEND_CONCURRENCY,
                              thread_name_prefix="im-push-send")


def send_groups(groups: list[list[Notification]], payload: Callable[[list], dict],
                breaker: Breaker) -> list[Sent]:
    """Send the latest row of each group with `payload(group)`; one Sent per group."""
    hosts = _Hosts()
    done: list[Sent] = []
    pending = [(group, provider_for(group[-1].kind)) for group in groups]
    while pending:
        wave, later, alone = [], [], set()
        for group, provider in pending:
            host = provider.host_of(group[-1].device.target)
            if host in alone or len(wave) >= settings.IM_PUSH_SEND_CONCURRENCY:
                later.append((group, provider))
                continue
            if not hosts.closed.get(host):
                wait = breaker.before_call(host, now_ms())
                if wait > 0:
                    done.append(Sent(group, HELD, None, wait))
                    continue
                hosts.closed[host] = wait == CLOSED
            if not (hosts.proven.get(host) and hosts.closed[host]):
                alone.add(host)
            wave.append((group, provider, host))
        futures = [_pool().submit(_send, provider, group, payload(group))
                   for group, provider, _ in wave]
        for (group, _, host), future in zip(wave, futures, strict=True):
            outcome = future.result()
            if outcome.result in (OK, GONE):  # the host answered: it is up
                if host not in hosts.told_up:
                    breaker.succeeded(host)
                    hosts.told_up.add(host)
                hosts.proven[host] = True
            elif outcome.result != BAD:
                breaker.failed(host, now_ms())
                hosts.closed[host] = hosts.proven[host] = False
                hosts.told_up.discard(host)
            done.append(Sent(group, outcome.result, outcome))
        pending = later
    return done


def _send(provider, group: list[Notification], payload: dict) -> Outcome:
    row = group[-1]
    return provider.send(target=row.device.target, secret=row.device.secret,
                         payload=payload, key=row.key)
