"""Run the benchmarks: start the servers, run each scenario's load generator, report.

    python bench/run.py                            # full (make bench): every scenario,
                                                   # TCP and WebSocket, embedded and
                                                   # PostgreSQL + Redis; updates the docs
    python bench/run.py --quick --out FILE         # small counts, under two minutes

Writes one JSON document {"date", "machine", "commit", "mode", "settings",
"scenarios": [{"name", "transport", "store", "layer", ...figures}]}, prints a table,
and exits 1 if any scenario lost, duplicated or failed to deliver a message, or
failed to run (never because of a speed figure). Run from the repository root with
the project's virtualenv. docs/benchmarks.md explains every figure.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `improto` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import resize
from bench.deploy import (
    BENCH_SERVER_ENV,
    PYTHON,
    ROOT,
    Deployment,
    RelayServer,
    pg_available,
    pg_base_url,
    raise_nofile,
)
from bench.knee import share
from bench.report import failures, stores_table, text_table, update_docs, update_stores_docs
from bench.scenarios.scale import add_ratios, run_scale, users_needed
from bench.scrape import Scraper
from bench.scrape import plot as plot_scrapes

TRANSPORTS = ("tcp", "ws")
STORES = ("embedded", "pg-redis", "pg-mongo-redis")
SCENARIO_ORDER = ("raw_relay", "p2p_throughput", "p2p_latency", "group_fanout", "group_knee",
                  "catch_up", "connect_storm", "idle_connections", "scale")
# What the raw relay runs, with the server's parameters: the workloads of these that
# were asked for (all of them when `raw_relay` is asked for alone).
RELAY_WORKLOADS = ("p2p_throughput", "group_fanout", "group_knee")
# The scenarios that need a group of their own (one per transport) seeded.
GROUP_SCENARIOS = ("group_fanout", "group_knee")
# Runs on this deployment only: two nodes of one cluster need PostgreSQL and Redis.
SCALE_STORE = "pg-redis"

# Parameters of each mode. p2p_latency runs once per rate; raw_relay runs the
# p2p_throughput, group_fanout and group_knee workloads with the same parameters as
# the server. group_knee steps through `rates` (msg/s) until the server falls behind
# (bench/knee.py says what counts as falling behind).
FULL = {
    "p2p_throughput": {"pairs": 50, "window": 64, "duration": 10, "warmup": 2},
    "p2p_latency": [{"rate": 100, "pairs": 10, "duration": 10},
                    {"rate": 1000, "pairs": 10, "duration": 10}],
    "group_fanout": {"members": 500, "rate": 110, "duration": 5, "drain_timeout": 120},
    "group_knee": {"members": 500, "rates": [110, 220, 440, 660, 880, 1100], "duration": 5,
                   "drain": 2, "pause": 1, "drain_timeout": 120},
    "idle_connections": {"connections": 10000, "hold": 60, "heartbeat": 30, "probe": 100,
                         "concurrency": 50},
    "connect_storm": {"connections": 2000},
    "catch_up": {"messages": 10000, "window": 256, "page": 500},
    "scale": {"pairs": 50, "window": 64, "duration": 10, "warmup": 2, "rounds": 2},
}
QUICK = {
    "p2p_throughput": {"pairs": 10, "window": 32, "duration": 3, "warmup": 0.5},
    "p2p_latency": [{"rate": 100, "pairs": 5, "duration": 2},
                    {"rate": 1000, "pairs": 5, "duration": 2}],
    "group_fanout": {"members": 50, "rate": 20, "duration": 2},
    "group_knee": {"members": 50, "rates": [20, 80], "duration": 0.5, "drain": 2, "pause": 0.1},
    "idle_connections": {"connections": 300, "hold": 4, "heartbeat": 2, "probe": 100},
    "connect_storm": {"connections": 200},
    "catch_up": {"messages": 1000, "window": 256, "page": 500},
    "scale": {"pairs": 10, "window": 32, "duration": 3, "warmup": 1, "rounds": 1},
}
# What --profile records the server under.
PROFILED = ("p2p_throughput", "p2p_latency", "group_fanout", "connect_storm")
# The quick mode's PostgreSQL + Redis cases: one throughput run on TCP, and `scale`
# (one node, then two) so that CI checks loss and duplicates across workers too.
QUICK_PG = {("p2p_throughput", "tcp"), ("scale", "tcp")}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- what ran where ------------------------------------------------------------------


def machine_info() -> dict:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "hostname": platform.node(), "cpu": cpu, "cores": os.cpu_count(),
        "memory_gb": memory_gb, "kernel": platform.release(),
        "python": platform.python_version(), "generator_loop": loop,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def current_commit() -> str:
    """The checked-out commit, read from .git without running git (BENCH_COMMIT wins)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    git = ROOT / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: PATH"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").exists():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).exists():
                return (base / ref).read_text().strip()
            packed = base / "packed-refs"
            if packed.exists():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
    except OSError:
        pass
    return "unknown"


