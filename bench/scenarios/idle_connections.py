"""idle_connections: hold many authenticated connections with heartbeats; RSS per
connection; then one message each to a random hundred of them."""

from __future__ import annotations

import asyncio
import random
import secrets

from bench.accounting import latency_summary
from bench.deploy import process_rss_kb
from bench.scenarios.harness import (
    Context,
    Traffic,
    client_ids,
    clock,
    close_all,
    connect_all,
    keepalive,
    new_run_prefix,
    wait_until,
)
from bench.wire import Conn
from improto import vocabulary as words
from improto.frames import Heartbeat, command_to_dict


async def idle_connections(ctx: Context) -> dict:
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
    traffic = Traffic()
    ledger = traffic.ledger

    def on_idle(conn: Conn, frame: dict) -> None:
        if frame.get("type") == words.HEARTBEAT:
            sent = conn.heartbeat_sent.pop(frame.get("id"), None)
            if sent is not None:
                rtts.append((clock() - sent) * 1000.0)
        else:
            traffic.delivered(conn, frame)

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
                conn.send(command_to_dict(Heartbeat(id=hb_id)))
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
        ids = client_ids(f"{new_run_prefix()}-")
        prober.on_frame = traffic.sender()
        for target in targets:
            traffic.send(prober, next(ids), to=target.user_id)
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
