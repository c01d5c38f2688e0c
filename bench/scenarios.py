"""The scenarios, run inside the load generator process (bench/loadgen.py).

Each is `async def name(ctx) -> dict` returning its figures. `ctx` says where to
connect, with which users, and the scenario's parameters. Every scenario keeps a
`Ledger` (bench/accounting.py) so lost and duplicated messages are counted the same
way everywhere; figures are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import random
import resource
import secrets
import time
from dataclasses import dataclass, field

from bench.accounting import Ledger, SeqSet, latency_summary
from bench.deploy import process_cpu_s, process_rss_kb
from bench.profiling import Profiler
from bench.wire import Conn, ConnClosed, open_authenticated

clock = time.perf_counter
BODY = {"text": "benchmark message: 32 chars long"}


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


# --- shared machinery -------------------------------------------------------------------


class Meter:
    """CPU used by the server and by this generator over a measured window."""

    def __init__(self, server_pid: int | None) -> None:
        self.pid = server_pid

    def start(self) -> None:
        self.t0 = clock()
        self.server0 = process_cpu_s(self.pid) if self.pid else 0.0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.gen0 = usage.ru_utime + usage.ru_stime

    def stop(self) -> dict:
        wall = clock() - self.t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {"gen_cpu": round((usage.ru_utime + usage.ru_stime - self.gen0) / wall, 2)}
        if self.pid:
            out["server_cpu"] = round((process_cpu_s(self.pid) - self.server0) / wall, 2)
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
            conn.send({"type": "heartbeat"})


async def join_relay_group(ctx: Context, conns: list[Conn], group: int) -> None:
    await asyncio.gather(*(
        c.request({"type": "join", "id": f"j{group}", "group": group}) for c in conns
    ))


async def wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = clock() + timeout
    while not predicate():
        if clock() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def _ids(prefix: str):
    n = 0
    while True:
        n += 1
        yield f"{prefix}{n}"


def _is_message(frame: dict) -> bool:
    return "seq" in frame and frame.get("type") not in ("ack", "sync", "read")


# --- p2p_throughput (and raw_relay's p2p workload) ---------------------------------------


async def p2p_throughput(ctx: Context) -> dict:
    """Pairs of (sender, receiver) users; each sender keeps `window` sends unacked.
    With `read_marks` set, every receiver marks each message read as it arrives (a
    `read` frame; the sender is told of each)."""
    p = ctx.params
    pairs, window = p["pairs"], p["window"]
    read_marks = bool(p.get("read_marks", False))
    duration, warmup = p["duration"], p.get("warmup", 1.0)
    senders_users = ctx.users[:pairs]
    receivers_users = ctx.users[pairs : 2 * pairs]
    device = f"tp-{secrets.token_hex(2)}"
    conns = await connect_all(ctx, senders_users + receivers_users, device)
    senders, receivers = conns[:pairs], conns[pairs:]
    ledger = Ledger()
    state = {"sending": True}
    run = secrets.token_hex(3)

    def send_one(conn: Conn) -> None:
        peer, ids = conn.tag
        cid = next(ids)
        ledger.on_send(cid, clock())
        conn.send({"type": "text", "id": cid, "to": peer, "body": BODY})

    def on_sender(conn: Conn, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ack":
            ledger.on_ack(frame["id"], frame["channel"], frame["seq"], clock(),
                          dup_flag=frame.get("dup", False))
        elif kind == "error":
            ledger.on_error(frame.get("code", "?"))
        else:
            return
        if state["sending"]:
            send_one(conn)

    def on_receiver(conn: Conn, frame: dict) -> None:
        if _is_message(frame):
            ledger.on_delivery(conn, frame["channel"], frame["seq"], frame.get("id"), clock())
            if read_marks:
                conn.send({"type": "read", "id": "r", "channel": frame["channel"],
                           "seq": frame["seq"]})

    for i, (sender, receiver) in enumerate(zip(senders, receivers, strict=True)):
        sender.tag = (receiver.user_id, _ids(f"{run}-{i}-"))
        sender.on_frame = on_sender
        receiver.on_frame = on_receiver
    alive = asyncio.create_task(keepalive(conns))
    meter = Meter(ctx.server_pid)
    try:
        for sender in senders:
            for _ in range(window):
                send_one(sender)
        await asyncio.sleep(warmup)
        acked0, delivered0 = ledger.acked, ledger.delivered
        meter.start()
        async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
            await asyncio.sleep(duration)
        acked1, delivered1 = ledger.acked, ledger.delivered
        cpu = meter.stop()
        elapsed = clock() - meter.t0
        state["sending"] = False
        drained = await wait_until(
            lambda: ledger.acked + sum(ledger.errors.values()) >= ledger.sent
            and ledger.delivered >= ledger.acked,
            p.get("drain_timeout", 30),
        )
    finally:
        alive.cancel()
        close_all(conns)
    result = {
        "pairs": pairs, "window": window, "duration_s": duration, "read_marks": read_marks,
        "acked_per_s": round((acked1 - acked0) / elapsed, 1),
        "delivered_per_s": round((delivered1 - delivered0) / elapsed, 1),
        **ledger.summary(expected_deliveries=ledger.acked),
        **latency_summary(ledger.ack_ms, "ack_ms"),
        **latency_summary(ledger.delivery_ms, "delivery_ms"),
        **cpu,
    }
    if not drained:
        result["drain_timed_out"] = True
    return result


# --- p2p_latency -------------------------------------------------------------------------


async def p2p_latency(ctx: Context) -> dict:
    """A fixed send rate spread over a few pairs: send-to-ack and send-to-delivery."""
    p = ctx.params
    rate, pairs, duration = p["rate"], p["pairs"], p["duration"]
    device = f"lat-{secrets.token_hex(2)}"
    conns = await connect_all(ctx, ctx.users[: 2 * pairs], device)
    senders, receivers = conns[:pairs], conns[pairs:]
    ledger = Ledger()
    run = secrets.token_hex(3)

    def on_sender(conn: Conn, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ack":
            ledger.on_ack(frame["id"], frame["channel"], frame["seq"], clock(),
                          dup_flag=frame.get("dup", False))
        elif kind == "error":
            ledger.on_error(frame.get("code", "?"))

    def on_receiver(conn: Conn, frame: dict) -> None:
        if _is_message(frame):
            ledger.on_delivery(conn, frame["channel"], frame["seq"], frame.get("id"), clock())

    for i, (sender, receiver) in enumerate(zip(senders, receivers, strict=True)):
        sender.tag = (receiver.user_id, _ids(f"{run}-{i}-"))
        sender.on_frame = on_sender
        receiver.on_frame = on_receiver
    alive = asyncio.create_task(keepalive(conns))
    meter = Meter(ctx.server_pid)
    try:
        meter.start()
        start = clock()
        total = int(rate * duration)
        sent = 0
        async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
            while sent < total:
                due = min(total, int((clock() - start) * rate) + 1)
                while sent < due:
                    sender = senders[sent % pairs]
                    peer, ids = sender.tag
                    cid = next(ids)
                    ledger.on_send(cid, clock())
                    sender.send({"type": "text", "id": cid, "to": peer, "body": BODY})
                    sent += 1
                await asyncio.sleep(max(0.0, start + sent / rate - clock()))
        elapsed = clock() - start
        drained = await wait_until(
            lambda: ledger.acked + sum(ledger.errors.values()) >= ledger.sent
            and ledger.delivered >= ledger.acked,
            p.get("drain_timeout", 30),
        )
        cpu = meter.stop()
    finally:
        alive.cancel()
        close_all(conns)
    result = {
        "rate": rate, "pairs": pairs, "duration_s": duration,
        "achieved_rate": round(ledger.sent / elapsed, 1),
        **ledger.summary(expected_deliveries=ledger.acked),
        **latency_summary(ledger.ack_ms, "ack_ms", quantiles=True),
        **latency_summary(ledger.delivery_ms, "delivery_ms", quantiles=True),
        **cpu,
    }
    if not drained:
        result["drain_timed_out"] = True
    return result


# --- group_fanout (and raw_relay's group workload) --------------------------------------


async def group_fanout(ctx: Context) -> dict:
    """Every member of one group online; its owner sends at a fixed rate."""
    p = ctx.params
    rate, duration = p["rate"], p["duration"]
    members = ctx.users[: p["members"]]
    group = ctx.groups[0] if ctx.groups else p.get("group", 1)
    device = f"grp-{secrets.token_hex(2)}"
    conns = await connect_all(ctx, members, device)
    if ctx.relay:
        await join_relay_group(ctx, conns, group)
    sender, receivers = conns[0], conns[1:]
    ledger = Ledger()
    ids = _ids(f"{secrets.token_hex(3)}-")
    last = {"delivery": None}

    def on_sender(conn: Conn, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ack":
            ledger.on_ack(frame["id"], frame["channel"], frame["seq"], clock(),
                          dup_flag=frame.get("dup", False))
        elif kind == "error":
            ledger.on_error(frame.get("code", "?"))

    def on_receiver(conn: Conn, frame: dict) -> None:
        if _is_message(frame):
            now = clock()
            ledger.on_delivery(conn, frame["channel"], frame["seq"], frame.get("id"), now)
            last["delivery"] = now

    sender.on_frame = on_sender
    for receiver in receivers:
        receiver.on_frame = on_receiver
    alive = asyncio.create_task(keepalive(conns))
    meter = Meter(ctx.server_pid)
    expected = lambda: ledger.acked * len(receivers)  # noqa: E731
    try:
        meter.start()
        start = clock()
        total = int(rate * duration)
        sent = 0
        async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
            while sent < total:
                due = min(total, int((clock() - start) * rate) + 1)
                while sent < due:
                    cid = next(ids)
                    ledger.on_send(cid, clock())
                    sender.send({"type": "text", "id": cid, "group": group, "body": BODY})
                    sent += 1
                await asyncio.sleep(max(0.0, start + sent / rate - clock()))
            drained = await wait_until(
                lambda: ledger.acked + sum(ledger.errors.values()) >= ledger.sent
                and ledger.delivered >= expected(),
                p.get("drain_timeout", 60),
            )
        cpu = meter.stop()
    finally:
        alive.cancel()
        close_all(conns)
    span = (last["delivery"] or clock()) - start
    result = {
        "members": len(conns), "rate": rate, "duration_s": duration,
        "offered_deliveries_per_s": round(rate * len(receivers), 1),
        "deliveries_per_s": round(ledger.delivered / span, 1) if span > 0 else None,
        **ledger.summary(expected_deliveries=expected()),
        **latency_summary(ledger.ack_ms, "ack_ms"),
        **latency_summary(ledger.delivery_ms, "delivery_ms", quantiles=True),
        **cpu,
    }
    if not drained:
        result["drain_timed_out"] = True
    return result


# --- idle_connections --------------------------------------------------------------------


async def idle_connections(ctx: Context) -> dict:
    """Hold many authenticated connections with heartbeats; RSS per connection; then
    one message each to a random hundred of them."""
    p = ctx.params
    count, hold = p["connections"], p["hold"]
    probe, late_ms = p.get("probe", 100), p.get("late_ms", 1000)
    device = f"idle-{secrets.token_hex(2)}"
    prober_user, idle_users = ctx.users[0], ctx.users[1 : 1 + count]
    prober = (await connect_all(ctx, [prober_user], device))[0]
    await asyncio.sleep(1.0)
    rss_before = process_rss_kb(ctx.server_pid)
    t0 = clock()
    conns = await connect_all(ctx, idle_users, device, concurrency=p.get("concurrency", 50))
    connect_s = clock() - t0
    rtts: list[float] = []
    dropped = []
    ledger = Ledger()

    def on_idle(conn: Conn, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "heartbeat":
            sent = conn.heartbeat_sent.pop(frame.get("id"), None)
            if sent is not None:
                rtts.append((clock() - sent) * 1000.0)
        elif _is_message(frame):
            ledger.on_delivery(conn, frame["channel"], frame["seq"], frame.get("id"), clock())

    for conn in conns:
        conn.on_frame = on_idle
        conn.closed.add_done_callback(lambda _f, c=conn: dropped.append(c))
    await asyncio.sleep(2.0)
    rss_after = process_rss_kb(ctx.server_pid)

    # Every connection heartbeats at `interval` from a random phase, as real clients
    # (who connected at different times) do.
    interval = min(p.get("heartbeat", 30), hold / 2)
    rng = random.Random(7)
    phases = [rng.uniform(0, interval) for _ in conns]
    hb_sent = 0

    async def heartbeats() -> None:
        nonlocal hb_sent
        start = clock()
        schedule = sorted((phase, i) for i, phase in enumerate(phases))
        round_ = 0
        while True:
            for phase, i in schedule:
                delay = start + round_ * interval + phase - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                conn = conns[i]
                hb_id = f"h{round_}"
                conn.heartbeat_sent[hb_id] = clock()
                conn.send({"type": "heartbeat", "id": hb_id})
                hb_sent += 1
            round_ += 1

    prober_alive = asyncio.create_task(keepalive([prober], interval))
    beating = asyncio.create_task(heartbeats())
    try:
        await asyncio.sleep(hold)
        beating.cancel()
        await asyncio.sleep(min(2.0, late_ms / 1000 + 0.5))  # let the last replies arrive
        rss_hold = process_rss_kb(ctx.server_pid)

        # The probe: one message to each of `probe` random held connections.
        targets = rng.sample([c for c in conns if not c.closed.done()], min(probe, len(conns)))
        ids = _ids(f"{secrets.token_hex(3)}-")

        def on_prober(conn: Conn, frame: dict) -> None:
            if frame.get("type") == "ack":
                ledger.on_ack(frame["id"], frame["channel"], frame["seq"], clock())
            elif frame.get("type") == "error":
                ledger.on_error(frame.get("code", "?"))

        prober.on_frame = on_prober
        for target in targets:
            cid = next(ids)
            ledger.on_send(cid, clock())
            prober.send({"type": "text", "id": cid, "to": target.user_id, "body": BODY})
        await wait_until(lambda: ledger.acked >= len(targets)
                         and ledger.delivered >= ledger.acked, p.get("drain_timeout", 15))
        dropped_count = len(dropped)
    finally:
        beating.cancel()
        prober_alive.cancel()
        close_all(conns + [prober])
    unanswered = sum(len(c.heartbeat_sent) for c in conns)
    late = sum(1 for r in rtts if r > late_ms) + unanswered
    return {
        "connections": count, "hold_s": hold, "heartbeat_interval_s": interval,
        "connect_s": round(connect_s, 2),
        "rss_before_kb": rss_before, "rss_after_kb": rss_after, "rss_after_hold_kb": rss_hold,
        "rss_per_conn_kb": round((rss_after - rss_before) / count, 2),
        "rss_per_conn_after_hold_kb": round((rss_hold - rss_before) / count, 2),
        "heartbeats": hb_sent, "late_heartbeats": late, "late_ms": late_ms,
        "dropped": dropped_count,
        **latency_summary(rtts, "heartbeat_ms"),
        "probe": len(targets),
        **ledger.summary(expected_deliveries=ledger.acked),
        **latency_summary(ledger.delivery_ms, "delivery_ms"),
    }


# --- connect_storm -----------------------------------------------------------------------


async def connect_storm(ctx: Context) -> dict:
    """Every connection opens and authenticates at the same moment."""
    p = ctx.params
    users = ctx.users[: p["connections"]]
    device = f"storm-{secrets.token_hex(2)}"
    timeout = p.get("timeout", 60)
    times: list[float] = []
    failures: dict[str, int] = {}
    conns: list[Conn] = []
    start = clock()
    done_at = {"last": start}

    async def one(user: tuple[int, str]) -> None:
        t0 = clock()
        try:
            conn, _ = await open_authenticated(ctx.transport, ctx.address, ctx.token(user),
                                               device, encoding=ctx.encoding, timeout=timeout)
        except (TimeoutError, OSError, ConnClosed) as exc:
            name = exc.__class__.__name__
            failures[name] = failures.get(name, 0) + 1
            return
        now = clock()
        times.append((now - t0) * 1000.0)
        done_at["last"] = max(done_at["last"], now)
        conns.append(conn)

    meter = Meter(ctx.server_pid)
    meter.start()
    async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
        await asyncio.gather(*(one(u) for u in users))
    cpu = meter.stop()
    elapsed = done_at["last"] - start
    close_all(conns)
    return {
        "connections": len(users), "authenticated": len(times),
        "failures": sum(failures.values()), **({"failure_kinds": failures} if failures else {}),
        "elapsed_s": round(elapsed, 3),
        "auths_per_s": round(len(times) / elapsed, 1) if elapsed > 0 else None,
        **latency_summary(times, "auth_ms"),
        **cpu,
        "lost": 0, "duplicates": 0,
    }


# --- catch_up ----------------------------------------------------------------------------


async def catch_up(ctx: Context) -> dict:
    """A device offline while `messages` arrive for it; then it syncs until caught up."""
    p = ctx.params
    total, window, page = p["messages"], p.get("window", 256), p.get("page", 500)
    sender_user, receiver_user = ctx.users[0], ctx.users[1]
    device = f"cu-{secrets.token_hex(2)}"
    sender = (await connect_all(ctx, [sender_user], device))[0]
    ledger = Ledger()
    ids = _ids(f"{secrets.token_hex(3)}-")
    state = {"queued": 0}

    def send_one() -> None:
        cid = next(ids)
        ledger.on_send(cid, clock())
        sender.send({"type": "text", "id": cid, "to": receiver_user[0], "body": BODY})
        state["queued"] += 1

    def on_sender(conn: Conn, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ack":
            ledger.on_ack(frame["id"], frame["channel"], frame["seq"], clock(),
                          dup_flag=frame.get("dup", False))
        elif kind == "error":
            ledger.on_error(frame.get("code", "?"))
        else:
            return
        if state["queued"] < total:
            send_one()

    sender.on_frame = on_sender
    t_send = clock()
    for _ in range(min(window, total)):
        send_one()
    await wait_until(lambda: ledger.acked + sum(ledger.errors.values()) >= total,
                     p.get("drain_timeout", 120))
    send_s = clock() - t_send
    sender.abort()

    # The device comes back: channel list, then pages of `page` until the last seq.
    seen = SeqSet()
    duplicates = received = pages = 0
    t0 = clock()
    receiver, _ = await open_authenticated(ctx.transport, ctx.address, ctx.token(receiver_user),
                                           device, encoding=ctx.encoding)
    try:
        listing = await receiver.request({"type": "sync", "id": "s0"}, 60)
        a, b = sorted((sender_user[0], receiver_user[0]))
        channel = next(c for c in listing["channels"] if c["channel"] == f"p:{a}:{b}")
        last_seq = channel["last_seq"]
        after = 0
        while after < last_seq:
            pages += 1
            reply = await receiver.request({"type": "sync", "id": f"s{pages}",
                                            "channel": channel["channel"], "after": after,
                                            "limit": page}, 60)
            messages = reply.get("messages") or []
            if not messages:
                break
            for message in messages:
                if seen.add(message["seq"]):
                    received += 1
                else:
                    duplicates += 1
            after = messages[-1]["seq"]
        elapsed = clock() - t0
    finally:
        receiver.abort()
    summary = ledger.summary()
    return {
        "messages": total, "page": page, "pages": pages,
        "send_acked_per_s": round(ledger.acked / send_s, 1),
        "catchup_s": round(elapsed, 3),
        "catchup_msgs_per_s": round(received / elapsed, 1),
        "synced": received, "missing": max(0, ledger.acked - received),
        **summary,
        "duplicates": summary["duplicates"] + duplicates,
        "undelivered": max(0, ledger.acked - received),
    }


SCENARIOS = {
    "p2p_throughput": p2p_throughput,
    "p2p_latency": p2p_latency,
    "group_fanout": group_fanout,
    "idle_connections": idle_connections,
    "connect_storm": connect_storm,
    "catch_up": catch_up,
}
