"""p2p_throughput (and the raw relay's p2p workload): pairs of (sender, receiver)
users; each sender keeps `window` sends unacked. With `read_marks` set, every receiver
marks each message read as it arrives (a `read` frame; the sender is told of each)."""

from __future__ import annotations

import asyncio
import secrets

from bench.accounting import latency_summary
from bench.profiling import Profiler
from bench.scenarios.harness import Context, Meter, Pairs, Traffic, clock, wait_until


async def p2p_throughput(ctx: Context) -> dict:
    p = ctx.params
    count, window = p["pairs"], p["window"]
    duration, warmup = p["duration"], p.get("warmup", 1.0)
    read_marks = bool(p.get("read_marks", False))
    pairs = await Pairs.open(ctx, count, f"tp-{secrets.token_hex(2)}")
    traffic = Traffic()
    ledger = traffic.ledger
    state = {"sending": True}

    def refill(sender) -> None:
        if state["sending"]:
            Pairs.send(traffic, sender)

    pairs.wire(traffic, after_answer=refill, read_marks=read_marks)
    meter = Meter(ctx.server_pid)
    async with pairs.live():
        for sender in pairs.senders:
            for _ in range(window):
                Pairs.send(traffic, sender)
        await asyncio.sleep(warmup)
        acked0, delivered0 = ledger.acked, ledger.delivered
        meter.start()
        async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
            await asyncio.sleep(duration)
        acked1, delivered1 = ledger.acked, ledger.delivered
        cpu = meter.stop()
        elapsed = clock() - meter.t0
        state["sending"] = False
        drained = await wait_until(traffic.drained(lambda: ledger.acked),
                                   p.get("drain_timeout", 30))
    result = {
        "pairs": count, "window": window, "duration_s": duration, "read_marks": read_marks,
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