# --- running one scenario ---------------------------------------------------------------


class Runner:
    def __init__(self, args, work: Path, log_dir: Path) -> None:
        self.args = args
        self.work = work
        self.log_dir = log_dir
        self.records: list[dict] = []
        self.profile_dir: Path | None = Path(args.profile) if args.profile else None
        if self.profile_dir:
            self.profile_dir.mkdir(parents=True, exist_ok=True)

    def generate(self, scenario: str, *, transport: str, address: str, server_pid: int,
                 users, params: dict, groups=(), relay: bool = False,
                 profile_name: str | None = None, timeout: float = 900) -> dict:
        """Run one scenario in a load-generator process; return its figures."""
        spec = {
            "scenario": scenario, "transport": transport, "address": address,
            "encoding": self.args.ws_encoding, "relay": relay, "server_pid": server_pid,
            "users": users, "groups": list(groups), "params": params,
            "profile": str(self.profile_dir / profile_name)
            if self.profile_dir and profile_name else None,
            "profile_gil": self.args.profile_gil,
        }
        tag = secrets.token_hex(3)
        spec_path, result_path = self.work / f"spec-{tag}.json", self.work / f"result-{tag}.json"
        spec_path.write_text(json.dumps(spec))
        with open(self.log_dir / "loadgen.log", "a") as gen_log:
            gen_log.write(f"--- {scenario} {transport} {params}\n")
            gen_log.flush()
            try:
                subprocess.run([PYTHON, str(ROOT / "bench" / "loadgen.py"), str(spec_path),
                                str(result_path)], cwd=ROOT, stdout=gen_log, stderr=gen_log,
                               timeout=timeout)
            except subprocess.TimeoutExpired:
                return {"error": f"load generator timed out after {timeout} s"}
        try:
            return json.loads(result_path.read_text())
        except (OSError, ValueError):
            return {"error": "load generator wrote no result (see logs/loadgen.log)"}
        finally:
            spec_path.unlink(missing_ok=True)
            result_path.unlink(missing_ok=True)

    def record(self, base: dict, figures: dict) -> dict:
        record = {**base, **figures}
        if record["transport"] == "ws":
            record["encoding"] = self.args.ws_encoding
        record["loadavg_before"] = base.get("loadavg_before")
        self.records.append(record)
        short = {k: v for k, v in figures.items() if not k.endswith("_quantiles")}
        log(f"  {base['name']} {base.get('workload', '')} {base['transport']}: "
            f"{json.dumps(short)[:400]}")
        return record


def _loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def relay_workloads(scenarios) -> list[str]:
    """The relay's workloads for a run of `scenarios`: those asked for, else all."""
    return [w for w in RELAY_WORKLOADS if w in scenarios] or list(RELAY_WORKLOADS)


