"""One client connection's protocol logic, written once for every transport.

A transport adapter decodes frames into maps and calls `receive`; the session
answers through `push`, which encodes the frame for the adapter's wire form and
queues it, bounded in bytes; a drainer task writes the queue to the adapter, which
waits while its socket is full. The session never touches a socket and never
blocks the event loop on the database.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from typing import Protocol

from django.conf import settings

from accounts.tokens import token_is_live
from improto import frames
from improto import vocabulary as words
from improto.conversation import read_ack
from improto.errors import (
    AUTH_TIMEOUT,
    BAD_TOKEN,
    FORBIDDEN,
    FRAME_TOO_LARGE,
    INTERNAL,
    INVALID,
    RATE_LIMITED,
    UNAUTHENTICATED,
    ProtocolError,
)
from imsite import logs, metrics
from messaging.selectors.channels import ChannelForbidden, channel_list_for_sync, channel_messages
from messaging.services.message_send import Request, SendOutcome, SendRequest
from realtime import conversation
from realtime.db import run_read
from realtime.host import SessionHost
from realtime.locator import REVOKED_TTL_S, ConnRecord, now_ms
from realtime.outgoing import Outgoing, SharedFrame, encode_for
from realtime.ratelimit import Budget, Verdict

log = logging.getLogger(__name__)

_CLOSE = object()
_counter = itertools.count(1)
# How long a closing connection may take to flush its last frames before it is cut.
CLOSE_GRACE_S = 5.0
# What one queued frame costs beyond its bytes (the object holding them, its slot).
FRAME_OVERHEAD = 64
# The drainer hands the adapter at most this much at a time.
WRITE_CHUNK = 64 * 1024
# While the socket takes data, a burst (one commit's acks and deliveries arrive
# together) may queue up to this many times IM_OUTBOUND_BYTES; once the socket is
# full, IM_OUTBOUND_BYTES is the bound.
BURST_FACTOR = 4
# WebSocket close code for a message over the size limit (RFC 6455).
CLOSE_TOO_BIG = 1009
# Extension: offline reasons of the wire contract 1.1 (docs/protocol.md, Lifecycle).
SLOW_REASON = words.SLOW
FLOOD_REASON = words.FLOOD
EXPIRED_REASON = words.EXPIRED
# What the wire's channel list carries of each channel (first_seq only when above 1).


class Adapter(Protocol):
    form: str  # the wire form frames are encoded in: "tcp", "json" or "msgpack"

    async def write(self, payloads: list[bytes | str]) -> None:
        """Write encoded frames; return once the socket can take more."""

    async def close(self, code: int = 1000) -> None: ...

    def abort(self) -> None: ...


def _limits() -> frames.Limits:
    return frames.Limits(max_text_chars=settings.IM_MAX_TEXT_CHARS)


def _budget(rate: int, burst: int) -> Budget:
    return Budget(rate, burst, flood_s=settings.IM_FLOOD_S)


class Session:
    def __init__(self, host: SessionHost, adapter: Adapter) -> None:
        self.host = host
        self.adapter = adapter
        # Unique across the cluster; says nothing of the node (records carry that).
        self.conn_id = f"{next(_counter)}.{secrets.token_hex(6)}"
        # The connection's task and all it starts log with this id.
        logs.set_connection(self.conn_id)
        self.user_id: int | None = None
        self.device: str | None = None
        self.token_key: str | None = None
        self.since = 0
        self.closing = False
        self.last_rx = time.monotonic()
        self._limits = _limits()
        # Every frame counts against the first budget; sends and syncs have budgets of
        # their own besides, so that a client catching up (re-sending what was not
        # acked, pulling what it missed) is not refused one for the other.
        self._frames = _budget(settings.IM_RATE_FRAMES_PER_S, settings.IM_RATE_FRAMES_BURST)
        self._sends = _budget(settings.IM_RATE_MSGS_PER_S, settings.IM_RATE_BURST)
        self._syncs = _budget(settings.IM_RATE_MSGS_PER_S, settings.IM_RATE_BURST)
        self._user_sends: Budget | None = None  # shared by the user's connections here
        # Frames waiting for the socket. The drainer task runs only while there are
        # some: an idle connection holds no task, no event and no deque (a plain list
        # that the drainer swaps out whole), a few KB less per connection.
        self._out: list = []
        self._out_bytes = 0
        self._out_limit = settings.IM_OUTBOUND_BYTES
        self._released = 0  # bumped when the queue is dropped: the drainer drops its part
        self._drainer: asyncio.Task | None = None
        self._blocked = False  # the drainer waits for the socket: the peer is not reading
        self._timers: list[asyncio.TimerHandle] = []
        self._last_send: asyncio.Future | None = None
        self._registered = False

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(settings.IM_AUTH_TIMEOUT_S, self._auth_timeout))

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def queued_bytes(self) -> int:
        return self._out_bytes

    def record(self) -> ConnRecord:
        expires = now_ms() + 3 * settings.IM_HEARTBEAT_S * 1000
        return ConnRecord(self.conn_id, self.host.name, self.device, self.token_key, expires,
                          self.since)

    async def flushed(self, timeout: float) -> None:
        """Wait (at most `timeout`) until the queued frames are written and, if the
        session is closing, the connection closed."""
        if self._drainer is not None and not self._drainer.done():
            await asyncio.wait([self._drainer], timeout=timeout)

    async def transport_closed(self) -> None:
        """The adapter calls this once, when the connection is gone for good."""
        self.closing = True
        self._release_queue()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
        if self._registered:
            self._registered = False
            await self.host.unregister(self)

    def close(self, *last_frames: dict, code: int = 1000) -> None:
        """Send `last_frames`, then close; cut the connection if it will not flush."""
        if self.closing:
            return
        self.closing = True
        for frame in last_frames:  # beyond the bound: a few small frames, once
            self._enqueue(encode_for(frame, self.adapter.form))
        self._out.append((_CLOSE, code))
        self._wake_drainer()
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(CLOSE_GRACE_S, self.adapter.abort))

    def go_offline(self, reason: str, reconnect: dict | None = None) -> None:
        self.close(frames.offline(reason=reason, reconnect=reconnect))

    def fail(self, error: ProtocolError) -> None:
        """Answer a protocol error; close the connection if its code says so."""
        if error.closes:
            self.close(error.to_frame(), code=CLOSE_TOO_BIG if error.code == FRAME_TOO_LARGE
                       else 1000)
        else:
            self.push(error.to_frame())

    # --- outbound -----------------------------------------------------------------

    def push(self, frame: Outgoing) -> None:
        if self.closing:
            return
        payload = encode_for(frame, self.adapter.form)
        metrics.FRAMES_OUT.inc(frame.frame["type"] if type(frame) is SharedFrame
                               else frame.get("type"))
        queued = self._out_bytes + len(payload) + FRAME_OVERHEAD
        if queued > self._out_limit and (self._blocked or queued > BURST_FACTOR * self._out_limit):
            # It does not read as fast as its frames come: it resyncs from its last
            # seq when it returns, and no one waits for it meanwhile.
            self._release_queue()
            log.info("connection %s too slow; closing it", self.conn_id)
            metrics.SLOW_CLOSES.inc()
            self.go_offline(SLOW_REASON)
            return
        self._enqueue(payload)
        self._wake_drainer()

    def _enqueue(self, payload: bytes | str) -> None:
        self._out.append(payload)
        self._out_bytes += len(payload) + FRAME_OVERHEAD

    def _release_queue(self) -> None:
        self._out = []
        self._out_bytes = 0
        self._released += 1

    def _wake_drainer(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Write what is queued, in chunks, until nothing is; then end (a push starts
        the next drainer). Frames pushed meanwhile queue behind the ones taken."""
        try:
            while self._out:
                items, self._out = self._out, []
                released = self._released
                taken = 0
                while taken < len(items):
                    batch: list[bytes | str] = []
                    size = 0
                    while taken < len(items) and size < WRITE_CHUNK:
                        item = items[taken]
                        taken += 1
                        if type(item) is tuple:  # (_CLOSE, code)
                            if batch:
                                await self.adapter.write(batch)
                            self._release_queue()
                            await self.adapter.close(item[1])
                            return
                        batch.append(item)
                        size += len(item) + FRAME_OVERHEAD
                    self._blocked = True
                    await self.adapter.write(batch)
                    self._blocked = False
                    if self._released != released:
                        break  # the queue was dropped meanwhile: so is the rest of ours
                    self._out_bytes = max(0, self._out_bytes - size)
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-write
            log.debug("writing to %s failed", self.conn_id, exc_info=True)
            self._release_queue()
            self.adapter.abort()

    # --- inbound --------------------------------------------------------------------

    async def receive(self, obj: dict) -> None:
        """Handle one decoded frame (a map) from the client."""
        if self.closing:
            return
        self.last_rx = time.monotonic()  # over budget or not, it proves liveness
        kind = obj.get("type")
        metrics.FRAMES_IN.inc(kind if type(kind) is str else None)
        if not self._admit(self._frames, obj):
            return
        if not self.authenticated and obj.get("type") != words.AUTH:
            self.fail(ProtocolError(UNAUTHENTICATED, "the first frame must be auth",
                                    frames.frame_id(obj, self._limits)))
            return
        try:
            command = frames.parse_command(obj, self._limits)
        except ProtocolError as error:
            self.fail(error)
            return
        try:
            await self._dispatch(command)
        except ProtocolError as error:
            self.fail(error)
        except Exception:
            # The database or Redis is unreachable, or a bug: the client hears of it
            # and may retry; the connection and every other one carry on.
            log.exception("frame %r on %s failed", command.id, self.conn_id)
            self.push(frames.error(code=INTERNAL, message="try again", id=command.id))

    def _admit(self, budget: Budget, obj: dict) -> bool:
        """Take one from `budget`. Over it, a frame with an id is answered
        `rate_limited` and one without is dropped; a flood closes the connection."""
        verdict = budget.take()
        if verdict is Verdict.OK:
            return True
        if verdict is Verdict.FLOOD:
            metrics.RATE_FLOOD.inc()
            log.info("connection %s kept sending over its budget; closing it", self.conn_id)
            self.go_offline(FLOOD_REASON)
            return False
        metrics.RATE_REFUSED.inc()
        frame_id = frames.frame_id(obj, self._limits)
        if frame_id is not None:
            self.push(frames.error(code=RATE_LIMITED, message="too many frames; slow down",
                                   id=frame_id))
        return False

    async def _dispatch(self, command: frames.Command) -> None:
        if isinstance(command, frames.Heartbeat):
            self.push(frames.heartbeat_reply(ts=now_ms(), id=command.id))
            await self.host.heartbeat(self)
            return
        if isinstance(command, frames.Auth):
            await self._auth(command)
            return
        if isinstance(command, conversation.COMMANDS):
            await conversation.handle(self, command)
            return
        raw = {"id": command.id}
        if isinstance(command, frames.Send):
            if self._admit(self._sends, raw) and self._admit(self._user_sends, raw):
                self._send(command)
            return
        if not self._admit(self._syncs, raw):
            return
        if isinstance(command, frames.SyncChannels):
            metrics.SYNC_CHANNELS.inc()
            await self._after_own_sends()
            channels, truncated = await run_read(channel_list_for_sync, user_id=self.user_id)
            self.push(frames.sync_channels_reply(id=command.id, channels=channels,
                                                 truncated=truncated))
        elif isinstance(command, frames.SyncRange):
            metrics.SYNC_RANGE.inc()
            await self._after_own_sends()
            try:
                page = await run_read(
                    channel_messages, user_id=self.user_id, channel=command.channel,
                    after=command.after, limit=command.limit,
                    max_bytes=settings.IM_SYNC_MAX_BYTES,
                )
            except ChannelForbidden as exc:
                raise ProtocolError(FORBIDDEN, str(exc), command.id) from None
            metrics.SYNC_MESSAGES.inc(len(page.messages))
            self.push(frames.sync_range_reply(
                id=command.id, channel=page.channel,
                messages=[m.to_frame() for m in page.messages], last_seq=page.last_seq,
                first_seq=page.first_seq,
            ))

    async def _auth(self, command: frames.Auth) -> None:
        if self.authenticated:
            raise ProtocolError(INVALID, "already authenticated", command.id)
        retry_ms = self.host.admit_auth()
        if retry_ms:
            metrics.AUTH_THROTTLED.inc()
            # The node admits authentications at a bounded rate (a dead node's users
            # must not stampede the others): come back later, through the gateway.
            self.close({**frames.error(code=RATE_LIMITED, message="too many connections "
                                       "at once; retry later", id=command.id),
                        "retry_ms": retry_ms})
            return
        checked = time.monotonic()
        identity = await self.host.authenticate(command.token)
        if self.closing:
            return
        if identity is None:
            metrics.AUTH_REFUSED.inc()
            raise ProtocolError(BAD_TOKEN, "unknown, expired or revoked token", command.id)
        self.user_id = identity.user_id
        self.token_key = identity.token_key
        self.device = command.device
        self.since = now_ms()
        try:
            registration = await self.host.register(self)
        except Exception:
            self.user_id = self.token_key = self.device = None  # still unauthenticated
            raise
        self._registered = True
        self._user_sends = registration.user_sends
        # A ban or a logout that committed after the check above and before the
        # registration found no connection to close; it marked the user in the
        # locator first, and the registration read that mark. Look at the token again
        # then (or if registering took long enough for a mark to have expired).
        slow = time.monotonic() - checked > REVOKED_TTL_S / 2
        if (registration.recently_revoked or slow) and not await run_read(
            token_is_live, user_id=self.user_id, token_key=self.token_key
        ):
            self._registered = False
            await self.host.unregister(self)
            raise ProtocolError(BAD_TOKEN, "unknown, expired or revoked token", command.id)
        if self.closing:
            return
        for timer in self._timers:
            timer.cancel()  # the auth timeout
        self._timers.clear()
        if identity.expiry_ms is not None:
            delay = max(0.0, (identity.expiry_ms - now_ms()) / 1000)
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(delay, self.go_offline, EXPIRED_REASON))
        metrics.AUTH_OK.inc()
        log.debug("authenticated user %d, device of %d characters", self.user_id,
                  len(self.device or ""))
        self.push(frames.auth_ok(
            id=command.id, user=self.user_id, device=self.device,
            heartbeat=settings.IM_HEARTBEAT_S, ts=now_ms(), node=self.host.node_id,
        ))

    def _auth_timeout(self) -> None:
        if not self.authenticated:
            self.fail(ProtocolError(AUTH_TIMEOUT, "no auth frame in time"))

    def _send(self, command: frames.Send) -> None:
        self.submit(SendRequest(
            sender_id=self.user_id, client_id=command.id, type=command.type,
            body=command.body, to=command.to, group=command.group,
        ), command.id)

    def admit_send(self, frame_id: str | None) -> bool:
        """Take one from the send budgets (the connection's and the user's)."""
        raw = {"id": frame_id}
        return self._admit(self._sends, raw) and self._admit(self._user_sends, raw)

    def submit(self, request: Request, client_id: str | None) -> None:
        """Hand a request to the batch writer; its answer is pushed once stored."""
        future = self.host.submit(request, origin=self.conn_id)
        self._last_send = future
        received = metrics.now()
        future.add_done_callback(lambda f, cid=client_id: self._stored(cid, f, received))

    def _stored(self, client_id: str | None, future: asyncio.Future[SendOutcome],
                received: float) -> None:
        if future.cancelled():
            return
        outcome = future.result()
        if outcome.refused is not None:
            refused = outcome.refused
            self.push(frames.error(code=refused.code, message=refused.message, id=client_id))
            return
        if outcome.read:
            if client_id is not None:
                self.push(read_ack(id=client_id))
            return
        stored = outcome.result.message
        self.push(frames.ack(
            id=client_id, channel=stored.channel, seq=stored.seq, ts=stored.ts,
            dup=outcome.result.dup,
        ))
        metrics.ACK_SECONDS.observe(metrics.now() - received)

    async def _after_own_sends(self) -> None:
        """A sync answers after the sends that came before it on this connection."""
        if self._last_send is not None and not self._last_send.done():
            await asyncio.wait([self._last_send])
