"""This process as one node of the cluster.

The node holds the live sessions of this process, the batch writer, the fan-out
loop and the listener on its own channel-layer channel, through which other nodes
(and REST views) reach its connections. What another node needs to know (who is
connected where) is in the locator, never only here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable

from accounts.tokens import TokenIdentity, tokens_state
from improto import vocabulary as words
from improto.conversation import TYPING_THROTTLE_S
from imsite import metrics
from messaging.services.message_send import Request, SendOutcome
from messaging.store import store_flush
from realtime.cluster.member import ClusterMember
from realtime.cluster.registry import Registry
from realtime.cluster.ring import Ring
from realtime.config import NodeConfig
from realtime.conversation import TypingThrottle
from realtime.db import run_read
from realtime.events import CLOSE, DELIVER, close_event, conns_by_node, deliver_event
from realtime.host import Registration
from realtime.locator import ConnRecord, Locator
from realtime.outgoing import SharedFrame
from realtime.ratelimit import Budget, TokenBucket
from realtime.session import Session
from realtime.token_checks import TokenChecks
from realtime.writer import BatchWriter

log = logging.getLogger(__name__)

# Tokens checked again per query.
RECHECK_CHUNK = 1000
# Offline reasons of docs/protocol.md, Lifecycle that the cluster sends.
# Moved connections are told in slices this long, at IM_REBALANCE_RATE.
PACE_SLICE_S = 0.05


class Node:
    """This process's node; implements `realtime.host.SessionHost` for its sessions."""

    def __init__(self, *, node_id: str, channel: str, config: NodeConfig, layer,
                 locator: Locator, registry: Registry) -> None:
        self.node_id = node_id
        self.name = channel  # the channel-layer channel: records of its connections carry it
        self.config = config
        self.layer = layer
        self.locator = locator
        self.sessions: dict[str, Session] = {}
        self.by_user: dict[int, set[Session]] = defaultdict(set)
        self._user_budgets: dict[int, Budget] = {}
        self._auths = TokenBucket(config.auth_rate, config.auth_rate)
        self._token_checks = TokenChecks()
        self.writer = BatchWriter(after_store=self._after_store)
        self.member = ClusterMember(
            node_id=node_id, channel=channel, config=config, registry=registry,
            connection_count=self._authenticated_count, on_ring_change=self._ring_changed,
            on_data_lost=self._write_connections_again,
            on_drain_requested=lambda: self.on_drain_requested(),
        )
        # What the server does when `imcluster drain` names this node (imserver sets it).
        self.on_drain_requested: Callable[[], None] = lambda: None
        self.draining = False
        self._fanout: asyncio.Queue = asyncio.Queue()
        self._typing = TypingThrottle(TYPING_THROTTLE_S)
        self._tasks: list[asyncio.Task] = []
        self._rebalance: asyncio.Task | None = None

    @classmethod
    async def build(cls, *, node_id: str, config: NodeConfig, layer, locator: Locator,
                    registry: Registry) -> Node:
        channel = await layer.new_channel("im.node")
        # channels-redis (4.3) places a message for a process channel on a router host
        # by hashing the channel's whole name, but reads it from the host chosen by
        # hashing the part before "!": over several hosts the two differ for about half
        # of the names, and the node would never read what is sent to it. Take a name
        # on which both agree.
        placed = getattr(layer, "consistent_hash", None)
        while placed is not None and placed(channel) != placed(layer.non_local_name(channel)):
            channel = await layer.new_channel("im.node")
        return cls(node_id=node_id, channel=channel, config=config, layer=layer,
                   locator=locator, registry=registry)

    async def start(self, *, ws: str | None, tcp: str | None) -> None:
        """Start the loops and join the cluster with these public addresses."""
        self.writer.start()
        self._tasks = [
            asyncio.create_task(self._listen(), name="im-node-listen"),
            asyncio.create_task(self._fanout_loop(), name="im-node-fanout"),
            asyncio.create_task(self._sweep(), name="im-node-sweep"),
            asyncio.create_task(self._recheck_tokens(), name="im-node-tokens"),
        ]
        await self.member.join(ws=ws, tcp=tcp)

    def _authenticated_count(self) -> int:
        return sum(1 for s in self.sessions.values() if s.authenticated)

    def admit_auth(self) -> int:
        """0 if an authentication may proceed now, else how many ms to wait."""
        if self._auths.take():
            return 0
        return max(1, math.ceil(1000 / self.config.auth_rate))

    def authenticate(self, token: str) -> asyncio.Future[TokenIdentity | None]:
        """Who the token belongs to (checked with the others that arrive with it)."""
        return self._token_checks.check(token)

    # --- sessions -----------------------------------------------------------------

    async def register(self, session: Session) -> Registration:
        """Make the session reachable; raises (and registers nothing) if the locator
        cannot be reached.

        Registering displaces the user's older connection on the same device and the
        oldest beyond IM_MAX_CONNS_PER_USER, wherever they are: they get `replaced`."""
        claim = await self.locator.claim(session.user_id, session.record())
        displaced = claim.displaced
        self.sessions[session.conn_id] = session
        self.by_user[session.user_id].add(session)
        budget = self._user_budgets.get(session.user_id)
        if budget is None:
            budget = self._user_budgets[session.user_id] = Budget(
                self.config.user_msgs_per_s, self.config.user_burst, flood_s=self.config.flood_s,
            )
        if displaced:
            await self.close_connections(displaced, words.REPLACED)
        return Registration(budget, claim.recently_revoked)

    async def unregister(self, session: Session) -> None:
        self.sessions.pop(session.conn_id, None)
        peers = self.by_user.get(session.user_id)
        if peers is not None:
            peers.discard(session)
            if not peers:
                del self.by_user[session.user_id]
                self._user_budgets.pop(session.user_id, None)
        try:
            await self.locator.release(session.user_id, session.record())
        except Exception:
            log.warning("could not release %s in the locator", session.conn_id, exc_info=True)

    async def heartbeat(self, session: Session) -> None:
        if session.authenticated:
            await self.locator.refresh(session.user_id, session.record())

    async def close_connections(self, records: list[ConnRecord], reason: str) -> None:
        """Send `offline` to connections wherever they are, then close them."""
        for node, ids in conns_by_node(records).items():
            if node == self.name:
                self._close_local(ids, reason)
            else:
                await self._send(node, close_event(ids, reason))

    def _close_local(self, conn_ids: list[str], reason: str) -> None:
        for conn_id in conn_ids:
            session = self.sessions.get(conn_id)
            if session is not None:
                session.go_offline(reason)

    # --- the message path -----------------------------------------------------------

    def submit(self, request: Request, *, origin: str) -> asyncio.Future[SendOutcome]:
        return self.writer.submit(request, origin)

    def typing_allowed(self, user_id: int, channel: str) -> bool:
        return self._typing.allow(user_id, channel)

    def forward(self, frame: dict, recipients: frozenset[int], *, origin: str) -> None:
        self._fanout.put_nowait((None, [(frame, recipients, origin)]))

    def _after_store(self, items: list[tuple[SendOutcome, str]]) -> None:
        """Called by the writer after each commit with (outcome, origin connection)."""
        deliveries = []
        for outcome, origin in items:
            delivery = outcome.delivery()
            if delivery is not None:
                deliveries.append((*delivery, origin))
        if deliveries:
            self._fanout.put_nowait((metrics.now(), deliveries))

    async def _fanout_loop(self) -> None:
        while True:
            # (when the commit ended, or None for a forwarded event; its deliveries)
            stored, deliveries = await self._fanout.get()
            committed = [stored]
            while not self._fanout.empty() and len(deliveries) < 1024:
                stored, more = self._fanout.get_nowait()
                committed.append(stored)
                deliveries.extend(more)
            try:
                await self._fan_out(deliveries)
                done = metrics.now()
                for stored in committed:
                    if stored is not None:
                        metrics.FANOUT_SECONDS.observe(done - stored)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer is at-most-once by design: clients fill gaps with sync.
                log.exception("fan-out of %d messages failed", len(deliveries))

    async def _fan_out(self, deliveries: list[tuple[dict, frozenset[int], str]]) -> None:
        users = list(set().union(*(recipients for _, recipients, _ in deliveries)))
        nodes = await self.locator.nodes_of(users)
        if nodes is None or self.member.routing_suspect():
            # Redis lost who is where: every node delivers to whom it holds.
            nodes = dict.fromkeys(self.member.channels() | {self.name}, users)
        for node, node_users in nodes.items():
            present = set(node_users)
            items = [  # lists, not sets: the layer carries them as MessagePack
                (frame, list(present.intersection(recipients)), origin)
                for frame, recipients, origin in deliveries
                if not present.isdisjoint(recipients)
            ]
            if node == self.name:
                self._deliver_local(items)
            else:
                await self._send(node, deliver_event(items))

    def _deliver_local(self, items) -> None:
        observe, now = metrics.DELIVERY_SECONDS.observe, time.time() * 1000
        for frame, user_ids, origin in items:
            stored_ms = frame.get("ts") if "seq" in frame else None
            if type(stored_ms) is int:  # a stored message: its ts is its commit's clock
                observe(max(0.0, now - stored_ms) / 1000)
            frame = SharedFrame(frame)
            for uid in user_ids:
                for session in self.by_user.get(uid, ()):
                    if session.conn_id != origin:
                        session.push(frame)

    # --- the node's own channel ------------------------------------------------------

    async def _send(self, node: str, event: dict) -> None:
        try:
            await self.layer.send(node, event)
        except Exception:
            metrics.LAYER_FAILURES.inc()
            log.warning("could not reach node %s", node, exc_info=True)

    async def _listen(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel layer receive failed; retrying")
                await asyncio.sleep(1)
                continue
            kind = event.get("type")
            if kind == DELIVER:
                self._deliver_local(event["items"])
            elif kind == CLOSE:
                self._close_local(event["conns"], event["reason"])

    async def _sweep(self) -> None:
        """Close connections silent for 3 heartbeats."""
        limit = 3 * self.config.heartbeat_s
        while True:
            await asyncio.sleep(min(1.0, self.config.heartbeat_s / 2))
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if now - session.last_rx > limit and not session.closing:
                    session.close()

    async def _recheck_tokens(self) -> None:
        """Close every connection whose token was revoked, expired or whose user was
        banned, whether or not the event that should have closed it arrived: the
        channel layer may drop it, and nothing is kept from a stale token for long."""
        while True:
            await asyncio.sleep(self.config.token_recheck_s)
            sessions = [s for s in self.sessions.values() if s.authenticated and not s.closing]
            for start in range(0, len(sessions), RECHECK_CHUNK):
                chunk = sessions[start:start + RECHECK_CHUNK]
                try:
                    verdicts = await run_read(
                        tokens_state, [(s.user_id, s.token_key) for s in chunk]
                    )
                except Exception:
                    log.warning("could not check tokens again; retrying later", exc_info=True)
                    break
                for session in chunk:
                    reason = verdicts.get((session.user_id, session.token_key), words.LOGOUT)
                    if reason is not None:
                        session.go_offline(reason)

    # --- the cluster ---------------------------------------------------------------

    def _ring_changed(self, old: Ring, new: Ring) -> None:
        if self.draining or not old.members:
            return
        if self._rebalance is not None:
            self._rebalance.cancel()
        self._rebalance = asyncio.create_task(self._move(old, new), name="im-rebalance")

    async def _move(self, old: Ring, new: Ring) -> None:
        """Send elsewhere exactly the connections whose user was placed here and is
        placed on another node now, paced, in random order."""
        me = self.node_id
        here = self.member.addresses(me)
        # The workers of one `imserver --workers N` share their addresses: a client
        # sent to another of them would dial the same ports and land on any worker.
        moved = [s for s in self.sessions.values()
                 if s.authenticated and not s.closing
                 and old.owner(s.user_id) == me and new.owner(s.user_id) != me
                 and self.member.addresses(new.owner(s.user_id)) != here]
        log.info("ring %d -> %d (%d nodes): moving %d of %d connections", old.version,
                 new.version, len(new.members), len(moved), len(self.sessions))
        random.shuffle(moved)
        await self._tell(moved, words.REBALANCE, new, self.config.rebalance_rate)
        log.info("ring %d: moved %d connections", new.version, len(moved))

    async def _tell(self, sessions: list[Session], reason: str, ring: Ring, rate: float) -> None:
        per_slice = max(1, round(rate * PACE_SLICE_S))
        for start in range(0, len(sessions), per_slice):
            if start:
                await asyncio.sleep(PACE_SLICE_S)
            for session in sessions[start:start + per_slice]:
                if not session.closing:
                    owner = ring.owner(session.user_id) if session.authenticated else None
                    session.go_offline(reason, self.member.addresses(owner))

    async def _write_connections_again(self) -> None:
        """Redis lost its data: write every live connection of this node back."""
        sessions = [s for s in self.sessions.values() if s.authenticated and not s.closing]
        for session in sessions:
            await self.locator.refresh(session.user_id, session.record())
        log.warning("wrote %d connections back to the locator", len(sessions))

    async def drain(self) -> None:
        """Leave the ring, send every connection to its user's next node, wait up to
        IM_DRAIN_S for them to go, then stop."""
        if self.draining:
            return
        self.draining = True
        if self._rebalance is not None:
            self._rebalance.cancel()
        ring = await self.member.leave()
        sessions = list(self.sessions.values())
        random.shuffle(sessions)
        log.info("draining: leaving ring %d, telling %d connections", ring.version,
                 len(sessions))
        deadline = time.monotonic() + self.config.drain_s
        # Paced, but fast enough to tell everyone within half the drain time.
        rate = max(self.config.rebalance_rate, 2 * len(sessions) / self.config.drain_s)
        await self._tell(sessions, words.SHUTDOWN, ring, rate)
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.shutdown(words.SHUTDOWN, timeout=max(0.1, deadline - time.monotonic()))

    async def shutdown(self, reason: str = words.SHUTDOWN, timeout: float = 3.0) -> None:
        """Tell every connection `offline`, wait for them to flush, stop the loops."""
        sessions = list(self.sessions.values())
        for session in sessions:
            session.go_offline(reason, None)
        if sessions:
            await asyncio.gather(*(s.flushed(timeout) for s in sessions))
        await self.writer.stop()
        # What the writer committed last may still wait for its hot-window write: make
        # it (bounded), so the next node's readers find the window whole.
        if not await asyncio.to_thread(store_flush, 2.0):
            log.warning("hot window: writes left unwritten at shutdown")
        for task in self._tasks:
            task.cancel()
        await self.member.stop()
        for session in sessions:
            await session.transport_closed()
