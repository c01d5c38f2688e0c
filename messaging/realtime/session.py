"""One client connection's protocol logic, written once for every transport.

A transport adapter decodes frames into maps and calls `receive`; the session
answers through `push`, which feeds a bounded outbound queue that the session
drains into the adapter. The session never touches a socket and never blocks the
event loop on the database.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from accounts.tokens import authenticate_token
from improto import frames
from improto.errors import ProtocolError
from messaging.realtime.db import run_read
from messaging.realtime.locator import ConnRecord
from messaging.realtime.outgoing import Outgoing
from messaging.realtime.ratelimit import TokenBucket
from messaging.selectors.channels import ChannelForbidden, channel_list, channel_messages
from messaging.services.message_send import SendOutcome, SendRequest

if TYPE_CHECKING:
    from messaging.realtime.node import Node

log = logging.getLogger(__name__)

_CLOSE = object()
_counter = itertools.count(1)
# How long a closing connection may take to flush its last frames before it is cut.
CLOSE_GRACE_S = 5.0
# Frames a connection may have queued beyond IM_OUTBOUND_QUEUE while its socket is
# still taking data: one commit's acks and deliveries arrive together.
BURST = 2048
# Extension: the offline reason sent to a connection that cannot keep up.
SLOW_REASON = "slow"


class Adapter(Protocol):
    async def write(self, frames: list[Outgoing]) -> None: ...

    async def close(self) -> None: ...

    def abort(self) -> None: ...


def _limits() -> frames.Limits:
    return frames.Limits(max_text_chars=settings.IM_MAX_TEXT_CHARS)


class Session:
    def __init__(self, node: Node, adapter: Adapter, *, transport: str) -> None:
        self.node = node
        self.adapter = adapter
        self.transport = transport
        self.conn_id = f"{node.name}#{next(_counter)}"
        self.user_id: int | None = None
        self.device: str | None = None
        self.token_key: str | None = None
        self.closing = False
        self.last_rx = time.monotonic()
        self._limits = _limits()
        # Sends and syncs have budgets of their own, so that a client catching up
        # (re-sending what was not acked, pulling what it missed) is not refused one
        # for the other.
        self._send_bucket = TokenBucket(settings.IM_RATE_MSGS_PER_S, settings.IM_RATE_BURST)
        self._sync_bucket = TokenBucket(settings.IM_RATE_MSGS_PER_S, settings.IM_RATE_BURST)
        self._out: deque = deque()
        self._out_limit = settings.IM_OUTBOUND_QUEUE
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task | None = None
        self._blocked = False  # the drainer waits on a write: the peer is not reading
        self._auth_timer: asyncio.TimerHandle | None = None
        self._last_send: asyncio.Future | None = None
        self._registered = False

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._drainer = loop.create_task(self._drain(), name=f"im-out-{self.conn_id}")
        self._auth_timer = loop.call_later(settings.IM_AUTH_TIMEOUT_S, self._auth_timeout)

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def record(self) -> ConnRecord:
        expires = time.time_ns() // 1_000_000 + 3 * settings.IM_HEARTBEAT_S * 1000
        return ConnRecord(self.conn_id, self.node.name, self.device, self.token_key, expires)

    async def flushed(self, timeout: float) -> None:
        """Wait (at most `timeout`) until the queued frames are written and, if the
        session is closing, the connection closed."""
        if self._drainer is not None and not self._drainer.done():
            await asyncio.wait([self._drainer], timeout=timeout)

    async def transport_closed(self) -> None:
        """The adapter calls this once, when the connection is gone for good."""
        self.closing = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
        if self._registered:
            self._registered = False
            await self.node.unregister(self)

    def close(self, *last_frames: dict) -> None:
        """Send `last_frames`, then close; cut the connection if it will not flush."""
        if self.closing:
            return
        self.closing = True
        self._out.extend(last_frames)
        self._out.append(_CLOSE)
        self._wake.set()
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, self.adapter.abort)

    def go_offline(self, reason: str, reconnect: dict | None = None) -> None:
        self.close(frames.offline(reason=reason, reconnect=reconnect))

    def fail(self, error: ProtocolError) -> None:
        """Answer a protocol error; close the connection if its code says so."""
        if error.closes:
            self.close(error.to_frame())
        else:
            self.push(error.to_frame())

    # --- outbound -----------------------------------------------------------------

    def push(self, frame: Outgoing) -> None:
        if self.closing:
            return
        queued = len(self._out)
        if (queued >= self._out_limit and self._blocked) or queued >= self._out_limit + BURST:
            # It cannot keep up (its socket is full and the queue too): it resyncs
            # from its last seq when it returns, and no one waits for it meanwhile.
            # A full queue alone is a burst (a batch's acks arrive together), not
            # a slow client.
            self._out.clear()
            log.info("connection %s too slow; closing it", self.conn_id)
            self.go_offline(SLOW_REASON)
            return
        self._out.append(frame)
        self._wake.set()

    async def _drain(self) -> None:
        try:
            while True:
                if not self._out:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = []
                while self._out and len(batch) < 64:
                    frame = self._out.popleft()
                    if frame is _CLOSE:
                        if batch:
                            await self.adapter.write(batch)
                        await self.adapter.close()
                        return
                    batch.append(frame)
                self._blocked = True
                await self.adapter.write(batch)
                self._blocked = False
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away mid-write
            log.debug("writing to %s failed", self.conn_id, exc_info=True)
            self.adapter.abort()

    # --- inbound --------------------------------------------------------------------

    async def receive(self, obj: dict) -> None:
        """Handle one decoded frame (a map) from the client."""
        if self.closing:
            return
        self.last_rx = time.monotonic()
        if not self.authenticated and obj.get("type") != "auth":
            frame_id = obj.get("id") if isinstance(obj.get("id"), str) else None
            self.fail(ProtocolError("unauthenticated", "the first frame must be auth", frame_id))
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
            self.push(frames.error(code="internal", message="try again", id=command.id))

    async def _dispatch(self, command: frames.Command) -> None:
        if isinstance(command, frames.Heartbeat):
            self.push(frames.heartbeat_reply(ts=_now_ms(), id=command.id))
            await self.node.heartbeat(self)
            return
        if isinstance(command, frames.Auth):
            await self._auth(command)
            return
        bucket = self._send_bucket if isinstance(command, frames.Send) else self._sync_bucket
        if not bucket.take():
            raise ProtocolError("rate_limited", "too many frames; slow down", command.id)
        if isinstance(command, frames.Send):
            self._send(command)
        elif isinstance(command, frames.SyncChannels):
            await self._after_own_sends()
            channels = await run_read(channel_list, user_id=self.user_id)
            self.push(frames.sync_channels_reply(
                id=command.id,
                channels=[{"channel": c["channel"], "last_seq": c["last_seq"]} for c in channels],
            ))
        elif isinstance(command, frames.SyncRange):
            await self._after_own_sends()
            try:
                page = await run_read(
                    channel_messages, user_id=self.user_id, channel=command.channel,
                    after=command.after, limit=command.limit,
                )
            except ChannelForbidden as exc:
                raise ProtocolError("forbidden", str(exc), command.id) from None
            self.push(frames.sync_range_reply(
                id=command.id, channel=page.channel,
                messages=[m.to_frame() for m in page.messages], last_seq=page.last_seq,
            ))

    async def _auth(self, command: frames.Auth) -> None:
        if self.authenticated:
            raise ProtocolError("invalid", "already authenticated", command.id)
        identity = await run_read(authenticate_token, command.token)
        if self.closing:
            return
        if identity is None:
            raise ProtocolError("bad_token", "unknown, expired or revoked token", command.id)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.user_id = identity.user_id
        self.token_key = identity.token_key
        self.device = command.device
        try:
            await self.node.register(self)
        except Exception:
            self.user_id = self.token_key = self.device = None  # still unauthenticated
            raise
        self._registered = True
        self.push(frames.auth_ok(
            id=command.id, user=self.user_id, device=self.device,
            heartbeat=settings.IM_HEARTBEAT_S, ts=_now_ms(),
        ))

    def _auth_timeout(self) -> None:
        if not self.authenticated:
            self.fail(ProtocolError("auth_timeout", "no auth frame in time"))

    def _send(self, command: frames.Send) -> None:
        request = SendRequest(
            sender_id=self.user_id, client_id=command.id, type=command.type,
            body=command.body, to=command.to, group=command.group,
        )
        future = self.node.submit(request, origin=self.conn_id)
        self._last_send = future
        future.add_done_callback(lambda f, cid=command.id: self._stored(cid, f))

    def _stored(self, client_id: str, future: asyncio.Future[SendOutcome]) -> None:
        if future.cancelled():
            return
        outcome = future.result()
        if outcome.refused is not None:
            refused = outcome.refused
            self.push(frames.error(code=refused.code, message=refused.message, id=client_id))
            return
        stored = outcome.result.message
        self.push(frames.ack(
            id=client_id, channel=stored.channel, seq=stored.seq, ts=stored.ts,
            dup=outcome.result.dup,
        ))

    async def _after_own_sends(self) -> None:
        """A sync answers after the sends that came before it on this connection."""
        if self._last_send is not None and not self._last_send.done():
            await asyncio.wait([self._last_send])


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
