"""group_knee (and the raw relay's group workload at saturation): every member of one
group online, as in group_fanout; its owner sends at increasing rates, one step after
the other on the same connections, until the server falls behind.

Each step sends `rate` msg/s for `duration` s, then waits at most `drain` s for every
delivery it owes (the bounded drain of the knee rule, bench/knee.py) and `pause` s
more so that one step's tail does not land in the next. A step that falls behind ends
the stepping; the scenario then waits up to `drain_timeout` s for the rest, so the
ledger (one for the whole scenario) still counts every message lost, duplicated or
undelivered, and that step's figures cover all of its deliveries.
"""

from __future__ import annotations

import asyncio
import secrets

from bench.accounting import latency_summary
from bench.knee import MIN_SHARE, generator_bound, keeps_up, knee
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

RATES = (110, 220, 440, 660, 880, 1100)


def delivery_rate(delivered: int, sent: int, first: float | None, last: float) -> float | None:
    """Deliveries over the step's first to last delivery: the pipeline's constant delay
    (send to first delivery) drops out, so a short step is not marked down for it,
    while a queue that builds stretches the window and brings the rate down. That
    window spans `sent - 1` send intervals, not `sent`: scaled so that a step kept up
    with reads its offer rather than a little more."""
    if first is None or last <= first or sent < 2:
        return None
    return round(delivered * (sent - 1) / sent / (last - first), 1)


async def group_knee(ctx: Context) -> dict:
    p = ctx.params
    rates = list(p.get("rates", RATES))
    duration, drain = p["duration"], p.get("drain", 2.0)
    min_share = p.get("min_share", MIN_SHARE)
    members = ctx.users[: p["members"]]
    group = ctx.groups[0] if ctx.groups else p.get("group", 1)
    conns = await connect_all(ctx, members, f"knee-{secrets.token_hex(2)}")
    if ctx.relay:
        await join_relay_group(conns, group)
    sender, receivers = conns[0], conns[1:]
    traffic = Traffic()
    ledger = traffic.ledger
    ids = client_ids(f"{new_run_prefix()}-")
    window = {"first": None, "last": None}  # the current step's deliveries

    def on_receiver(conn, frame: dict) -> None:
        if traffic.delivered(conn, frame):
            now = clock()
            window["last"] = now
            if window["first"] is None:
                window["first"] = now

    sender.on_frame = traffic.sender()
    for receiver in receivers:
        receiver.on_frame = on_receiver
    expected = lambda: ledger.acked * len(receivers)  # noqa: E731
    drained = traffic.drained(expected)
    steps: list[dict] = []
    meter = Meter(ctx.server_pid)
    all_drained = True
    async with live(conns):
        meter.start()
        for rate in rates:
            # Every earlier step drained, so what arrives from here on is this step's.
            sent0, delivered0, samples0 = ledger.sent, ledger.delivered, len(ledger.delivery_ms)
            window["first"] = window["last"] = None
            step_meter = Meter(ctx.server_pid)
            step_meter.start()
            start = await paced(rate, duration,
                                lambda: traffic.send(sender, next(ids), group=group))
            sent_end = clock()
            in_time = await wait_until(drained, drain)
            if not in_time:  # behind: the rest of its deliveries, for the ledger's sake
                all_drained = await wait_until(drained, p.get("drain_timeout", 60))
            cpu = step_meter.stop()
            first, end = window["first"], window["last"] or clock()
            delivered = ledger.delivered - delivered0
            sent = ledger.sent - sent0
            step = {
                "rate": rate,
                "offered_deliveries_per_s": round(rate * len(receivers), 1),
                # The generator's own pace: below `rate` when it could not send that fast.
                "sent_per_s": round(sent / (sent_end - start), 1) if sent_end > start else None,
                "deliveries_per_s": delivery_rate(delivered, sent, first, end),
                "delivered": delivered,
                "drained": in_time,
                "drain_s": round(max(0.0, end - sent_end), 3),
                **latency_summary(ledger.delivery_ms[samples0:], "delivery_ms"),
                **cpu,
            }
            step["kept_up"] = keeps_up(step, min_share)
            step["generator_bound"] = generator_bound(step, min_share)
            steps.append(step)
            if not step["kept_up"] or not all_drained:
                break
            await asyncio.sleep(p.get("pause", 0.5))
        cpu = meter.stop()
    result = {
        "members": len(conns), "rates": rates, "duration_s": duration, "drain_s": drain,
        "min_share": min_share,
        **knee(steps, min_share),
        "steps": steps,
        **ledger.summary(expected_deliveries=expected()),
        **latency_summary(ledger.ack_ms, "ack_ms"),
        **cpu,
    }
    if not all_drained:
        result["drain_timed_out"] = True
    return result