def run_relay(runner: Runner, params: dict, transports, workloads=RELAY_WORKLOADS) -> None:
    relay = RelayServer(runner.log_dir / "relay.log")
    try:
        for transport in transports:
            address = relay.tcp if transport == "tcp" else relay.ws
            # Fake users: the relay takes the token as the user id.
            for workload in workloads:
                wanted = params[workload]
                count = 2 * wanted["pairs"] if workload == "p2p_throughput" else wanted["members"]
                first = 1 + len(runner.records) * 10_000
                users = [[first + i, ""] for i in range(count)]
                base = {"name": "raw_relay", "workload": workload, "transport": transport,
                        "store": "none", "layer": "none", "loadavg_before": _loadavg()}
                figures = runner.generate(
                    workload, transport=transport, address=address, server_pid=relay.pid,
                    users=users, params=wanted, groups=[len(runner.records) + 1], relay=True,
                )
                runner.record(base, figures)
    finally:
        relay.stop()


def plan_users(params: dict, scenarios, transports) -> tuple[int, dict, list]:
    """Give every (scenario, transport) its own users, so channels start at seq 1.

    The idle and storm scenarios share one block (they run one after the other and
    send almost nothing). Returns (user count, {key: (start, count)}, groups spec);
    slices[("group", scenario, transport)] is the index of that run's group in the
    groups spec."""
    slices: dict = {}
    groups: list = []
    cursor = 0

    def take(key, count: int) -> None:
        nonlocal cursor
        slices[key] = (cursor, count)
        cursor += count

    for transport in transports:
        if "p2p_throughput" in scenarios:
            take(("p2p_throughput", transport), 2 * params["p2p_throughput"]["pairs"])
        if "p2p_latency" in scenarios:
            for case in params["p2p_latency"]:
                take(("p2p_latency", transport, case["rate"]), 2 * case["pairs"])
        for scenario in GROUP_SCENARIOS:
            if scenario in scenarios:
                members = params[scenario]["members"]
                slices[("group", scenario, transport)] = len(groups)
                groups.append((cursor, members))
                take((scenario, transport), members)
        if "catch_up" in scenarios:
            take(("catch_up", transport), 2)
        if "scale" in scenarios:
            take(("scale", transport), users_needed(params["scale"]))
    shared = 0
    if "idle_connections" in scenarios:
        shared = 1 + params["idle_connections"]["connections"]
    if "connect_storm" in scenarios:
        shared = max(shared, params["connect_storm"]["connections"])
    if shared:
        slices["shared"] = (cursor, shared)
        cursor += shared
    return cursor, slices, groups


