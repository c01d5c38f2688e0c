"""What every scenario shares: the context, connecting, the CPU meter, and the
traffic wiring (senders' acks and errors, receivers' deliveries, one Ledger).

A scenario builds its connections with `connect_all` (or `Pairs.open` for
sender/receiver pairs), hands them to a `Traffic`, and reads its figures from the
ledger, so lost and duplicated messages are counted the same way everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from bench.accounting import Ledger
from bench.deploy import process_tree_cpu_s
from bench.wire import Conn, open_authenticated
from improto import vocabulary as words
from improto.conversation import ReadMark
from improto.frames import Heartbeat, Send, command_to_dict

clock = time.perf_counter
BODY = {"text": "benchmark message: 32 chars long"}
HEARTBEAT = command_to_dict(Heartbeat(id=None))


@dataclass
class Context:
    transport: str  # "tcp" or "ws"
    address: str  # "host:port" for TCP, "ws://host:port/ws/" for WebSocket
    encoding: str  # WebSocket payload encoding: "json" or "msgpack"
    relay: bool  # the raw relay: tokens are user ids, groups are joined by frames
    server_pid: int | None
    users: list[tuple[int, str]]  # (user id, token)
    params: dict
    groups: list[int] = field(default_factory=list)
    profile: str | None = None  # write a py-spy profile of the server here
    profile_gil: bool = False  # ... of the GIL holder only (py-spy --gil)

    def token(self, user: tuple[int, str]) -> str:
        return str(user[0]) if self.relay else user[1]


class Meter:
    """CPU used by the server (with its worker processes) and by this generator over a
    measured window."""

    def __init__(self, server_pid: int | None) -> None:
        self.pid = server_pid

    def start(self) -> None:
        self.t0 = clock()
        self.server0 = process_tree_cpu_s(self.pid) if self.pid else 0.0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.gen0 = usage.ru_utime + usage.ru_stime

    def stop(self) -> dict:
        wall = clock() - self.t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {"gen_cpu": round((usage.ru_utime + usage.ru_stime - self.gen0) / wall, 2)}
        if self.pid:
            out["server_cpu"] = round((process_tree_cpu_s(self.pid) - self.server0) / wall, 2)
        return out


async def connect_all(ctx: Context, users: list[tuple[int, str]], device: str, *,
                      concurrency: int = 256, timeout: float = 60.0) -> list[Conn]:
    """Open and authenticate one connection per user, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(user: tuple[int, str]) -> Conn:
        async with gate:
            conn, _ = await open_authenticated(
                ctx.transport, ctx.address, ctx.token(user), device,
                encoding=ctx.encoding, timeout=timeout,
            )
            conn.user_id = user[0]
            return conn

    results = await asyncio.gather(*(one(u) for u in users), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        close_all([r for r in results if isinstance(r, Conn)])
        raise RuntimeError(f"{len(failures)} of {len(users)} connections failed: {failures[0]!r}")
    return results  # type: ignore[return-value]


def close_all(conns: list[Conn]) -> None:
    for conn in conns:
        conn.abort()


async def keepalive(conns: list[Conn], interval: float = 20.0) -> None:
    """Heartbeats, so the server's 3-interval sweep never cuts a silent receiver."""
    while True:
        await asyncio.sleep(interval)
        for conn in conns:
            conn.send(HEARTBEAT)


@contextlib.asynccontextmanager
async def live(conns: list[Conn], interval: float = 20.0) -> AsyncIterator[None]:
    """Heartbeats on `conns` while the block runs; all of them closed after it."""
    alive = asyncio.create_task(keepalive(conns, interval))
    try:
        yield
    finally:
        alive.cancel()
        close_all(conns)


async def join_relay_group(conns: list[Conn], group: int) -> None:
    """The raw relay's set-up frame (not part of the protocol): join a group."""
    await asyncio.gather(*(
        c.request({"type": "join", "id": f"j{group}", "group": group}) for c in conns
    ))


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = clock() + timeout
    while not predicate():
        if clock() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def client_ids(prefix: str) -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"{prefix}{n}"


def new_run_prefix() -> str:
    return secrets.token_hex(3)


def is_message(frame: dict) -> bool:
    return "seq" in frame and frame.get("type") not in (words.ACK, words.SYNC, words.READ)


def text_frame(client_id: str, *, to: int | None = None, group: int | None = None) -> dict:
    return command_to_dict(Send(id=client_id, type=words.TEXT, to=to, group=group, body=BODY))


async def paced(rate: float, duration: float, send_next: Callable[[], None]) -> float:
    """Call `send_next` `rate` times a second for `duration` seconds, on schedule (late
    sends catch up in a burst); returns when the last went out, the start time."""
    start = clock()
    total = int(rate * duration)
    sent = 0
    while sent < total:
        due = min(total, int((clock() - start) * rate) + 1)
        while sent < due:
            send_next()
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - clock()))
    return start


