"""catch_up: a device offline while `messages` arrive for it; then it syncs until
caught up."""

from __future__ import annotations

import secrets

from bench.accounting import SeqSet
from bench.scenarios.harness import (
    Context,
    Traffic,
    client_ids,
    clock,
    connect_all,
    new_run_prefix,
    wait_until,
)
from bench.wire import open_authenticated
from improto.channels import p_channel
from improto.frames import SyncChannels, SyncRange, command_to_dict


async def catch_up(ctx: Context) -> dict:
    p = ctx.params
    total, window, page = p["messages"], p.get("window", 256), p.get("page", 500)
    sender_user, receiver_user = ctx.users[0], ctx.users[1]
    device = f"cu-{secrets.token_hex(2)}"
    sender = (await connect_all(ctx, [sender_user], device))[0]
    traffic = Traffic()
    ledger = traffic.ledger
    ids = client_ids(f"{new_run_prefix()}-")
    state = {"queued": 0}

    def send_one(_conn=None) -> None:
        if state["queued"] < total:
            traffic.send(sender, next(ids), to=receiver_user[0])
            state["queued"] += 1

    sender.on_frame = traffic.sender(after_answer=send_one)
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
        listing = await receiver.request(command_to_dict(SyncChannels(id="s0")), 60)
        name = p_channel(sender_user[0], receiver_user[0])
        channel = next(c for c in listing["channels"] if c["channel"] == name)
        last_seq = channel["last_seq"]
        after = 0
        while after < last_seq:
            pages += 1
            command = SyncRange(id=f"s{pages}", channel=name, after=after, limit=page)
            reply = await receiver.request(command_to_dict(command), 60)
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