def run_deployment(runner: Runner, name: str, params: dict, scenarios, transports,
                   only: set | None = None) -> None:
    """Every scenario on one deployment (embedded, or PostgreSQL + Redis)."""
    wanted = [s for s in SCENARIO_ORDER if s in scenarios and s != "raw_relay"
              and (s != "scale" or name == SCALE_STORE)]
    if not wanted:
        return

    def selected(scenario: str, transport: str) -> bool:
        return only is None or (scenario, transport) in only

    t0 = time.monotonic()
    dep = Deployment.create(name, runner.log_dir)
    try:
        per_transport = {t: [s for s in wanted if selected(s, t)] for t in transports}
        needed = sorted({s for ss in per_transport.values() for s in ss})
        count, slices, groups_spec = plan_users(params, needed, transports)
        seed = dep.seed(users=count, groups=groups_spec)
        log(f"{name}: migrated and seeded {count} users in {time.monotonic() - t0:.1f} s")
        users = seed["users"]
        group_of = {(s, t): seed["groups"][slices[("group", s, t)]]
                    for s in GROUP_SCENARIOS for t in transports if ("group", s, t) in slices}

        def block(key) -> list:
            start, size = slices[key]
            return users[start : start + size]

        for transport in transports:
            todo = [s for s in per_transport[transport] if s != "scale"]
            if "scale" in per_transport[transport]:
                log(f"{name}: scale on {transport}: 1 node, then 2, "
                    f"{params['scale'].get('rounds', 1)} round(s)")
                run_scale(start_server=dep.start_server, stop_server=dep.stop_server,
                          generate=runner.generate, record=runner.record,
                          base={"name": "scale", "transport": transport, "store": dep.store,
                                "layer": dep.layer, "loadavg_before": _loadavg()},
                          transport=transport, users=block(("scale", transport)),
                          params=params["scale"])
            if not todo:
                continue
            server = dep.start_server()
            for scenario in todo:
                if server.proc.poll() is not None:  # it died: say so, carry on with a new one
                    log(f"{name}: the server died (exit {server.proc.returncode}); restarting")
                    dep.stop_server(server)
                    server = dep.start_server()
                if scenario == "idle_connections":
                    # A fresh process, so its RSS before/after counts connections only.
                    dep.stop_server(server)
                    server = dep.start_server()
                address = server.tcp if transport == "tcp" else server.ws
                cases = params[scenario] if isinstance(params[scenario], list) \
                    else [params[scenario]]
                for case in cases:
                    if scenario == "p2p_latency":
                        key = ("p2p_latency", transport, case["rate"])
                    elif scenario in ("idle_connections", "connect_storm"):
                        key = "shared"
                    else:
                        key = (scenario, transport)
                    base = {"name": scenario, "transport": transport, "store": dep.store,
                            "layer": dep.layer, "loadavg_before": _loadavg()}
                    suffix = f"-{case['rate']}" if scenario == "p2p_latency" else ""
                    profile = f"{scenario}{suffix}-{transport}-{name}" \
                        if scenario in PROFILED else None
                    scraper = None
                    if runner.args.scrape:
                        scraper = Scraper(f"http://{server.http}")
                        scraper.start()
                    figures = runner.generate(
                        scenario, transport=transport, address=address,
                        server_pid=server.pid, users=block(key), params=case,
                        groups=[group_of[scenario, transport]]
                        if scenario in GROUP_SCENARIOS else [],
                        profile_name=profile,
                    )
                    runner.record(base, figures)
                    if scraper is not None:
                        save_scrapes(Path(runner.args.scrape), scraper.finish(),
                                     f"{scenario}{suffix}-{transport}-{name}", figures)
            dep.stop_server(server)
    finally:
        dep.close()


def save_scrapes(out_dir: Path, scrapes: list, name: str, figures: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"title": f"{name}: scrapes of /metrics every second", "figures": figures,
                "scrapes": scrapes}
    (out_dir / f"scrape-{name}.json").write_text(json.dumps(document))
    try:
        plot_scrapes(document, out_dir / f"scrape-{name}.png")
    except ImportError:
        log("matplotlib is not installed: no picture of the scrapes")
    log(f"  {len(scrapes)} scrapes of /metrics in {out_dir}/scrape-{name}.json")


def add_relay_shares(records: list[dict]) -> None:
    """Each throughput as a share of the raw relay's on the same transport."""
    relay = {(r["workload"], r["transport"]): r for r in records
             if r["name"] == "raw_relay" and "error" not in r}
    for r in records:
        if "error" in r:
            continue
        if r["name"] == "p2p_throughput":
            ref = relay.get(("p2p_throughput", r["transport"]))
            if ref and ref.get("acked_per_s"):
                r["share_of_relay"] = round(r["acked_per_s"] / ref["acked_per_s"], 4)
        elif r["name"] == "group_fanout":
            ref = relay.get(("group_fanout", r["transport"]))
            if ref and ref.get("deliveries_per_s") and r.get("deliveries_per_s"):
                r["share_of_relay"] = round(r["deliveries_per_s"] / ref["deliveries_per_s"], 4)
        elif r["name"] == "group_knee":
            # The share of relay at saturation: of its knee, and of its best rate.
            ref = relay.get(("group_knee", r["transport"]))
            if ref:
                for key in ("knee_deliveries_per_s", "max_deliveries_per_s"):
                    value = share(r.get(key), ref.get(key))
                    if value is not None:
                        r[key.replace("deliveries_per_s", "share_of_relay")] = value


