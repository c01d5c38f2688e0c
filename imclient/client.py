"""The asyncio client: one object per (user, device) that keeps a session alive.

A background task owns the link. It dials (the pinned address, a redirect from an
`offline` frame, or whatever `GET /api/gateway/` names), authenticates, re-sends every
unacknowledged message under its original client id, then catches up: the channel
list first, then each channel from the last seq the client holds. Pushes, acks and
sync pages all go through one SeqTracker, so the application sees each message once
and in seq order whichever way it arrived. When the link fails the task waits an
exponential, jittered delay and starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from improto.channels import parse_channel
from improto.conversation import READ, TYPING
from improto.errors import ProtocolError
from improto.frames import PROTOCOL_VERSION, Limits, parse_command

from .connection import Connection, ConnectionLost, open_connection, split_tcp_address
from .conversation import ConversationMixin
from .errors import (
    ApiError,
    AuthError,
    ClientClosed,
    ConnectTimeout,
    IMError,
    Kicked,
    LoggedOut,
    NetworkError,
    Replaced,
    SendFailed,
    SendTimeout,
    SessionEnded,
    TokenExpired,
)
from .models import Channel, Message, Status
from .rest import Rest
from .store import StateStore
from .tracker import SeqTracker

log = logging.getLogger("imclient")

TRANSPORTS = ("tcp", "ws")
# How long a failed write waits for the reader to reach the end of the stream.
CLOSE_READ_S = 1.0
SYNC_PAGE = 100  # small pages make progress on a link that keeps failing
# Local validation only checks the shape of a message; the server enforces its own
# (configurable) text limit.
_SHAPE_LIMITS = Limits(max_text_chars=10**7)
# Server error codes after which the same frame may simply be sent again.
_RETRYABLE = frozenset({"rate_limited", "internal"})
_ENDING = {"kicked": Kicked, "logout": LoggedOut, "expired": TokenExpired,
           "replaced": Replaced}
_END = object()  # queue sentinel: no more messages


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


class _ServerError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _PendingSend:
    __slots__ = ("frame", "future", "sent_on", "writes")

    def __init__(self, frame: dict, future: asyncio.Future) -> None:
        self.frame = frame
        self.future = future
        self.sent_on: Connection | None = None  # the connection it was last written to
        self.writes = 0


class MessageStream:
    """The async iterator returned by Client.messages()."""

    def __init__(self, client: Client, include_own: bool) -> None:
        self._client = client
        self._include_own = include_own

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        while True:
            item = await self._client._queue.get()
            message = self._client._take(item, self._include_own)
            if message is not None:
                return message


class Client(ConversationMixin):
    """An IM session for one user on one device.

    `device` names this client to the server; one live connection per
    (user, device), so two running clients must use different names. When it is
    not given it is generated (and kept in the state file when `state_path` is set).
    """

    def __init__(
        self,
        base_url: str,
        transport: str = "tcp",
        device: str | None = None,
        token: str | None = None,
        state_path: str | Path | None = None,
        *,
        ws_encoding: str = "msgpack",
        reorder_window: float = 0.3,
        resync_interval: float = 30.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 10.0,
        connect_timeout: float = 10.0,
        request_timeout: float = 20.0,
        heartbeat_interval: float | None = None,
        replay_history: bool = False,
        on_status: Callable[[Status], None] | None = None,
        seed: int | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        if ws_encoding not in ("msgpack", "json"):
            raise ValueError("ws_encoding must be 'msgpack' or 'json'")
        self.base_url = base_url
        self.transport = transport
        self.ws_encoding = ws_encoding
        self.reorder_window = reorder_window
        self.resync_interval = resync_interval
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.heartbeat_interval = heartbeat_interval
        self.replay_history = replay_history
        self._rest = Rest(base_url, timeout=request_timeout)
        self._rng = random.Random(seed)
        self._backoff = Backoff(backoff_initial, backoff_max, rng=self._rng)
        self._store = StateStore(state_path) if state_path is not None else None
        self.device = device or self._default_device()
        if not 1 <= len(self.device) <= 64:
            raise ValueError("device must be 1..64 characters")
        self._id_prefix = hashlib.blake2b(self.device.encode(), digest_size=5).hexdigest() + "-"

        self.token = token
        self.user_id: int | None = None
        self._credentials: tuple[str, str] | None = None
        self._logged_out = False

        self._tracker = SeqTracker()
        self._init_conversation()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pending: dict[str, _PendingSend] = {}
        self._own_ids: set[str] = set()  # client ids chosen by the application
        self._requests: dict[str, asyncio.Future] = {}
        self._request_ids = itertools.count(1)
        self._send_wake = asyncio.Event()
        self._sync_wake = asyncio.Event()
        self._online_event = asyncio.Event()
        self._paused_until = 0.0
        self._rate_strikes = 0
        self._pace = 0.0  # seconds between frames once the server rate-limits (0: unpaced)

        self._conn: Connection | None = None
        self._runner: asyncio.Task | None = None
        self._first_online: asyncio.Future | None = None
        self._pinned: str | None = None
        self._redirect: str | None = None
        self._state_loaded = False
        self._need_baseline = False
        self._store_marked = False
        self._closed = False
        self._ended: BaseException | None = None
        self._listeners: list[Callable[[Status], None]] = [on_status] if on_status else []
        self.status = Status("closed", reason="not connected")
        self.stats: dict[str, int] = dict.fromkeys(
            ("connections", "sessions", "pushed", "pulled", "gap_syncs", "full_syncs",
             "resent", "rate_limited", "heartbeats", "acks", "dup_acks"), 0)

    # --- identity and REST ----------------------------------------------------------

    def _default_device(self) -> str:
        if self._store is not None:
            stored = self._store.get_meta("", "device")
            if stored:
                return stored
        device = f"py-{secrets.token_hex(6)}"
        if self._store is not None:
            self._store.set_meta("", "device", device)
        return device

    async def login(self, username: str, password: str) -> dict:
        """Log in over REST; keep the token (and the credentials, to log in again
        by itself if the token expires). Returns the user object."""
        try:
            answer = await self._rest.call(
                "POST", "/api/auth/login/", body={"username": username, "password": password}
            )
        except ApiError as error:
            if error.status in (400, 401, 403):
                raise AuthError(f"login refused: {error.body}") from None
            raise
        self.token = answer["token"]
        self.user_id = answer["user"]["id"]
        self._credentials = (username, password)
        return answer["user"]

    async def logout(self) -> None:
        """Revoke the token on the server. The live session then ends with LoggedOut."""
        self._credentials = None
        self._logged_out = True
        await self.request("POST", "/api/auth/logout/")

    async def request(self, method: str, path: str, body: object = None,
                      query: dict | None = None) -> object:
        """Any REST call with this client's token (e.g. "GET", "/api/groups/")."""
        return await self._rest.call(method, path, body=body, token=self.token, query=query)

    async def history(self, channel: str, after: int = 0, limit: int = 100,
                      before: int | None = None) -> list[Message]:
        """Stored messages of `channel`, ascending by seq: those after `after`
        (exclusive), or with only `before`, the newest `limit` below it."""
        query = {"limit": limit, "before": before}
        if after or before is None:
            query["after"] = after
        page = await self.request("GET", f"/api/channels/{channel}/messages/", query=query)
        return [Message.from_frame(m) for m in page["messages"]]

    async def channels(self) -> list[Channel]:
        """The user's channels with their last seq."""
        return [Channel.from_json(c) for c in await self.request("GET", "/api/channels/")]

    async def user(self, user_id: int) -> dict:
        """The public profile of a user."""
        return await self.request("GET", f"/api/users/{user_id}/")

    # --- status ---------------------------------------------------------------------

    def add_status_listener(self, listener: Callable[[Status], None]) -> None:
        self._listeners.append(listener)

    def _set_status(self, state: str, **fields) -> None:
        self.status = Status(state, **fields)
        for listener in self._listeners:
            try:
                listener(self.status)
            except Exception:  # an application callback must not break the link
                log.exception("status listener failed")

    @property
    def online(self) -> bool:
        return self._online_event.is_set()

    async def wait_online(self, timeout: float | None = None) -> None:
        """Wait until the client is connected and caught up."""
        await asyncio.wait_for(self._online_event.wait(), timeout)

    # --- lifecycle --------------------------------------------------------------------

    async def connect(self, address: str | None = None, *, timeout: float = 30.0) -> None:
        """Connect and catch up; return once online. Keeps reconnecting afterwards.

        `address` ("host:port" for TCP, "ws://host:port/ws/" for WebSocket) pins the
        address for every reconnect; without it `GET /api/gateway/` decides each
        time. Raises AuthError for a refused token and ConnectTimeout if no session
        is established within `timeout` seconds.
        """
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._ended is not None:
            raise self._ended
        if self._runner is not None and not self._runner.done():
            raise IMError("already connected")
        if self.token is None:
            raise AuthError("no token: call login() first or pass token=")
        if address is not None:
            self._check_address(address)
        self._pinned = address
        loop = asyncio.get_running_loop()
        self._first_online = loop.create_future()
        self._runner = loop.create_task(self._run(), name="imclient-session")
        self._runner.add_done_callback(self._runner_done)
        done, _ = await asyncio.wait({self._first_online, self._runner}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._first_online in done:
            return
        if self._runner in done:
            if self._runner.cancelled():
                raise ClientClosed("the client was closed while connecting")
            raise self._runner.exception() or ClientClosed("the session ended")
        self._runner.cancel()
        await asyncio.gather(self._runner, return_exceptions=True)
        raise ConnectTimeout(f"no session within {timeout}s (last: {self.status.reason})")

    def _check_address(self, address: str) -> None:
        if self.transport == "tcp":
            split_tcp_address(address)
        elif not address.startswith(("ws://", "wss://")):
            raise ValueError(f"a WebSocket address is ws://host:port/ws/, got {address!r}")

    async def close(self) -> None:
        """Stop: drop the link, fail unfinished sends with ClientClosed, end
        `messages()`. Await your sends first if they must go out."""
        if self._closed:
            return
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        self._fail_pending(ClientClosed("the client was closed"))
        self._queue.put_nowait(_END)
        self._end_events()
        self._online_event.clear()
        self._set_status("closed")
        if self._store is not None:
            self._store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def _runner_done(self, task: asyncio.Task) -> None:
        self._online_event.clear()
        if task.cancelled():
            return
        error = task.exception() or ClientClosed("the session ended")
        if not isinstance(error, IMError):
            log.error("the session task failed", exc_info=error)
        self._ended = error
        self._fail_pending(error)
        self._queue.put_nowait(_END)
        self._end_events()
        reason = error.reason if isinstance(error, SessionEnded) else str(error)
        self._set_status("ended", reason=reason)

    def _fail_pending(self, error: BaseException) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
                pending.future.exception()  # retrieved: nobody may be waiting any more
        self._pending.clear()

    # --- receiving --------------------------------------------------------------------

    def messages(self, *, include_own: bool = False) -> MessageStream:
        """Every message of the user's channels, once each, in seq order per channel.

        Messages this client sent are left out unless `include_own` is set (then
        the iterator gives the channels' complete sequence). Ends when the client
        is closed; raises the SessionEnded (or AuthError) that ended the session.
        With a state file, a message counts as seen once it has been handed out.
        Cancelling a wait on the iterator (e.g. with asyncio.wait_for) loses nothing.
        """
        return MessageStream(self, include_own)

    def _take(self, item: object, include_own: bool) -> Message | None:
        """One queue item for an iterator: the message to yield, None to skip it;
        raises StopAsyncIteration or the session's end."""
        if item is _END or self._closed:
            self._queue.put_nowait(_END)  # every other iterator ends too
            if self._ended is not None and not self._closed:
                raise self._ended
            raise StopAsyncIteration
        message, own = item
        if self._store is not None and self.user_id is not None:
            self._store.save(self.user_id, message.channel, message.seq)
        if own and not include_own:
            return None
        return message

    # --- sending ----------------------------------------------------------------------

    def _new_client_id(self) -> str:
        return self._id_prefix + uuid.uuid4().hex

    async def send(
        self,
        *,
        type: str,
        body: dict,
        to: int | None = None,
        group: int | None = None,
        client_id: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send a message; return it as stored (with .channel .seq .ts) once acked.

        Until the ack arrives the frame is re-sent, under the same client id, on
        every new connection and after `rate_limited`; the server stores it once.
        Raises SendFailed if the server refuses it, SendTimeout after `timeout`.
        """
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._ended is not None:
            raise self._ended
        if (to is None) == (group is None):
            raise ValueError("give exactly one of to= and group=")
        frame: dict = {"type": type}
        frame.update({"to": to} if to is not None else {"group": group})
        frame["body"] = dict(body)
        return await self._send_frame(frame, client_id, timeout)

    async def _send_frame(self, frame: dict, client_id: str | None,
                          timeout: float | None) -> Message:
        """Send a content frame (its `id` added) until acked; see `send`."""
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._ended is not None:
            raise self._ended
        client_id = client_id or self._new_client_id()
        frame = {**frame, "id": client_id}
        try:
            parse_command(frame, _SHAPE_LIMITS)
        except ProtocolError as error:
            raise SendFailed(error.code, error.message, client_id) from None
        pending = self._pending.get(client_id)
        if pending is None:
            pending = _PendingSend(frame, asyncio.get_running_loop().create_future())
            self._pending[client_id] = pending
            if not client_id.startswith(self._id_prefix):
                self._own_ids.add(client_id)
            self._send_wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            self._abandon(client_id, pending)
            raise SendTimeout(client_id) from None
        except asyncio.CancelledError:
            self._abandon(client_id, pending)
            raise

    def _abandon(self, client_id: str, pending: _PendingSend) -> None:
        if self._pending.get(client_id) is pending and not pending.future.done():
            del self._pending[client_id]
            pending.future.cancel()

    async def send_text(self, *, text: str, to: int | None = None, group: int | None = None,
                        client_id: str | None = None, timeout: float | None = None) -> Message:
        return await self.send(type="text", body={"text": text}, to=to, group=group,
                               client_id=client_id, timeout=timeout)

    # --- the session loop -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            delay: float | None = None
            reason = "connection failed"
            try:
                address = await self._next_address()
                self._set_status("connecting", address=address)
                conn = await open_connection(address, transport=self.transport,
                                             timeout=self.connect_timeout,
                                             ws_encoding=self.ws_encoding)
                self.stats["connections"] += 1
                try:
                    await self._session(conn)
                finally:
                    conn.abort()
            except _Reconnect as request:
                reason = request.reason
                self._redirect = request.address
                if request.renew and not await self._refresh_token():
                    raise TokenExpired() from None
                if request.immediate or request.address or request.reason == "rebalance":
                    delay = 0.0
            except (ConnectionLost, NetworkError) as error:
                reason = str(error)
            except ApiError as error:
                if error.status in (401, 403):
                    if not await self._refresh_token():
                        raise AuthError(f"the server refused the token: {error.body}") from None
                    delay = 0.0
                reason = str(error)
            if delay is None:
                delay = self._backoff.next()
            log.info("link down (%s); reconnecting in %.2fs", reason, delay)
            self._set_status("offline", reason=reason, retry_in=delay)
            if delay:
                await asyncio.sleep(delay)

    async def _next_address(self) -> str:
        if self._redirect:
            address, self._redirect = self._redirect, None
            return address
        if self._pinned:
            return self._pinned
        gateway = await self.request("GET", "/api/gateway/")
        address = gateway.get(self.transport) if isinstance(gateway, dict) else None
        if not address:
            raise NetworkError(f"the gateway names no {self.transport} address: {gateway!r}")
        return address

    async def _refresh_token(self) -> bool:
        if self._credentials is None:
            return False
        try:
            await self.login(*self._credentials)
        except AuthError:
            return False
        return True

    async def _session(self, conn: Connection) -> None:
        """Run one connection until it fails; always ends with an exception."""
        auth_id = f"a{next(self._request_ids)}"
        await conn.send({"type": "auth", "id": auth_id, "token": self.token,
                         "device": self.device, "v": PROTOCOL_VERSION})
        try:
            ok = await asyncio.wait_for(self._await_auth(conn), self.connect_timeout)
        except TimeoutError:
            raise ConnectionLost("no answer to auth") from None
        self.user_id = ok["user"]
        self._load_state()
        interval = float(ok.get("heartbeat") or 30)
        if self.heartbeat_interval:
            interval = min(interval, self.heartbeat_interval)
        self._conn = conn
        tasks = [
            asyncio.create_task(self._read_loop(conn), name="imclient-read"),
            asyncio.create_task(self._send_loop(conn), name="imclient-send"),
            asyncio.create_task(self._heartbeat_loop(conn, interval), name="imclient-beat"),
            asyncio.create_task(self._sync_loop(conn), name="imclient-sync"),
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
            self._conn = None
            self._online_event.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for future in self._requests.values():
                if not future.done():
                    future.set_exception(ConnectionLost("connection lost"))
                    future.exception()
            self._requests.clear()
            for pending in self._pending.values():
                if pending.sent_on is conn:
                    pending.sent_on = None

    async def _await_auth(self, conn: Connection) -> dict:
        while True:
            frame = await conn.recv()
            kind = frame["type"]
            if kind == "auth_ok":
                return frame
            if kind == "offline":
                self._on_offline(frame)
            if kind == "error":
                code = frame.get("code")
                if code == "bad_token":
                    if self._logged_out:  # our own logout, its offline frame lost
                        raise LoggedOut()
                    if await self._refresh_token():
                        raise _Reconnect("token refreshed", immediate=True)
                    raise AuthError("the server refused the token (bad_token)")
                if code == "invalid":  # e.g. an unsupported protocol version: final
                    raise AuthError(f"the server refused the auth frame: {frame.get('message')}")
                raise ConnectionLost(f"auth failed: {code}: {frame.get('message')}")

    def _load_state(self) -> None:
        if self._state_loaded:
            return
        self._state_loaded = True
        if self._store is not None and self._store.initialized(self.user_id):
            for channel, seq in self._store.positions(self.user_id).items():
                self._tracker.advance_to(channel, seq)
        else:
            self._need_baseline = not self.replay_history

    # --- the four tasks of a session --------------------------------------------------

    async def _read_loop(self, conn: Connection) -> None:
        while True:
            frame = await conn.recv()
            kind = frame["type"]
            if kind == "ack":
                self._on_ack(frame)
            elif kind == "sync":
                self._resolve(frame.get("id"), frame)
            elif kind == "error":
                self._on_error(frame)
            elif kind == "offline":
                self._on_offline(frame)
            elif kind in (READ, TYPING):
                self._on_conversation_frame(frame)
            elif "seq" in frame and "channel" in frame:
                self.stats["pushed"] += 1
                self._on_message(frame)
            # heartbeat answers and frame types this client does not know: nothing to do

    async def _send_loop(self, conn: Connection) -> None:
        while True:
            self._send_wake.clear()
            wait = self._paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            due = [p for p in self._pending.values() if p.sent_on is not conn]
            if not due:
                await self._send_wake.wait()
                continue
            for pending in due:
                if self._paused_until > time.monotonic():
                    break
                if pending.sent_on is conn or pending.future.done():
                    continue
                if pending.writes:
                    self.stats["resent"] += 1
                pending.writes += 1
                pending.sent_on = conn
                await conn.send(pending.frame)
                if self._pace:
                    await asyncio.sleep(self._pace)

    async def _heartbeat_loop(self, conn: Connection, interval: float) -> None:
        dead_after = 2 * interval + 2
        tick = min(1.0, interval / 2)
        next_beat = time.monotonic() + interval
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.last_rx > dead_after:
                raise _Silent(f"nothing received for {dead_after:g}s")
            if now >= next_beat:
                next_beat = now + interval
                self.stats["heartbeats"] += 1
                await conn.send({"type": "heartbeat"})

    async def _sync_loop(self, conn: Connection) -> None:
        await self._full_sync(conn)
        self._went_online(conn)
        next_resync = time.monotonic() + self.resync_interval
        while True:
            self._sync_wake.clear()
            for channel in self._tracker.gaps(self.reorder_window):
                self.stats["gap_syncs"] += 1
                await self._pull(conn, channel)
            if time.monotonic() >= next_resync:
                await self._full_sync(conn)
                next_resync = time.monotonic() + self.resync_interval
            deadline = next_resync
            gap_deadline = self._tracker.next_gap_deadline(self.reorder_window)
            if gap_deadline is not None:
                deadline = min(deadline, gap_deadline)
            try:
                await asyncio.wait_for(self._sync_wake.wait(),
                                       max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                pass

    def _went_online(self, conn: Connection) -> None:
        self.stats["sessions"] += 1
        self._backoff.reset()
        self._online_event.set()
        self._set_status("online", address=conn.address)
        if self._first_online is not None and not self._first_online.done():
            self._first_online.set_result(None)

    # --- sync -------------------------------------------------------------------------

    async def _request(self, conn: Connection, frame: dict) -> dict:
        """Send a request frame and wait for its answer (retrying `rate_limited`)."""
        while True:
            request_id = f"s{next(self._request_ids)}"
            future = asyncio.get_running_loop().create_future()
            self._requests[request_id] = future
            try:
                await conn.send({**frame, "id": request_id})
                return await asyncio.wait_for(future, self.request_timeout)
            except TimeoutError:
                raise ConnectionLost(f"no answer to {frame['type']} in time") from None
            except _ServerError as error:
                if error.code not in _RETRYABLE:
                    raise
                await asyncio.sleep(self._pause_delay())
            finally:
                self._requests.pop(request_id, None)

    def _resolve(self, request_id: object, frame: dict) -> None:
        future = self._requests.get(request_id)
        if future is not None and not future.done():
            future.set_result(frame)

    async def _full_sync(self, conn: Connection) -> None:
        """The channel list, then every channel that has more than the client holds."""
        self.stats["full_syncs"] += 1
        reply = await self._request(conn, {"type": "sync"})
        listed = {c["channel"]: c["last_seq"] for c in reply.get("channels") or []}
        self._on_channel_list(reply.get("channels") or [])
        if self._need_baseline:
            # A first start without state: what is already stored counts as read.
            for channel, last_seq in listed.items():
                self._emit(self._tracker.advance_to(channel, last_seq))
            self._need_baseline = False
            if self._store is not None:
                self._store.save_many(self.user_id, listed)
        if self._store is not None and not self._store_marked:
            self._store.mark_initialized(self.user_id)
            self._store_marked = True
        for channel, last_seq in listed.items():
            if last_seq > self._tracker.position(channel):
                await self._pull(conn, channel)

    async def _pull(self, conn: Connection, channel: str) -> None:
        """Fetch `channel` from the last contiguous seq held up to its last seq."""
        while True:
            after = self._tracker.position(channel)
            try:
                reply = await self._request(conn, {"type": "sync", "channel": channel,
                                                   "after": after, "limit": SYNC_PAGE})
            except _ServerError as error:
                log.warning("cannot sync %s: %s", channel, error)
                if error.code in ("forbidden", "not_found", "invalid"):
                    self._tracker.forget(channel)  # no longer a member
                return
            messages = reply.get("messages") or []
            self.stats["pulled"] += len(messages)
            for frame in messages:
                self._on_message(frame)
            position = self._tracker.position(channel)
            if not messages or position >= reply.get("last_seq", 0) or position == after:
                break
        if self._tracker.has_gap(channel):
            # Still a hole after a complete pull (the server had not got that far
            # yet): wait another window instead of pulling in a loop.
            self._tracker.restart_gap(channel)

    # --- frame handlers ---------------------------------------------------------------

    def _on_message(self, frame: dict) -> None:
        try:
            message = Message.from_frame(frame)
            parse_channel(message.channel)
            if type(message.seq) is not int or message.seq < 1:
                raise ValueError("bad seq")
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed message frame: %r", frame)
            return
        own = message.sender == self.user_id and (
            message.id.startswith(self._id_prefix) or message.id in self._own_ids
        )
        self._feed(message, own)

    def _feed(self, message: Message, own: bool) -> None:
        self._emit(self._tracker.offer(message, own))
        if self._tracker.has_gap(message.channel):
            self._sync_wake.set()

    def _emit(self, released: list) -> None:
        for item in released:
            self._on_released(item[0])
            self._queue.put_nowait(item)

    def _on_ack(self, frame: dict) -> None:
        if frame.get("id") in self._requests:  # a read mark's answer
            self._resolve(frame.get("id"), frame)
            return
        pending = self._pending.pop(frame.get("id"), None)
        if pending is None:
            return
        self.stats["acks"] += 1
        dup = bool(frame.get("dup"))
        if dup:
            self.stats["dup_acks"] += 1
        self._rate_strikes = 0
        if self._pace:
            self._pace = 0.0 if self._pace < 0.002 else self._pace * 0.97
        sent = pending.frame
        message = Message(
            type=sent["type"], id=sent["id"], channel=frame["channel"], seq=frame["seq"],
            ts=frame["ts"], sender=self.user_id, body=sent.get("body", {}), to=sent.get("to"),
            group=sent.get("group"), dup=dup, target=sent.get("target"),
        )
        self._feed(message, own=True)
        if not pending.future.done():
            pending.future.set_result(message)

    def _on_error(self, frame: dict) -> None:
        frame_id = frame.get("id")
        code = str(frame.get("code"))
        text = str(frame.get("message"))
        if frame_id in self._requests:
            future = self._requests[frame_id]
            if not future.done():
                future.set_exception(_ServerError(code, text))
            return
        pending = self._pending.get(frame_id)
        if pending is None:
            log.warning("server error: %s: %s", code, text)
            return
        if code in _RETRYABLE:
            if code == "rate_limited":
                self.stats["rate_limited"] += 1
            pending.sent_on = None
            if self._paused_until <= time.monotonic():
                # The frames already on their way will be refused too: count one
                # strike per pause. Afterwards frames go out paced, the pace easing
                # with every ack (additive increase, multiplicative decrease).
                self._paused_until = time.monotonic() + self._pause_delay()
                self._pace = min(1.0, max(0.02, self._pace * 2))
            self._send_wake.set()
            return
        del self._pending[frame_id]
        if not pending.future.done():
            pending.future.set_exception(SendFailed(code, text, frame_id))

    def _pause_delay(self) -> float:
        self._rate_strikes += 1
        ceiling = min(5.0, 0.1 * 2 ** min(self._rate_strikes, 6))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _on_offline(self, frame: dict) -> None:
        reason = str(frame.get("reason"))
        if reason == "expired" and self._credentials is not None:
            raise _Reconnect(reason, immediate=True, renew=True)
        if reason in _ENDING:
            raise _ENDING[reason]()
        reconnect = frame.get("reconnect")
        address = reconnect.get(self.transport) if isinstance(reconnect, dict) else None
        raise _Reconnect(reason, address if isinstance(address, str) else None)
