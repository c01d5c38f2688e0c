"""The stores' side-by-side table of docs/benchmarks.md, from one or several runs."""

from __future__ import annotations

from bench.report import stores_table


def _run(sqlite: float, mongo: float) -> dict:
    return {"scenarios": [
        {"name": "raw_relay", "workload": "p2p_throughput", "transport": "tcp",
         "store": "none", "layer": "none", "acked_per_s": 1e5},
        {"name": "p2p_throughput", "transport": "tcp", "store": "sqlite", "layer": "memory",
         "acked_per_s": sqlite, "server_cpu": 0.5},
        {"name": "p2p_throughput", "transport": "tcp", "store": "postgresql+mongodb",
         "layer": "redis", "acked_per_s": mongo, "server_cpu": None},
        {"name": "p2p_latency", "transport": "tcp", "store": "postgresql+mongodb",
         "layer": "redis", "rate": 100, "delivery_ms_p50": 3.0, "delivery_ms_p99": 9.0},
        {"name": "deployment", "transport": "-", "store": "pg-redis", "layer": "-",
         "error": "could not start"},
    ]}


def test_one_column_per_store_with_medians_and_ranges_over_runs():
    lines = stores_table([_run(100, 10), _run(300, 30), _run(200, 50)]).splitlines()
    assert lines[0] == "| scenario | transport | figure | sqlite | postgresql+mongodb+redis |"
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:3]): line
            for line in lines[2:]}
    assert rows["p2p_throughput", "tcp", "acked/s"].endswith(
        "| 200 (100-300) | 30 (10-50) |")
    # A figure a store lacks is a dash, never a zero; a run's errors are left out.
    assert rows["p2p_throughput", "tcp", "msgs per imserver CPU-s"].endswith(
        "| 400 (200-600) | - |")
    assert rows["p2p_latency @100/s", "tcp", "delivery p99 ms"].endswith("| - | 9.0 (9.0-9.0) |")
    assert not any("pg-redis" in line or "raw_relay" in line for line in lines)