def publish(document: dict) -> None:
    """Put a run's table in docs/benchmarks.md and its pictures in docs/."""
    from bench.plot import make_plots

    update_docs(ROOT / "docs" / "benchmarks.md", document)
    log("updated docs/benchmarks.md")
    try:
        paths = make_plots(document, ROOT / "docs")
    except ImportError:
        log("matplotlib is not installed: the pictures were not redrawn")
        return
    for path in paths:
        log(f"wrote {path}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="IM server benchmarks (docs/benchmarks.md)")
    parser.add_argument("--quick", action="store_true",
                        help="small counts, embedded + one PostgreSQL case: under two minutes")
    parser.add_argument("--out", help="the JSON document (default bench/results/MODE.json)")
    parser.add_argument("--stores", default=",".join(STORES),
                        help="deployments: embedded, pg-redis, pg-mongo-redis (comma-separated)")
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help="tcp, ws")
    parser.add_argument("--scenarios", default=",".join(SCENARIO_ORDER),
                        help="comma-separated subset of " + ", ".join(SCENARIO_ORDER))
    parser.add_argument("--ws-encoding", default="json", choices=("json", "msgpack"),
                        help="WebSocket payloads (json: what browsers send)")
    parser.add_argument("--profile", nargs="?", const=str(ROOT / "bench/results/profiles"),
                        help="py-spy the server during p2p_throughput, p2p_latency, group_fanout "
                             "and connect_storm (collapsed stacks and summaries here)")
    parser.add_argument("--profile-gil", action="store_true",
                        help="profile only the thread holding the GIL (py-spy --gil): "
                             "where the CPU goes, without time spent waiting")
    parser.add_argument("--scrape", metavar="DIR",
                        help="scrape the server's /metrics every second during each scenario; "
                             "a JSON and a PNG per scenario here (bench/scrape.py)")
    parser.add_argument("--docs", action=argparse.BooleanOptionalAction, default=None,
                        help="update docs/benchmarks.md and docs/bench-*.png "
                             "(default: on for a full run of everything)")
    parser.add_argument("--report", metavar="JSON",
                        help="run nothing: print the table of an earlier run's JSON "
                             "(and with --docs, put it in docs/benchmarks.md and the PNGs)")
    parser.add_argument("--stores-table", nargs="+", metavar="JSON",
                        help="run nothing: the stores side by side from earlier runs' JSON "
                             "(medians and ranges over the runs; with --docs, into "
                             "docs/benchmarks.md between the bench-stores markers)")
    parser.add_argument("--set", action="append", default=[], metavar="SCENARIO.KEY=VALUE",
                        help="override a parameter, e.g. --set p2p_throughput.pairs=100")
    return parser.parse_args(argv)


