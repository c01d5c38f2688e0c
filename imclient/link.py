"""The connection loop: dial, authenticate, run a session, and start over.

It dials the pinned address, a redirect from an `offline` frame, or whatever
`GET /api/gateway/` names; authenticates; then runs four tasks on the connection
(read, the outbox's writes, heartbeats, sync) until one fails. When the link fails it
waits an exponential, jittered delay and dials again; an `offline` frame that ends
the session for good raises the matching SessionEnded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from typing import Protocol

from improto import vocabulary as words
from improto.errors import BAD_TOKEN, INVALID
from improto.frames import PROTOCOL_VERSION, Auth, Heartbeat, command_to_dict

from .connection import Connection, ConnectionLost, open_connection
from .errors import (
    ApiError,
    AuthError,
    Kicked,
    LoggedOut,
    NetworkError,
    Replaced,
    SessionEnded,
    TokenExpired,
)
from .models import Message
from .outbox import Outbox
from .sync import Sync

log = logging.getLogger("imclient")

# How long a failed write waits for the reader to reach the end of the stream.
CLOSE_READ_S = 1.0
_ENDING = {words.KICKED: Kicked, words.LOGOUT: LoggedOut, words.EXPIRED: TokenExpired,
           words.REPLACED: Replaced}


class Backoff:
    """Exponential delays with jitter: attempt n waits a random time in
    [d/2, d] where d = min(maximum, initial * factor**n)."""

    def __init__(self, initial: float, maximum: float, factor: float = 2.0,
                 rng: random.Random | None = None) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class _Reconnect(Exception):
    """The server asked us to go (offline rebalance/shutdown/slow...) or the token
    was refreshed: reconnect, maybe to `address`."""

    def __init__(self, reason: str, address: str | None = None, *, immediate: bool = False,
                 renew: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.address = address
        self.immediate = immediate
        self.renew = renew  # log in again first (the token expired)


class _Silent(ConnectionLost):
    """Nothing came from the server for too long: the link is dead."""


class Account(Protocol):
    """What the connection loop needs from the client that owns it."""

    token: str | None
    device: str

    @property
    def logged_out(self) -> bool: ...  # this client revoked its token

    @property
    def can_renew(self) -> bool: ...  # it holds credentials to log in again

    async def refresh_token(self) -> bool: ...

    async def gateway(self) -> object: ...  # GET /api/gateway/

    def set_status(self, state: str, **fields) -> None: ...

    def authenticated(self, user_id: int) -> None: ...

    def went_online(self, address: str) -> None: ...

    def link_lost(self) -> None: ...

    def conversation_frame(self, frame: dict) -> None: ...  # a `read` or `typing` event


class Link:
    def __init__(
        self,
        account: Account,
        *,
        outbox: Outbox,
        sync: Sync,
        backoff: Backoff,
        stats: dict[str, int],
        transport: str,
        ws_encoding: str,
        connect_timeout: float,
        heartbeat_interval: float | None,
        pinned: str | None,
    ) -> None:
        self._account = account
        self._outbox = outbox
        self._sync = sync
        self._backoff = backoff
        self._stats = stats
        self._transport = transport
        self._ws_encoding = ws_encoding
        self._connect_timeout = connect_timeout
        self._heartbeat_interval = heartbeat_interval
        self._pinned = pinned
        self._redirect: str | None = None
        self._auth_ids = itertools.count(1)
        self._user_id: int | None = None
        self.conn: Connection | None = None  # the connection while the session is up

    async def run(self) -> None:
        """Keep a session up until the server ends it for good (raises) or the task
        is cancelled."""
        while True:
            delay: float | None = None
            reason = "connection failed"
            try:
                address = await self._next_address()
                self._account.set_status("connecting", address=address)
                conn = await open_connection(address, transport=self._transport,
                                             timeout=self._connect_timeout,
                                             ws_encoding=self._ws_encoding)
                self._stats["connections"] += 1
                try:
                    await self._session(conn)
                finally:
                    conn.abort()
            except _Reconnect as request:
                reason = request.reason
                self._redirect = request.address
                if request.renew and not await self._account.refresh_token():
                    raise TokenExpired() from None
                if request.immediate or request.address or request.reason == words.REBALANCE:
                    delay = 0.0
            except (ConnectionLost, NetworkError) as error:
                reason = str(error)
            except ApiError as error:
                if error.status in (401, 403):
                    if not await self._account.refresh_token():
                        raise AuthError(f"the server refused the token: {error.body}") from None
                    delay = 0.0
                reason = str(error)
            if delay is None:
                delay = self._backoff.next()
            log.info("link down (%s); reconnecting in %.2fs", reason, delay)
            self._account.set_status("offline", reason=reason, retry_in=delay)
            if delay:
                await asyncio.sleep(delay)

    async def _next_address(self) -> str:
        if self._redirect:
            address, self._redirect = self._redirect, None
            return address
        if self._pinned:
            return self._pinned
        gateway = await self._account.gateway()
        address = gateway.get(self._transport) if isinstance(gateway, dict) else None
        if not address:
            raise NetworkError(f"the gateway names no {self._transport} address: {gateway!r}")
        return address

    async def _session(self, conn: Connection) -> None:
        """Run one connection until it fails; always ends with an exception."""
        account = self._account
        auth = Auth(id=f"a{next(self._auth_ids)}", token=account.token, device=account.device,
                    v=PROTOCOL_VERSION)
        await conn.send(command_to_dict(auth))
        try:
            ok = await asyncio.wait_for(self._await_auth(conn), self._connect_timeout)
        except TimeoutError:
            raise ConnectionLost("no answer to auth") from None
        self._user_id = ok["user"]
        account.authenticated(self._user_id)
        interval = float(ok.get("heartbeat") or 30)
        if self._heartbeat_interval:
            interval = min(interval, self._heartbeat_interval)
        tasks = [
            asyncio.create_task(self._read_loop(conn), name="imclient-read"),
            asyncio.create_task(self._outbox.run(conn), name="imclient-send"),
            asyncio.create_task(self._heartbeat_loop(conn, interval), name="imclient-beat"),
            asyncio.create_task(self._sync.run(conn, lambda: self._went_online(conn)),
                                name="imclient-sync"),
        ]
        reader = tasks[0]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            errors = [t.exception() for t in done if t.exception() is not None]
            error = errors[0] if errors else ConnectionLost("session task ended")
            if reader not in done and not isinstance(error, _Silent):
                # A write failed: the server may have said why (`offline`) just before
                # it closed, and that frame may still be unread. Read up to the end.
                with contextlib.suppress(TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(reader), CLOSE_READ_S)
            if reader.done() and not reader.cancelled():
                said = reader.exception()  # what the server said beats a failed write
                if isinstance(said, (_Reconnect, SessionEnded, AuthError)):
                    error = said
            raise error
        finally:
            self.conn = None
            account.link_lost()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._sync.connection_lost()
            self._outbox.detach(conn)

    def _went_online(self, conn: Connection) -> None:
        self._stats["sessions"] += 1
        self._backoff.reset()
        self.conn = conn
        self._account.went_online(conn.address)

    async def _await_auth(self, conn: Connection) -> dict:
        while True:
            frame = await conn.recv()
            kind = frame["type"]
            if kind == words.AUTH_OK:
                return frame
            if kind == words.OFFLINE:
                self._on_offline(frame)
            if kind == words.ERROR:
                code = frame.get("code")
                if code == BAD_TOKEN:
                    if self._account.logged_out:  # our own logout, its offline frame lost
                        raise LoggedOut()
                    if await self._account.refresh_token():
                        raise _Reconnect("token refreshed", immediate=True)
                    raise AuthError("the server refused the token (bad_token)")
                if code == INVALID:  # e.g. an unsupported protocol version: final
                    raise AuthError(f"the server refused the auth frame: {frame.get('message')}")
                raise ConnectionLost(f"auth failed: {code}: {frame.get('message')}")

    async def _read_loop(self, conn: Connection) -> None:
        while True:
            frame = await conn.recv()
            kind = frame["type"]
            if kind == words.ACK:
                self._on_ack(frame)
            elif kind == words.SYNC:
                self._sync.answered(frame)
            elif kind == words.ERROR:
                self._on_error(frame)
            elif kind == words.OFFLINE:
                self._on_offline(frame)
            elif kind in (words.READ, words.TYPING):
                self._account.conversation_frame(frame)
            elif "seq" in frame and "channel" in frame:
                self._stats["pushed"] += 1
                self._sync.received(frame)
            # heartbeat answers and frame types this client does not know: nothing to do

    async def _heartbeat_loop(self, conn: Connection, interval: float) -> None:
        dead_after = 2 * interval + 2
        tick = min(1.0, interval / 2)
        next_beat = time.monotonic() + interval
        beat = command_to_dict(Heartbeat(id=None))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.last_rx > dead_after:
                raise _Silent(f"nothing received for {dead_after:g}s")
            if now >= next_beat:
                next_beat = now + interval
                self._stats["heartbeats"] += 1
                await conn.send(beat)

    def _on_ack(self, frame: dict) -> None:
        if self._sync.answered(frame):  # a read mark's answer
            return
        pending = self._outbox.acked(frame.get("id"))
        if pending is None:
            return
        self._stats["acks"] += 1
        dup = bool(frame.get("dup"))
        if dup:
            self._stats["dup_acks"] += 1
        sent = pending.frame
        message = Message(
            type=sent["type"], id=sent["id"], channel=frame["channel"], seq=frame["seq"],
            ts=frame["ts"], sender=self._user_id, body=sent.get("body", {}), to=sent.get("to"),
            group=sent.get("group"), dup=dup, target=sent.get("target"),
        )
        self._sync.feed(message, own=True)
        if not pending.future.done():
            pending.future.set_result(message)

    def _on_error(self, frame: dict) -> None:
        frame_id = frame.get("id")
        code = str(frame.get("code"))
        text = str(frame.get("message"))
        if self._sync.refused(frame_id, code, text) or self._outbox.refused(frame_id, code, text):
            return
        log.warning("server error: %s: %s", code, text)

    def _on_offline(self, frame: dict) -> None:
        reason = str(frame.get("reason"))
        if reason == words.EXPIRED and self._account.can_renew:
            raise _Reconnect(reason, immediate=True, renew=True)
        if reason in _ENDING:
            raise _ENDING[reason]()
        reconnect = frame.get("reconnect")
        address = reconnect.get(self._transport) if isinstance(reconnect, dict) else None
        raise _Reconnect(reason, address if isinstance(address, str) else None)
