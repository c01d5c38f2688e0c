"""A loopback TCP proxy that injures the link between a client and a server.

It forwards bytes both ways and, on demand: cuts every live connection (now, at
random moments, or each one after a random number of bytes, so mid-frame), splits
writes into small pieces with small delays, refuses new
connections (the server looks down), stalls live connections (a black hole), and,
for the TCP protocol only, lets a test drop, hold or inject whole server frames.
WebSocket runs over TCP, so the byte-level faults work for both transports.

Randomness comes from one random.Random(seed): runs differ only by scheduling.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import urllib.parse
from collections.abc import Callable

from improto.codec import decode_payload, pack_tcp
from improto.framing import TcpFrameDecoder

READ_CHUNK = 65536

# Receives each decoded server->client frame; returns the frames to forward instead
# ([] drops it, [held, frame] releases an older one first).
FrameHook = Callable[[dict], list[dict]]


class _Link:
    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.stalled = False
        self.closed = asyncio.Event()
        self.budget: int | None = None  # bytes this link may carry before it is cut
        self.decoder = TcpFrameDecoder(1 << 26)

    def abort(self) -> None:
        for writer in (self.client, self.server):
            if not writer.transport.is_closing():
                writer.transport.abort()
        self.closed.set()


class FaultProxy:
    def __init__(
        self,
        target: str,  # "host:port" or a ws:// URL
        *,
        seed: int = 0,
        max_piece: int | None = None,
        max_delay: float = 0.0,
        delay_probability: float = 0.2,
        server_frames: FrameHook | None = None,
        cut_after_bytes: tuple[int, int] | None = None,
        max_cuts: int | None = None,
    ) -> None:
        self.retarget(target)
        self.rng = random.Random(seed)
        self.max_piece = max_piece
        self.max_delay = max_delay
        self.delay_probability = delay_probability
        self.server_frames = server_frames
        self.cut_after_bytes = cut_after_bytes
        self.max_cuts = max_cuts
        self.refusing = False
        self.links: set[_Link] = set()
        self.accepted: list[float] = []  # monotonic time of every accepted connection
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._chaos: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._new_link = asyncio.Condition()

    # --- setup ------------------------------------------------------------------------

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def url_for(self, transport: str) -> str:
        return self.address if transport == "tcp" else self.ws_url

    async def close(self) -> None:
        self.stop_chaos()
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def retarget(self, target: str) -> None:
        """Forward new connections to `target` ("host:port" or a URL) from now on
        (a load balancer failing over)."""
        if "://" in target:  # e.g. a ws:// URL: the proxy forwards its TCP connection
            parts = urllib.parse.urlsplit(target)
            self.target = (parts.hostname, parts.port)
        else:
            host, _, port = target.rpartition(":")
            self.target = (host, int(port))

    # --- faults -----------------------------------------------------------------------

    def cut(self) -> int:
        """Abort every live connection now (both sides see a reset)."""
        links = list(self.links)
        for link in links:
            link.abort()
        self.cuts += len(links)
        return len(links)

    def refuse(self, on: bool = True) -> None:
        """While on, new connections are accepted and closed at once."""
        self.refusing = on

    def stall(self) -> None:
        """Live connections stop forwarding in both directions but stay open."""
        for link in self.links:
            link.stalled = True

    def chaos(self, low: float, high: float, *, cuts: int | None = None) -> None:
        """Cut every live connection at random moments, `low`..`high` seconds apart
        (at most `cuts` times), until stop_chaos()."""
        self.stop_chaos()
        self._chaos = asyncio.create_task(self._chaos_loop(low, high, cuts))

    def stop_chaos(self) -> None:
        if self._chaos is not None:
            self._chaos.cancel()
            self._chaos = None

    async def wait_connections(self, count: int, timeout: float = 20.0) -> None:
        """Wait until `count` connections in all have been accepted."""
        async def reached() -> None:
            async with self._new_link:
                await self._new_link.wait_for(lambda: len(self.accepted) >= count)
        await asyncio.wait_for(reached(), timeout)

    async def _chaos_loop(self, low: float, high: float, cuts: int | None) -> None:
        done = 0
        while cuts is None or done < cuts:
            await asyncio.sleep(self.rng.uniform(low, high))
            if self.cut():
                done += 1

    # --- forwarding -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        async with self._new_link:
            self._new_link.notify_all()
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        if self.cut_after_bytes and (self.max_cuts is None or self.cuts < self.max_cuts):
            link.budget = self.rng.randint(*self.cut_after_bytes)
        self.links.add(link)
        tasks = [
            asyncio.create_task(self._pipe(link, reader, up_writer, downstream=False)),
            asyncio.create_task(self._pipe(link, up_reader, writer, downstream=True)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            link.abort()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
            self.links.discard(link)

    async def _pipe(self, link: _Link, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, *, downstream: bool) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                if link.stalled:
                    await link.closed.wait()
                    return
                data = await reader.read(READ_CHUNK)
                if not data:
                    return
                if link.stalled:
                    continue  # dropped: a stalled link forwards nothing
                if downstream and self.server_frames is not None:
                    data = self._rewrite(link, data)
                for piece in self._pieces(data):
                    if link.budget is not None:
                        if link.budget < len(piece):
                            # Cut mid-stream: part of this piece goes through, then reset.
                            writer.write(piece[:link.budget])
                            self.cuts += 1
                            link.abort()
                            return
                        link.budget -= len(piece)
                    writer.write(piece)
                    await writer.drain()
                    if self.max_delay and self.rng.random() < self.delay_probability:
                        await asyncio.sleep(self.rng.uniform(0, self.max_delay))

    def _pieces(self, data: bytes) -> list[bytes]:
        if not self.max_piece:
            return [data]
        pieces, offset = [], 0
        while offset < len(data):
            size = self.rng.randint(1, self.max_piece)
            pieces.append(data[offset:offset + size])
            offset += size
        return pieces

    def _rewrite(self, link: _Link, data: bytes) -> bytes:
        out = []
        for payload in link.decoder.feed(data):
            for frame in self.server_frames(decode_payload(payload, "msgpack")):
                out.append(pack_tcp(frame))
        return b"".join(out)
