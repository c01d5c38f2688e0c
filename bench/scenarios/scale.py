"""scale: durable p2p throughput of one node and of two, on one machine.

Unlike the other scenarios, this one is driven from bench/run.py rather than inside
the load generator: it starts the servers. On the PostgreSQL + Redis deployment it
runs the p2p_throughput load against `imserver --workers 1` and `--workers 2` (two
nodes of one cluster sharing the ports, the router between them), interleaved
(1, 2, 1, 2, ... for `rounds` rounds) so that the machine's other load hits both
alike, each run on users of its own (every channel starts at seq 1). Each record
is p2p_throughput's figures plus `nodes`, `round` and `per_cpu_s` (acked messages per
server CPU-second, the supervisor and its workers counted); `add_ratios` then gives
every two-node record `ratio`: its throughput over the median of the one-node runs.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

NODE_COUNTS = (1, 2)


def runs(params: dict) -> list[tuple[int, int]]:
    """(round, nodes) in the order they run: interleaved."""
    return [(r, n) for r in range(params.get("rounds", 1)) for n in NODE_COUNTS]


def users_needed(params: dict) -> int:
    return 2 * params["pairs"] * len(runs(params))


def run_scale(*, start_server: Callable, stop_server: Callable, generate: Callable,
              record: Callable, base: dict, transport: str, users: list,
              params: dict) -> None:
    """Every run of the scenario on one deployment and transport."""
    load = {k: v for k, v in params.items() if k != "rounds"}
    per_run = 2 * params["pairs"]
    for index, (round_, nodes) in enumerate(runs(params)):
        server = start_server(workers=nodes)
        try:
            address = server.tcp if transport == "tcp" else server.ws
            figures = generate("p2p_throughput", transport=transport, address=address,
                               server_pid=server.pid,
                               users=users[index * per_run:(index + 1) * per_run],
                               params=load)
        finally:
            stop_server(server)
        if "error" not in figures and figures.get("server_cpu"):
            figures["per_cpu_s"] = round(figures["acked_per_s"] / figures["server_cpu"], 1)
        record({**base, "nodes": nodes, "round": round_,
                "loadavg_before": round(os.getloadavg()[0], 2)}, figures)


def add_ratios(records: list[dict]) -> None:
    """Each two-node throughput (and per-CPU figure) over the one-node median."""
    for key in ("acked_per_s", "per_cpu_s"):
        single: dict[tuple, list[float]] = {}
        for r in records:
            if r["name"] == "scale" and r["nodes"] == 1 and r.get(key):
                single.setdefault((r["transport"], r["store"]), []).append(r[key])
        for r in records:
            ref = single.get((r["transport"], r.get("store")))
            if r["name"] == "scale" and r["nodes"] > 1 and r.get(key) and ref:
                name = "ratio" if key == "acked_per_s" else "per_cpu_ratio"
                r[name] = round(r[key] / statistics.median(ref), 3)
