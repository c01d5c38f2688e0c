"""group_fanout (and the raw relay's group workload): every member of one group
online; its owner sends at a fixed rate."""

from __future__ import annotations

import secrets

from bench.accounting import latency_summary
from bench.profiling import Profiler
from bench.scenarios.harness import (
    Context,
    Meter,
    Traffic,
    client_ids,
    clock,
    connect_all,
    join_relay_group,
    live,
    new_run_prefix,
    paced,
    wait_until,
)


async def group_fanout(ctx: Context) -> dict:
    p = ctx.params
    rate, duration = p["rate"], p["duration"]
    members = ctx.users[: p["members"]]
    group = ctx.groups[0] if ctx.groups else p.get("group", 1)
    conns = await connect_all(ctx, members, f"grp-{secrets.token_hex(2)}")
    if ctx.relay:
        await join_relay_group(conns, group)
    sender, receivers = conns[0], conns[1:]
    traffic = Traffic()
    ledger = traffic.ledger
    ids = client_ids(f"{new_run_prefix()}-")
    last = {"delivery": None}

    def on_receiver(conn, frame: dict) -> None:
        if traffic.delivered(conn, frame):
            last["delivery"] = clock()

    sender.on_frame = traffic.sender()
    for receiver in receivers:
        receiver.on_frame = on_receiver
    meter = Meter(ctx.server_pid)
    expected = lambda: ledger.acked * len(receivers)  # noqa: E731
    async with live(conns):
        meter.start()
        async with Profiler(ctx.profile, ctx.server_pid, gil=ctx.profile_gil):
            start = await paced(rate, duration,
                                lambda: traffic.send(sender, next(ids), group=group))
            drained = await wait_until(traffic.drained(expected), p.get("drain_timeout", 60))
        cpu = meter.stop()
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
