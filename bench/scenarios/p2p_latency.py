"""p2p_latency: a fixed send rate spread over a few pairs; send-to-ack and
send-to-delivery latency."""

from __future__ import annotations

import itertools
import secrets

from bench.accounting import latency_summary
from bench.profiling import Profiler
from bench.scenarios.harness import Context, Meter, Pairs, Traffic, clock, paced, wait_until


async def p2p_latency(ctx: Context) -> dict:
    p = ctx.params
    rate, count, duration = p["rate"], p["pairs"], p["duration"]
    pairs = await Pairs.open(ctx, count, f"lat-{secrets.token_hex(2)}")
    traffic = Traffic()
    ledger = traffic.ledger
    pairs.wire(traffic)
    meter = Meter(ctx.server_pid)
    turn = itertools.count()

    def send_next() -> None:
        Pairs.send(traffic, pairs.senders[next(turn) % count])

    async with pairs.live():
        meter.start()
        async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
            start = await paced(rate, duration, send_next)
        elapsed = clock() - start
        drained = await wait_until(traffic.drained(lambda: ledger.acked),
                                   p.get("drain_timeout", 30))
        cpu = meter.stop()
    result = {
        "rate": rate, "pairs": count, "duration_s": duration,
        "achieved_rate": round(ledger.sent / elapsed, 1),
        **ledger.summary(expected_deliveries=ledger.acked),
        **latency_summary(ledger.ack_ms, "ack_ms", quantiles=True),
        **latency_summary(ledger.delivery_ms, "delivery_ms", quantiles=True),
        **cpu,
    }
    if not drained:
        result["drain_timed_out"] = True
    return result
