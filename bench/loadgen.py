"""The load generator: one process that runs one scenario against one server.

    python bench/loadgen.py SPEC.json RESULT.json

SPEC: {"scenario", "transport", "address", "encoding", "relay", "server_pid",
"users": [[id, token], ...], "groups": [...], "params": {...}, "profile": path|null}.
RESULT: the scenario's figures, or {"error": "..."} (exit code 1).

Runs on uvloop where installed, with the open-file limit raised to its hard limit.
bench/run.py starts one of these per scenario, so the generator never shares a
process (or an interpreter lock) with the server it measures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `improto` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.deploy import raise_nofile
from bench.scenarios import SCENARIOS, Context


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run_scenario(spec: dict) -> dict:
    ctx = Context(
        transport=spec["transport"], address=spec["address"],
        encoding=spec.get("encoding", "json"), relay=spec.get("relay", False),
        server_pid=spec.get("server_pid"), users=[tuple(u) for u in spec.get("users", [])],
        params=spec.get("params", {}), groups=spec.get("groups", []),
        profile=spec.get("profile"), profile_gil=spec.get("profile_gil", False),
    )
    scenario = SCENARIOS[spec["scenario"]]
    if event_loop_name() == "uvloop":
        import uvloop

        return uvloop.run(scenario(ctx))
    return asyncio.run(scenario(ctx))


def main(argv: list[str]) -> int:
    spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text())
    nofile = raise_nofile()
    try:
        result = run_scenario(spec)
        result["generator_loop"] = event_loop_name()
        code = 0
    except Exception as exc:  # the orchestrator reports it as the scenario's failure
        traceback.print_exc()
        result = {"error": f"{exc.__class__.__name__}: {exc}", "nofile": nofile}
        code = 1
    Path(result_path).write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
