"""The scenarios, run inside the load generator process (bench/loadgen.py).

One module per scenario, each `async def name(ctx) -> dict` returning its figures,
over the shared machinery of harness.py (context, connecting, CPU meter, and the
`Traffic`/`Pairs` wiring that keeps every scenario's Ledger the same way). Figures
are documented in docs/benchmarks.md.
"""

from bench.scenarios.catch_up import catch_up
from bench.scenarios.connect_storm import connect_storm
from bench.scenarios.group_fanout import group_fanout
from bench.scenarios.group_knee import group_knee
from bench.scenarios.harness import Context
from bench.scenarios.idle_connections import idle_connections
from bench.scenarios.p2p_latency import p2p_latency
from bench.scenarios.p2p_throughput import p2p_throughput

SCENARIOS = {
    "p2p_throughput": p2p_throughput,
    "p2p_latency": p2p_latency,
    "group_fanout": group_fanout,
    "group_knee": group_knee,
    "idle_connections": idle_connections,
    "connect_storm": connect_storm,
    "catch_up": catch_up,
}

__all__ = ["SCENARIOS", "Context"]
