"""Where each user's live connections are, and so who is online.

The registry other processes need lives in Redis when IM_REDIS_URL is set; the
embedded default keeps it in this process, which is then the whole cluster. A
record carries an expiry that heartbeats push forward, so a node that dies without
cleaning up stops counting once its records expire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ConnRecord:
    conn_id: str
    node: str  # the channel-layer name of the node that holds the connection
    device: str
    token_key: str
    expires: int  # ms; heartbeats push it forward
    since: int = 0  # ms; when the connection authenticated

    def encode(self) -> str:
        # A structured encoding: no field value can be mistaken for a separator.
        return json.dumps(
            {"node": self.node, "device": self.device, "token": self.token_key,
             "expires": self.expires, "since": self.since},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, conn_id: str, raw: str) -> ConnRecord | None:
        """The record, or None for a value this version cannot read (it expires)."""
        try:
            fields = json.loads(raw)
            return cls(conn_id, str(fields["node"]), str(fields["device"]),
                       str(fields["token"]), int(fields["expires"]), int(fields["since"]))
        except (ValueError, TypeError, KeyError):
            return None


log = logging.getLogger(__name__)

# How long a revocation is remembered here: longer than any registration takes.
REVOKED_TTL_S = 300
# Claims that arrive together share one Redis transaction (RedisLocator.claim): at
# most this many per transaction, and this many transactions at once.
CLAIM_BATCH = 256
CLAIM_PARALLEL = 2


@dataclass(frozen=True, slots=True)
class Claim:
    displaced: list[ConnRecord]  # to be told `replaced`
    # A token of this user was revoked lately (logout, ban): the claimant must check
    # its token against the database again before it counts as authenticated.
    recently_revoked: bool


def excess(records: list[ConnRecord], keep: ConnRecord, cap: int) -> list[ConnRecord]:
    """The oldest live connections beyond `cap`, never `keep` (the newest claim)."""
    others = sorted((r for r in records if r.conn_id != keep.conn_id), key=lambda r: r.since)
    over = len(others) + 1 - cap
    return others[:over] if over > 0 else []


class Locator(Protocol):
    async def claim(self, user_id: int, record: ConnRecord) -> Claim:
        """Register a connection; say which connections it displaces (the older one
        on the same device, the oldest beyond IM_MAX_CONNS_PER_USER) and, in the same
        atomic step, whether a revocation for this user was marked lately."""

    def mark_revoked(self, user_id: int) -> None:
        """Remember for REVOKED_TTL_S that a token of the user was revoked. A
        revoker marks first and then reads the user's connections; a claimant
        registers and reads the mark at once. So either the revoker finds the new
        connection, or the new connection finds the mark (synchronous)."""

    async def refresh(self, user_id: int, record: ConnRecord) -> None: ...

    async def release(self, user_id: int, record: ConnRecord) -> None: ...

    async def nodes_of(self, user_ids: list[int]) -> dict[str, list[int]] | None:
        """{node: [user ids with a live connection there]}, or None when the locator
        lost its data lately (Redis restarted empty or flushed): deliver everywhere."""

    def conns_of(self, user_id: int) -> list[ConnRecord]:
        """Live connections of a user (synchronous: used from REST views too)."""

    def presence(self, user_ids: list[int]) -> dict[int, tuple[bool, int | None]]:
        """{user: (online, last_seen ms or None)} (synchronous)."""


class MemoryLocator:
    def __init__(self) -> None:
        self._conns: dict[int, dict[str, ConnRecord]] = defaultdict(dict)
        self._devices: dict[tuple[int, str], str] = {}
        self._seen: dict[int, int] = {}
        self._revoked: dict[int, int] = {}  # user -> until (ms)

    async def claim(self, user_id: int, record: ConnRecord) -> Claim:
        conns = self._conns[user_id]
        conns[record.conn_id] = record
        previous = self._devices.get((user_id, record.device))
        self._devices[(user_id, record.device)] = record.conn_id
        displaced = [conns[previous]] if previous in conns and previous != record.conn_id else []
        live = [r for r in conns.values() if r not in displaced]
        until = self._revoked.get(user_id)
        return Claim(displaced + excess(live, record, settings.IM_MAX_CONNS_PER_USER),
                     recently_revoked=until is not None and until > now_ms())

    def mark_revoked(self, user_id: int) -> None:
        now = now_ms()
        for uid in [u for u, until in self._revoked.items() if until <= now]:
            del self._revoked[uid]
        self._revoked[user_id] = now + REVOKED_TTL_S * 1000

    async def refresh(self, user_id: int, record: ConnRecord) -> None:
        if record.conn_id in self._conns.get(user_id, {}):
            self._conns[user_id][record.conn_id] = record
        self._seen[user_id] = now_ms()

    async def release(self, user_id: int, record: ConnRecord) -> None:
        conns = self._conns.get(user_id)
        if conns is not None:
            conns.pop(record.conn_id, None)
            if not conns:
                del self._conns[user_id]
        if self._devices.get((user_id, record.device)) == record.conn_id:
            del self._devices[(user_id, record.device)]
        self._seen[user_id] = now_ms()

    async def nodes_of(self, user_ids: list[int]) -> dict[str, list[int]]:
        nodes: dict[str, list[int]] = defaultdict(list)
        for uid in user_ids:
            for node in {r.node for r in self._conns.get(uid, {}).values()}:
                nodes[node].append(uid)
        return nodes

    def conns_of(self, user_id: int) -> list[ConnRecord]:
        return list(self._conns.get(user_id, {}).values())

    def presence(self, user_ids: list[int]) -> dict[int, tuple[bool, int | None]]:
        return {uid: (bool(self._conns.get(uid)), self._seen.get(uid)) for uid in user_ids}


class RedisLocator:
    def __init__(self, url: str, prefix: str, marker_key: str | None = None) -> None:
        import redis
        import redis.asyncio

        # Blocking pools: under a connect storm a call waits for a free connection
        # instead of failing with "Too many connections".
        self._async = redis.asyncio.Redis(connection_pool=redis.asyncio.BlockingConnectionPool
                                          .from_url(url, decode_responses=True, max_connections=64,
                                                    timeout=10))
        self._sync = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=16, timeout=10))
        self._prefix = prefix
        self._marker_key = marker_key
        self._ttl_s = 3 * settings.IM_HEARTBEAT_S + 30
        self._claims: list[tuple[int, ConnRecord, asyncio.Future[Claim]]] = []
        self._claiming = 0

    def _conns_key(self, uid: int) -> str:
        return f"{self._prefix}:conns:{uid}"

    def _device_key(self, uid: int, device: str) -> str:
        return f"{self._prefix}:dev:{uid}:{device}"

    def _seen_key(self, uid: int) -> str:
        return f"{self._prefix}:seen:{uid}"

    def _revoked_key(self, uid: int) -> str:
        return f"{self._prefix}:revoked:{uid}"

    async def claim(self, user_id: int, record: ConnRecord) -> Claim:
        # A connect storm brings thousands of claims within a second; those that queue
        # while a transaction is in flight go in the next one together (as token
        # checks do, realtime/token_checks.py). One MULTI runs them in order, so each
        # claim sees the claims before it exactly as if they had come one by one.
        future = asyncio.get_running_loop().create_future()
        self._claims.append((user_id, record, future))
        if self._claiming < CLAIM_PARALLEL:
            self._claiming += 1
            asyncio.create_task(self._drain_claims(), name="im-locator-claims")
        return await future

    async def _drain_claims(self) -> None:
        try:
            await asyncio.sleep(0)  # the claims made in this turn of the loop join in
            while self._claims:
                batch = [c for c in self._claims[:CLAIM_BATCH] if not c[2].done()]
                del self._claims[:CLAIM_BATCH]
                if not batch:
                    continue
                try:
                    claims = await self._claim_together([(u, r) for u, r, _ in batch])
                except Exception as exc:  # Redis: each waiting auth fails with it
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                gone = []
                for (user_id, record, future), claim in zip(batch, claims, strict=True):
                    if not future.done():
                        future.set_result(claim)
                    else:
                        gone.append((user_id, record))
                for user_id, record in gone:
                    # Its connection went away while the claim was in flight: the
                    # registration would otherwise stand until it expires.
                    try:
                        await self.release(user_id, record)
                    except Exception:  # noqa: BLE001 - it expires on its own then
                        log.warning("could not release an abandoned claim", exc_info=True)
        finally:
            self._claiming -= 1

    async def _claim_together(self, batch: list[tuple[int, ConnRecord]]) -> list[Claim]:
        async with self._async.pipeline(transaction=True) as pipe:
            for user_id, record in batch:
                pipe.hset(self._conns_key(user_id), record.conn_id, record.encode())
                pipe.expire(self._conns_key(user_id), self._ttl_s)
                pipe.set(self._device_key(user_id, record.device), record.conn_id,
                         ex=self._ttl_s, get=True)
                pipe.hgetall(self._conns_key(user_id))
                pipe.exists(self._revoked_key(user_id))
            replies = await pipe.execute()
        claims: list[Claim] = []
        dead_of: dict[int, set[str]] = {}
        for index, (user_id, record) in enumerate(batch):
            _, _, previous, raw, revoked = replies[5 * index:5 * index + 5]
            live, dead = self._split(raw)
            if dead:
                dead_of.setdefault(user_id, set()).update(dead)
            displaced = [r for r in live if r.conn_id == previous and r.conn_id != record.conn_id]
            live = [r for r in live if r not in displaced]
            claims.append(Claim(displaced + excess(live, record, settings.IM_MAX_CONNS_PER_USER),
                                recently_revoked=bool(revoked)))
        if dead_of:
            async with self._async.pipeline(transaction=False) as pipe:
                for user_id, conn_ids in dead_of.items():
                    pipe.hdel(self._conns_key(user_id), *conn_ids)
                await pipe.execute()
        return claims

    def mark_revoked(self, user_id: int) -> None:
        self._sync.set(self._revoked_key(user_id), 1, ex=REVOKED_TTL_S)

    @staticmethod
    def _split(raw: dict[str, str]) -> tuple[list[ConnRecord], list[str]]:
        """(live records, conn ids of expired or unreadable ones)."""
        now = now_ms()
        live, dead = [], []
        for conn_id, value in raw.items():
            record = ConnRecord.decode(conn_id, value)
            if record is None or record.expires <= now:
                dead.append(conn_id)
            else:
                live.append(record)
        return live, dead

    async def refresh(self, user_id: int, record: ConnRecord) -> None:
        async with self._async.pipeline(transaction=False) as pipe:
            pipe.hset(self._conns_key(user_id), record.conn_id, record.encode())
            pipe.expire(self._conns_key(user_id), self._ttl_s)
            pipe.expire(self._device_key(user_id, record.device), self._ttl_s)
            pipe.set(self._seen_key(user_id), now_ms())
            await pipe.execute()

    async def release(self, user_id: int, record: ConnRecord) -> None:
        async with self._async.pipeline(transaction=True) as pipe:
            pipe.hdel(self._conns_key(user_id), record.conn_id)
            pipe.set(self._seen_key(user_id), now_ms())
            await pipe.execute()
        # Drop the device claim only if it is still ours (a newer connection may hold it).
        await self._async.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end",
            1, self._device_key(user_id, record.device), record.conn_id,
        )

    async def nodes_of(self, user_ids: list[int]) -> dict[str, list[int]] | None:
        async with self._async.pipeline(transaction=False) as pipe:
            for uid in user_ids:
                pipe.hvals(self._conns_key(uid))
            if self._marker_key is not None:
                pipe.exists(self._marker_key)
            rows = await pipe.execute()
        if self._marker_key is not None and not rows.pop():
            return None
        now = now_ms()
        nodes: dict[str, list[int]] = defaultdict(list)
        for uid, values in zip(user_ids, rows, strict=True):
            live = set()
            for raw in values:
                record = ConnRecord.decode("", raw)
                if record is not None and record.expires > now:
                    live.add(record.node)
            for node in live:
                nodes[node].append(uid)
        return nodes

    def conns_of(self, user_id: int) -> list[ConnRecord]:
        live, _ = self._split(self._sync.hgetall(self._conns_key(user_id)))
        return live

    def presence(self, user_ids: list[int]) -> dict[int, tuple[bool, int | None]]:
        pipe = self._sync.pipeline(transaction=False)
        for uid in user_ids:
            pipe.hvals(self._conns_key(uid))
            pipe.get(self._seen_key(uid))
        rows = pipe.execute()
        now = now_ms()
        answer = {}
        for i, uid in enumerate(user_ids):
            values, seen = rows[2 * i], rows[2 * i + 1]
            records = (ConnRecord.decode("", raw) for raw in values)
            online = any(r is not None and r.expires > now for r in records)
            answer[uid] = (online, int(seen) if seen else None)
        return answer


def build_locator(redis_url: str | None, prefix: str) -> Locator:
    """The locator for this configuration: in Redis when there is one, else in process.
    `marker_key` is the cluster registry's marker (its absence says Redis lost its data)."""
    if redis_url:
        return RedisLocator(redis_url, f"{prefix}:loc", marker_key=f"{prefix}:cluster:marker")
    return MemoryLocator()
