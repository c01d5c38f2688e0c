"""The WebSocket adapter at /ws/: text frames carry JSON, binary frames MessagePack.

A plain Channels consumer with no channel-layer channel of its own (the node
receives for every connection of the process).
"""

from __future__ import annotations

import asyncio

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer
from django.conf import settings

from improto.codec import decode_payload
from improto.errors import BAD_FRAME, FRAME_TOO_LARGE, ProtocolError
from realtime.runtime import wait_for_node
from realtime.session import Session
from realtime.transport.ws_protocol import SCOPE_KEY, WsLink


class WebSocketAdapter(AsyncConsumer):
    channel_layer_alias = "im-no-layer"  # not configured: no per-connection layer channel

    session: Session | None = None
    encoding: str | None = None  # set by the first frame (auth): replies use the same
    close_sent = False

    async def __call__(self, scope, receive, send) -> None:
        # One source of events (the client; no channel layer): read it directly.
        # Channels' own loop (await_many_dispatch) makes a task and an asyncio.wait for
        # every frame, and keeps them for every idle connection.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message) -> None:
        # Channels' dispatch first hops to a thread to close stale database
        # connections; this adapter never touches the ORM (the session runs its
        # queries on threads of its own), so every frame skips that round trip.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    @property
    def form(self) -> str:
        """Whole WebSocket frames, in the encoding of the client's first frame."""
        return "ws-msgpack" if self.encoding == "msgpack" else "ws-json"

    async def websocket_connect(self, message) -> None:
        await self.send({"type": "websocket.accept"})
        node = await wait_for_node()
        self.session = Session(node, self)
        self.session.start()

    async def websocket_receive(self, message) -> None:
        session = self.session
        if session is None or session.closing:
            return
        if message.get("bytes") is not None:
            data, encoding = message["bytes"], "msgpack"
            size = len(data)
        else:
            data, encoding = message.get("text") or "", "json"
            size = len(data.encode("utf-8", "surrogatepass"))
        if self.encoding is None:
            self.encoding = encoding
        try:
            if size > settings.IM_MAX_FRAME_BYTES:
                raise ProtocolError(FRAME_TOO_LARGE, f"a frame is at most "
                                    f"{settings.IM_MAX_FRAME_BYTES} bytes")
            if size == 0:
                raise ProtocolError(BAD_FRAME, "empty frame")
            obj = decode_payload(data, encoding)
        except ProtocolError as error:
            session.fail(error)
            return
        await session.receive(obj)

    async def websocket_disconnect(self, message) -> None:
        if self.session is not None:
            await self.session.transport_closed()
        raise StopConsumer()

    # --- the session's adapter interface ------------------------------------------------

    @property
    def link(self) -> WsLink | None:
        return self.scope.get(SCOPE_KEY)

    async def write(self, payloads: list[bytes]) -> None:
        """Write whole WebSocket frames (the session queues them framed: a frame fanned
        out to many connections is framed once), straight to the socket, in order with
        what goes through ASGI (both write synchronously)."""
        link = self.link
        if link is None or not link.write_frames(b"".join(payloads)):
            return  # closing or closed: dropped, as an ASGI send would be
        if not link.gate.is_open:
            # The socket's buffer is full: what waits stays in the session's queue,
            # counted against its bound, not in Twisted's.
            await link.gate.wait_open()

    async def close(self, code: int = 1000) -> None:
        if self.close_sent:
            return
        self.close_sent = True
        if code != 1000 and self.link is not None:
            self.link.close(code)  # ASGI's close takes 1000 and 3000-4999 only
        else:
            await self.send({"type": "websocket.close", "code": code})

    def abort(self) -> None:
        if self.link is not None:
            self.link.reset()
        elif not self.close_sent:
            self.close_sent = True
            asyncio.ensure_future(self.send({"type": "websocket.close", "code": 1000}))
