"""A circuit breaker per target host:port, shared by every worker through Redis.

Closed: calls go through; IM_PUSH_BREAKER_FAILS consecutive transient failures open
it. Open: no call until IM_PUSH_BREAKER_RESET_S has passed; the notifications wait
(they are rescheduled, never dropped). Then one caller, and one only, gets the probe
(a SET NX with an expiry); its success closes the breaker, its failure opens it for
another reset period. Each step is one Lua script, so workers never race on it.
Without IM_REDIS_URL the state lives in this process (the embedded server is then
the only one delivering).
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Protocol

from django.conf import settings

from notifications.clock import now_ms

log = logging.getLogger(__name__)

_BEFORE = """
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then return -1 end
local now = tonumber(ARGV[1])
if now < open_until then return open_until - now end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 0 end
return tonumber(ARGV[3])
"""

_FAILED = """
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if fails >= tonumber(ARGV[1]) or open_until > 0 then
  local ends = tonumber(ARGV[2]) + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'open_until', ends)
  redis.call('ZADD', KEYS[3], ends, ARGV[4])
  redis.call('DEL', KEYS[2])
  if open_until == 0 then return 1 end
end
return 0
"""

_SUCCEEDED = """
local was_open = redis.call('HEXISTS', KEYS[1], 'open_until')
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return was_open
"""


class Breaker(Protocol):
    def before_call(self, host: str, now: int) -> int:
        """CLOSED: call now (and again, until a call fails); PROBE: call now, once;
        otherwise (> 0) how many ms to wait before trying again."""

    def failed(self, host: str, now: int) -> None: ...

    def succeeded(self, host: str) -> None: ...

    def state(self, host: str) -> dict: ...

    def open_hosts(self, limit: int) -> list[tuple[str, int]]:
        """Up to `limit` hosts whose breaker is open or half-open (not closed), the
        latest opened first, with the time (ms) their open period ends or ended."""


# A breaker's state outlives its host's last failure by a day.
STATE_TTL_MS = 86_400_000
# While one caller probes a host, the others look again this often.
PROBE_WAIT_MS = 1000
# before_call's answers that mean "call": the breaker is closed (a caller may send a
# batch's other notifications for the host without asking again until one fails), or
# this caller holds the probe (one call, then ask again).
CLOSED, PROBE = -1, 0


def _probe_ms() -> int:
    return (settings.IM_PUSH_TIMEOUT_S + 1) * 1000


class RedisBreaker:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._before = self._redis.register_script(_BEFORE)
        self._failed = self._redis.register_script(_FAILED)
        self._succeeded = self._redis.register_script(_SUCCEEDED)

    def _keys(self, host: str) -> list[str]:
        # The third: the hosts not closed, scored by the end of their open period.
        return [f"{self._prefix}:{host}", f"{self._prefix}:{host}:probe", self._open_key]

    @property
    def _open_key(self) -> str:
        return f"{self._prefix}:not-closed"

    def before_call(self, host: str, now: int) -> int:
        return int(self._before(keys=self._keys(host), args=[now, _probe_ms(), PROBE_WAIT_MS]))

    def failed(self, host: str, now: int) -> None:
        opened = self._failed(keys=self._keys(host), args=[
            settings.IM_PUSH_BREAKER_FAILS, now, settings.IM_PUSH_BREAKER_RESET_S * 1000, host,
            STATE_TTL_MS])
        if opened:
            log.warning("push breaker for %s opened", host)

    def succeeded(self, host: str) -> None:
        if self._succeeded(keys=self._keys(host), args=[host]):
            log.warning("push breaker for %s closed", host)

    def state(self, host: str) -> dict:
        return self._redis.hgetall(self._keys(host)[0])

    def open_hosts(self, limit: int) -> list[tuple[str, int]]:
        # A host nobody called for a day has lost its breaker state (the hash expires):
        # it leaves the set too.
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(self._open_key, "-inf", f"({now_ms() - STATE_TTL_MS}")
        pipe.zrevrange(self._open_key, 0, limit - 1, withscores=True)
        return [(host, int(until)) for host, until in pipe.execute()[1]]


class MemoryBreaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[str, int] = {}
        self._open_until: dict[str, int] = {}
        self._probe_until: dict[str, int] = {}

    def before_call(self, host: str, now: int) -> int:
        with self._lock:
            open_until = self._open_until.get(host, 0)
            if open_until == 0:
                return CLOSED
            if now < open_until:
                return open_until - now
            if self._probe_until.get(host, 0) <= now:
                self._probe_until[host] = now + _probe_ms()
                return PROBE
            return PROBE_WAIT_MS

    def failed(self, host: str, now: int) -> None:
        with self._lock:
            self._fails[host] = fails = self._fails.get(host, 0) + 1
            was_open = host in self._open_until
            if fails >= settings.IM_PUSH_BREAKER_FAILS or was_open:
                self._open_until[host] = now + settings.IM_PUSH_BREAKER_RESET_S * 1000
                self._probe_until.pop(host, None)
                if not was_open:
                    log.warning("push breaker for %s opened", host)

    def succeeded(self, host: str) -> None:
        with self._lock:
            self._fails.pop(host, None)
            self._probe_until.pop(host, None)
            if self._open_until.pop(host, None) is not None:
                log.warning("push breaker for %s closed", host)

    def state(self, host: str) -> dict:
        with self._lock:
            return {"fails": self._fails.get(host, 0),
                    "open_until": self._open_until.get(host, 0)}

    def open_hosts(self, limit: int) -> list[tuple[str, int]]:
        with self._lock:
            latest = sorted(self._open_until.items(), key=lambda item: -item[1])
        return latest[:limit]


@cache
def get_breaker() -> Breaker:
    if settings.IM_REDIS_URL:
        return RedisBreaker(settings.IM_REDIS_URL, f"{settings.IM_REDIS_PREFIX}:push-breaker")
    return MemoryBreaker()
