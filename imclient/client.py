"""The asyncio client: one object per (user, device) that keeps a session alive.

A thin facade over three parts: the connection loop (link.py: dial, authenticate,
run the session, reconnect with backoff), the outbox (outbox.py: sends re-sent
under their client id until acked) and sync (sync.py: one SeqTracker for pushes,
acks and sync pages, so the application sees each message once and in seq order
whichever way it arrived, and holes are pulled). This module holds the public API:
REST calls, status, connect/close, send and the message iterator.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from improto.errors import ProtocolError
from improto.frames import Limits, Send, command_to_dict, parse_command
from improto.vocabulary import TEXT

from .account import AccountControl, login_body
from .connection import Connection, split_tcp_address
from .conversation import ConversationMixin
from .errors import (
    ApiError,
    AuthError,
    ClientClosed,
    ConnectTimeout,
    IMError,
    SendFailed,
    SendTimeout,
    SessionEnded,
)
from .link import Backoff, Link
from .models import Channel, Message, Status
from .outbox import Outbox, PendingSend
from .rest import Rest
from .store import StateStore
from .sync import Sync

__all__ = ["TRANSPORTS", "Backoff", "Client", "MessageStream"]

log = logging.getLogger("imclient")

TRANSPORTS = ("tcp", "ws")
# Local validation only checks the shape of a message; the server enforces its own
# (configurable) text limit.
_SHAPE_LIMITS = Limits(max_text_chars=10**7)
_END = object()  # queue sentinel: no more messages


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


class Client(AccountControl, ConversationMixin):
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

        self.token = token
        self.user_id: int | None = None
        self._credentials: tuple[str, str] | None = None
        self._logged_out = False

        self.stats: dict[str, int] = dict.fromkeys(
            ("connections", "sessions", "pushed", "pulled", "gap_syncs", "full_syncs",
             "resent", "rate_limited", "heartbeats", "acks", "dup_acks", "removed_skipped",
             "channel_list_partial"), 0)
        id_prefix = hashlib.blake2b(self.device.encode(), digest_size=5).hexdigest() + "-"
        self._outbox = Outbox(id_prefix=id_prefix, rng=self._rng, stats=self.stats)
        self._sync = Sync(
            store=self._store,
            stats=self.stats,
            is_own=self._is_own,
            retry_delay=self._outbox.pause_delay,
            reorder_window=reorder_window,
            resync_interval=resync_interval,
            request_timeout=request_timeout,
            replay_history=replay_history,
            on_channel_list=self._on_channel_list,
            on_released=self._on_released,
            list_all_channels=lambda: self.request("GET", "/api/channels/"),
        )
        self._init_conversation()
        self._link: Link | None = None
        self._online_event = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._first_online: asyncio.Future | None = None
        self._closed = False
        self._ended: BaseException | None = None
        self._listeners: list[Callable[[Status], None]] = [on_status] if on_status else []
        self.status = Status("closed", reason="not connected")

    @property
    def _pending(self) -> dict[str, PendingSend]:
        """The sends not yet acknowledged, by client id."""
        return self._outbox.pending

    @property
    def _queue(self) -> asyncio.Queue:
        """What the message iterators read: released messages, then the end."""
        return self._sync.queue

    def _is_own(self, message: Message) -> bool:
        return message.sender == self.user_id and self._outbox.is_own(message.id)

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
                "POST", "/api/auth/login/", body=login_body(username, password, self.device)
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

    async def _refresh_token(self) -> bool:
        """Log in again with the credentials given to login(), if any."""
        if self._credentials is None:
            return False
        try:
            await self.login(*self._credentials)
        except AuthError:
            return False
        return True

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
        link = Link(_Account(self), outbox=self._outbox, sync=self._sync, backoff=self._backoff,
                    stats=self.stats, transport=self.transport, ws_encoding=self.ws_encoding,
                    connect_timeout=self.connect_timeout,
                    heartbeat_interval=self.heartbeat_interval, pinned=address)
        loop = asyncio.get_running_loop()
        self._first_online = loop.create_future()
        self._link = link
        self._runner = loop.create_task(link.run(), name="imclient-session")
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
        self._outbox.fail_all(ClientClosed("the client was closed"))
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
        self._outbox.fail_all(error)
        self._queue.put_nowait(_END)
        self._end_events()
        reason = error.reason if isinstance(error, SessionEnded) else str(error)
        self._set_status("ended", reason=reason)

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
        return self._outbox.id_prefix + uuid.uuid4().hex

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
        client_id = client_id or self._new_client_id()
        frame = command_to_dict(Send(id=client_id, type=type, to=to, group=group, body=body))
        return await self._submit(frame, timeout)

    @property
    def _conn(self) -> Connection | None:
        """The connection while online (for frames that are not retried: typing)."""
        return self._link.conn if self._link is not None else None

    async def _submit(self, frame: dict, timeout: float | None) -> Message:
        """Send a content frame until acked under its id; see `send`."""
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._ended is not None:
            raise self._ended
        client_id = frame["id"]
        try:
            parse_command(frame, _SHAPE_LIMITS)
        except ProtocolError as error:
            raise SendFailed(error.code, error.message, client_id) from None
        pending = self._outbox.add(client_id, frame)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            self._outbox.abandon(client_id, pending)
            raise SendTimeout(client_id) from None
        except asyncio.CancelledError:
            self._outbox.abandon(client_id, pending)
            raise

    async def send_text(self, *, text: str, to: int | None = None, group: int | None = None,
                        client_id: str | None = None, timeout: float | None = None) -> Message:
        return await self.send(type=TEXT, body={"text": text}, to=to, group=group,
                               client_id=client_id, timeout=timeout)


class _Account:
    """The client as its connection loop sees it (link.Account): kept apart so the
    facade's public API stays the application's."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def token(self) -> str | None:
        return self._client.token

    @property
    def device(self) -> str:
        return self._client.device

    @property
    def logged_out(self) -> bool:
        return self._client._logged_out

    @property
    def can_renew(self) -> bool:
        return self._client._credentials is not None

    async def refresh_token(self) -> bool:
        return await self._client._refresh_token()

    async def gateway(self) -> object:
        return await self._client.request("GET", "/api/gateway/")

    def authenticated(self, user_id: int) -> None:
        self._client.user_id = user_id
        self._client._sync.load_state(user_id)

    def went_online(self, address: str) -> None:
        client = self._client
        client._online_event.set()
        client._set_status("online", address=address)
        if client._first_online is not None and not client._first_online.done():
            client._first_online.set_result(None)

    def link_lost(self) -> None:
        self._client._online_event.clear()

    def conversation_frame(self, frame: dict) -> None:
        self._client._on_conversation_frame(frame)

    def set_status(self, state: str, **fields) -> None:
        self._client._set_status(state, **fields)