class Traffic:
    """One ledger for a scenario's messages: sends, the senders' answers (ack or
    error) and the receivers' deliveries."""

    def __init__(self) -> None:
        self.ledger = Ledger()

    def send(self, conn: Conn, client_id: str, *, to: int | None = None,
             group: int | None = None) -> None:
        self.ledger.on_send(client_id, clock())
        conn.send(text_frame(client_id, to=to, group=group))

    def answered(self, frame: dict) -> bool:
        """Count an `ack` or `error` for a send; False for any other frame."""
        kind = frame.get("type")
        if kind == words.ACK:
            self.ledger.on_ack(frame["id"], frame["channel"], frame["seq"], clock(),
                               dup_flag=frame.get("dup", False))
        elif kind == words.ERROR:
            self.ledger.on_error(frame.get("code", "?"))
        else:
            return False
        return True

    def delivered(self, conn: Conn, frame: dict) -> bool:
        """Count a pushed message; False for any other frame."""
        if not is_message(frame):
            return False
        self.ledger.on_delivery(conn, frame["channel"], frame["seq"], frame.get("id"), clock())
        return True

    def sender(self, after_answer: Callable[[Conn], None] | None = None):
        """An `on_frame` handler for senders; `after_answer(conn)` runs after each answer."""
        def on_frame(conn: Conn, frame: dict) -> None:
            if self.answered(frame) and after_answer is not None:
                after_answer(conn)
        return on_frame

    def receiver(self, conn: Conn, frame: dict) -> None:
        self.delivered(conn, frame)

    def reader(self, conn: Conn, frame: dict) -> None:
        """A receiver that marks each message read (a `read` frame; its sender hears)."""
        if self.delivered(conn, frame):
            conn.send(command_to_dict(ReadMark(id="r", channel=frame["channel"], seq=frame["seq"])))

    def drained(self, expected_deliveries: Callable[[], int]) -> Callable[[], bool]:
        """Every send answered and every expected delivery in."""
        ledger = self.ledger
        return lambda: (ledger.acked + sum(ledger.errors.values()) >= ledger.sent
                        and ledger.delivered >= expected_deliveries())


@dataclass
class Pairs:
    """`senders[i]` sends to `receivers[i]`'s user, under its own run of client ids."""

    senders: list[Conn]
    receivers: list[Conn]

    @classmethod
    async def open(cls, ctx: Context, count: int, device: str) -> Pairs:
        conns = await connect_all(ctx, ctx.users[: 2 * count], device)
        pairs = cls(senders=conns[:count], receivers=conns[count:])
        run = new_run_prefix()
        for i, (sender, receiver) in enumerate(zip(pairs.senders, pairs.receivers, strict=True)):
            sender.tag = (receiver.user_id, client_ids(f"{run}-{i}-"))
        return pairs

    @property
    def conns(self) -> list[Conn]:
        return self.senders + self.receivers

    def wire(self, traffic: Traffic, after_answer: Callable[[Conn], None] | None = None,
             *, read_marks: bool = False) -> None:
        """With `read_marks`, every receiver marks each message read as it arrives."""
        on_sender = traffic.sender(after_answer)
        on_receiver = traffic.reader if read_marks else traffic.receiver
        for sender, receiver in zip(self.senders, self.receivers, strict=True):
            sender.on_frame = on_sender
            receiver.on_frame = on_receiver

    def live(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Heartbeats while the block runs; every connection closed after it."""
        return live(self.conns)

    @staticmethod
    def send(traffic: Traffic, sender: Conn) -> None:
        peer, ids = sender.tag
        traffic.send(sender, next(ids), to=peer)
