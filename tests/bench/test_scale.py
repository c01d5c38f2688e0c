"""The scale scenario's bookkeeping: interleaved runs, ratios to one node, the report
row, and server CPU over a supervisor and its workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.deploy import process_cpu_s, process_tree_cpu_s
from bench.report import row
from bench.scenarios.scale import add_ratios, runs, users_needed


def test_runs_interleave_one_and_two_nodes_each_on_users_of_its_own():
    params = {"pairs": 5, "rounds": 2}
    assert runs(params) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert users_needed(params) == 4 * 2 * 5


def test_two_node_runs_get_their_ratio_to_the_one_node_median():
    base = {"name": "scale", "transport": "tcp", "store": "postgresql", "layer": "redis"}
    records = [
        {**base, "nodes": 1, "acked_per_s": 1000.0, "per_cpu_s": 10000.0, "server_cpu": 0.1},
        {**base, "nodes": 2, "acked_per_s": 1500.0, "per_cpu_s": 8000.0, "server_cpu": 0.19},
        {**base, "nodes": 1, "acked_per_s": 3000.0, "per_cpu_s": 12000.0, "server_cpu": 0.25},
        {**base, "transport": "ws", "nodes": 2, "acked_per_s": 900.0, "per_cpu_s": 1.0},
    ]
    add_ratios(records)
    assert records[1]["ratio"] == 0.75 and records[1]["per_cpu_ratio"] == 0.727
    assert "ratio" not in records[0] and "ratio" not in records[3]  # no one-node run on ws
    cells = row(records[1])
    assert cells[0] == "scale (2 nodes)" and "1,500 acked/s" in cells[3]
    assert "x0.75 of 1 node" in cells[7]


def test_server_cpu_counts_the_workers_of_a_supervisor():
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n" \
           "time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               f"p = subprocess.Popen([sys.executable, '-c', {busy!r}])\n"
                               "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while process_tree_cpu_s(parent.pid) - process_cpu_s(parent.pid) < 0.5:
            assert time.monotonic() < deadline, "the child's CPU never counted"
            time.sleep(0.05)
    finally:
        for child in open(f"/proc/{parent.pid}/task/{parent.pid}/children").read().split():
            os.kill(int(child), 9)
        parent.kill()
        parent.wait()
