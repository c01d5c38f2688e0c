"""connect_storm: every connection opens and authenticates at the same moment."""

from __future__ import annotations

import asyncio
import secrets

from bench.accounting import latency_summary
from bench.profiling import Profiler
from bench.scenarios.harness import Context, Meter, clock, close_all
from bench.wire import Conn, ConnClosed, open_authenticated


async def connect_storm(ctx: Context) -> dict:
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