def apply_overrides(params: dict, overrides: list[str]) -> dict:
    params = copy.deepcopy(params)
    for item in overrides:
        path, _, raw = item.partition("=")
        scenario, _, key = path.partition(".")
        # Numbers and lists (`--set group_knee.rates=[50,100]`) are JSON; the rest strings.
        is_json = raw.replace(".", "", 1).isdigit() or raw.startswith("[")
        value = json.loads(raw) if is_json else raw
        targets = params[scenario] if isinstance(params[scenario], list) else [params[scenario]]
        for target in targets:
            target[key] = value
    return params


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["resize"]:  # a scenario of its own: bench/resize.py
        return resize.main(argv[1:])
    args = parse_args(argv)
    os.chdir(ROOT)
    if args.stores_table:
        documents = [json.loads(Path(f).read_text()) for f in args.stores_table]
        print(stores_table(documents))
        if args.docs:
            first = documents[0]
            loads = [d["machine"]["loadavg"][0] for d in documents]
            commits = ", ".join(sorted({f"`{d['commit'][:12]}`" for d in documents}))
            heading = (
                f"{len(documents)} run(s) of `--stores {','.join(STORES)}` in mode "
                f"`{first['mode']}`, {', '.join(d['date'] for d in documents)}, commits "
                f"{commits}, {first['machine']['cpu']} "
                f"({first['machine']['cores']} cores); load average at the runs' start "
                f"{min(loads)} to {max(loads)}. Medians, with the range over the runs.")
            update_stores_docs(ROOT / "docs" / "benchmarks.md", documents, heading)
            log("updated the stores' table of docs/benchmarks.md")
        return 1 if any(failures(d["scenarios"]) for d in documents) else 0
    if args.report:
        document = json.loads(Path(args.report).read_text())
        print(text_table(document["scenarios"]))
        if args.docs:
            publish(document)
        return 1 if failures(document["scenarios"]) else 0
    raise_nofile()
    mode = "quick" if args.quick else "full"
    out = Path(args.out or ROOT / "bench" / "results" / f"{mode}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in log_dir.glob("*.log"):
        stale.unlink()
    params = apply_overrides(QUICK if args.quick else FULL, args.set)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIO_ORDER) | set(transports) - set(TRANSPORTS) \
        | set(stores) - set(STORES)
    if unknown:
        print(f"unknown names: {sorted(unknown)}", file=sys.stderr)
        return 2
    everything = (set(scenarios) == set(SCENARIO_ORDER) and set(transports) == set(TRANSPORTS)
                  and set(stores) == set(STORES))
    docs = args.docs if args.docs is not None else (mode == "full" and everything)

    started = time.monotonic()
    document = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(), "commit": current_commit(), "mode": mode,
        "settings": {"server_env": {k: v for k, v in BENCH_SERVER_ENV.items()
                                    if k.startswith("IM_")},
                     "params": params, "ws_encoding": args.ws_encoding},
        "scenarios": [],
    }
    skipped = {}
    log(f"{mode} run: scenarios {','.join(scenarios)}; transports {','.join(transports)}; "
        f"stores {','.join(stores)}; logs in {log_dir}")
    with tempfile.TemporaryDirectory(prefix="im-bench-") as work:
        runner = Runner(args, Path(work), log_dir)
        try:
            if "raw_relay" in scenarios:
                log("raw relay")
                run_relay(runner, params, transports, relay_workloads(scenarios))
            for store in stores:
                only = None
                if store in ("pg-redis", "pg-mongo-redis"):
                    why = pg_available(pg_base_url())
                    if why:
                        skipped[store] = why
                        log(f"skipping {store}: {why}")
                        continue
                    if args.quick:
                        only = QUICK_PG
                log(f"deployment {store}")
                try:
                    run_deployment(runner, store, params, scenarios, transports, only)
                except Exception as exc:  # a deployment that cannot start is a failed run
                    log(f"{store} failed: {exc!r}")
                    runner.records.append({"name": "deployment", "transport": "-",
                                           "store": store, "layer": "-", "error": repr(exc)})
        finally:
            add_relay_shares(runner.records)
            add_ratios(runner.records)
            document["scenarios"] = runner.records
            document["skipped"] = skipped
            document["elapsed_s"] = round(time.monotonic() - started, 1)
            out.write_text(json.dumps(document, indent=1))

    print()
    print(text_table(document["scenarios"]))
    print()
    log(f"wrote {out} in {document['elapsed_s']} s")
    if docs:
        publish(document)
    problems = failures(document["scenarios"])
    if problems:
        print("FAILED: messages lost, duplicated or undelivered, or a scenario did not run:")
        for problem in problems:
            print("  " + problem)
        return 1
    print("no message lost, duplicated or undelivered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
