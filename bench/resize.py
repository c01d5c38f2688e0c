"""Resize under load: N nodes with steady traffic, one node added, then drained.

    python -m bench.run resize [--nodes 3] [--receivers 300] [--rate 1000] [--docs]

Every client is the SDK (`imclient.Client`), connected where the gateway says. Senders
send at a steady total rate to random receivers; each message carries its send time.
Reported: the fraction of users moved by each change, the time from the ring change
until every moved client is online on its new node and holds every message acked to
it before the change, delivery latency (p50/p99) during each move and at rest, and
lost and duplicated messages (must be 0). With --docs, the figures go into
docs/benchmarks.md and a picture of latency over time into docs/bench-resize.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import urllib.request
from pathlib import Path

from bench.deploy import ROOT, Deployment, raise_nofile
from imclient import Client

CLUSTER_ENV = {"IM_NODE_HEARTBEAT_S": "1", "IM_NODE_TTL_S": "3", "IM_DRAIN_S": "5"}
DOC_BEGIN, DOC_END = "<!-- resize:begin -->", "<!-- resize:end -->"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def gateway_tcp(base_url: str, token: str) -> str:
    request = urllib.request.Request(base_url + "/api/gateway/",
                                     headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["tcp"]


def wait_ring(servers, members: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen = [json.loads(urllib.request.urlopen(f"http://{s.http}/api/ready/",
                                                      timeout=5).read()) for s in servers]
            if len({(a["ring"], a["nodes"]) for a in seen}) == 1 and seen[0]["nodes"] == members:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the nodes did not agree on a ring")


class Load:
    def __init__(self, senders: list[Client], receivers: dict[int, Client], rate: float):
        self.senders, self.receivers, self.rate = senders, receivers, rate
        self.acked: dict[int, set[tuple[str, int]]] = {uid: set() for uid in receivers}
        self.ack_time: dict[tuple[str, int], float] = {}
        self.got: dict[int, list[tuple[str, int]]] = {uid: [] for uid in receivers}
        self.held: dict[int, set[tuple[str, int]]] = {uid: set() for uid in receivers}
        self.latency: list[tuple[float, float]] = []  # (receive time, seconds)
        self.stopped = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._send())] + [
            asyncio.create_task(self._receive(uid, c)) for uid, c in self.receivers.items()]

    async def _one(self, sender: Client, uid: int) -> None:
        message = await sender.send_text(to=uid, text=repr(time.time()), timeout=60)
        key = (message.channel, message.seq)
        self.acked[uid].add(key)
        self.ack_time[key] = time.monotonic()

    async def _send(self) -> None:
        uids = list(self.receivers)
        inflight: set[asyncio.Task] = set()
        start, sent = time.monotonic(), 0
        while not self.stopped.is_set():
            due = int((time.monotonic() - start) * self.rate)
            for _ in range(due - sent):
                task = asyncio.create_task(self._one(random.choice(self.senders),
                                                     random.choice(uids)))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            sent = max(sent, due)
            await asyncio.sleep(0.01)
        await asyncio.gather(*inflight, return_exceptions=True)

    async def _receive(self, uid: int, client: Client) -> None:
        async for message in client.messages():
            now = time.time()
            self.got[uid].append((message.channel, message.seq))
            self.held[uid].add((message.channel, message.seq))
            try:
                self.latency.append((time.monotonic(), now - float(message.text)))
            except (TypeError, ValueError):
                pass

    def holds_acked_before(self, uid: int, moment: float) -> bool:
        held = self.held[uid]
        return all(key in held for key in self.acked[uid] if self.ack_time[key] <= moment)


async def wait_until(predicate, timeout: float = 120) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise RuntimeError("not reached in time")
        await asyncio.sleep(0.1)
    return time.monotonic()


def ring_version(base_url: str) -> int:
    with urllib.request.urlopen(base_url + "/api/ready/", timeout=5) as response:
        return json.loads(response.read())["ring"]


async def ring_changes(base_url: str, version: int) -> float:
    """When the node at base_url starts serving a ring other than `version`."""
    while await asyncio.to_thread(ring_version, base_url) == version:
        await asyncio.sleep(0.02)
    return time.monotonic()


async def move(load: Load, base_url: str, tokens: dict[int, str], before: dict[int, str],
               change, label: str, events: list) -> tuple[dict, dict]:
    """Apply a ring change; measure who moved and how long until all are back, from
    the moment the ring changed (a node's process start or exit is not counted)."""
    watch = asyncio.create_task(ring_changes(base_url, await asyncio.to_thread(
        ring_version, base_url)))
    started = time.monotonic()
    await asyncio.to_thread(change)
    changed_at = await watch
    events.append((changed_at, label))
    answers = await asyncio.gather(*(asyncio.to_thread(gateway_tcp, base_url, t)
                                     for t in tokens.values()))
    after = dict(zip(tokens, answers, strict=True))
    moved = [uid for uid in before if after[uid] != before[uid]]
    receivers = load.receivers
    ring_at = time.monotonic()  # the change is done: every node serves the new ring
    online_at = await wait_until(lambda: all(
        receivers[u].online and receivers[u].status.address == after[u] for u in moved))
    done_at = await wait_until(lambda: all(
        load.holds_acked_before(u, changed_at) for u in moved))
    window = [lat for at, lat in load.latency if changed_at <= at <= done_at + 1]
    return after, {
        "change": label, "users": len(before), "moved": len(moved),
        "moved_fraction": round(len(moved) / len(before), 3),
        "process_to_ring_change_s": round(changed_at - started, 2),
        "ring_on_every_node_s": round(ring_at - changed_at, 2),
        "online_on_new_node_s": round(online_at - changed_at, 2),
        "back_and_caught_up_s": round(done_at - changed_at, 2),
        "latency_p50_ms": round(1000 * (percentile(window, 0.5) or 0), 1),
        "latency_p99_ms": round(1000 * (percentile(window, 0.99) or 0), 1),
    }


async def run(args) -> dict:
    log_dir = ROOT / "bench" / "results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    dep = Deployment.create("pg-redis", log_dir)
    dep.env.update(CLUSTER_ENV)
    clients: list[Client] = []
    try:
        nodes = [dep.start_server() for _ in range(args.nodes)]
        await asyncio.to_thread(wait_ring, nodes, args.nodes)
        seeded = dep.seed(users=args.receivers + args.senders, groups=[])["users"]
        base = f"http://{nodes[0].http}"
        senders = [Client(base, token=t, backoff_max=1, seed=i)
                   for i, (_, t) in enumerate(seeded[:args.senders])]
        receivers = {uid: Client(base, token=t, backoff_initial=0.05, backoff_max=1, seed=uid)
                     for uid, t in seeded[args.senders:]}
        tokens = {uid: t for uid, t in seeded[args.senders:]}
        clients = senders + list(receivers.values())
        for start in range(0, len(clients), 50):
            await asyncio.gather(*(c.connect(timeout=60) for c in clients[start:start + 50]))
        placement = {uid: c.status.address for uid, c in receivers.items()}
        load = Load(senders, receivers, args.rate)
        load.start()
        t0 = time.monotonic()
        events: list = []
        await asyncio.sleep(args.settle)
        rest = [lat for _, lat in load.latency]

        added: list = []

        def add() -> None:
            added.append(dep.start_server())
            wait_ring(nodes + added, args.nodes + 1)

        placement, grow = await move(load, base, tokens, placement, add, "add", events)
        await asyncio.sleep(args.settle)

        def drain() -> None:
            dep.stop_server(added[0])
            wait_ring(nodes, args.nodes)

        placement, shrink = await move(load, base, tokens, placement, drain, "drain", events)
        await asyncio.sleep(args.settle)
        load.stopped.set()
        await load.tasks[0]
        await wait_until(lambda: all(load.holds_acked_before(u, time.monotonic())
                                     for u in receivers), timeout=60)
        for task in load.tasks[1:]:
            task.cancel()
        acked = sum(len(v) for v in load.acked.values())
        lost = sum(len(load.acked[u] - set(load.got[u])) for u in receivers)
        duplicated = sum(len(g) - len(set(g)) for g in load.got.values())
        seconds = time.monotonic() - t0
        return {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 1),
            "nodes": args.nodes, "receivers": args.receivers, "senders": args.senders,
            "rate": args.rate, "achieved_rate": round(acked / seconds),
            "acked": acked, "lost": lost, "duplicated": duplicated,
            "latency_at_rest_p50_ms": round(1000 * (percentile(rest, 0.5) or 0), 1),
            "latency_at_rest_p99_ms": round(1000 * (percentile(rest, 0.99) or 0), 1),
            "moves": [grow, shrink],
            "timeline": [(round(at - t0, 3), round(lat, 4)) for at, lat in load.latency],
            "events": [(round(at - t0, 3), label) for at, label in events],
        }
    finally:
        for client in clients:
            await client.close()
        dep.close()


def table(result: dict) -> str:
    lines = [
        f"{result['nodes']} nodes, {result['receivers']} receivers, {result['senders']} "
        f"senders, {result['rate']} msg/s asked ({result['achieved_rate']} acked/s), "
        f"{result['acked']} messages: lost {result['lost']}, duplicated "
        f"{result['duplicated']}. Delivery at rest: p50 {result['latency_at_rest_p50_ms']} ms,"
        f" p99 {result['latency_at_rest_p99_ms']} ms. Machine load average (1 min) at the "
        f"end: {result.get('loadavg_1m_at_end')}.",
        "",
        "| change | users moved | fraction | every node on the new ring | every moved client "
        "online on its new node | and caught up | delivery p50 during the move | p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    # Times from the moment the node probed first serves the new ring (so a node's
    # process start-up, or its exit, is not counted).
    for m in result["moves"]:
        lines.append(f"| {m['change']} | {m['moved']} of {m['users']} | {m['moved_fraction']} "
                     f"| {m['ring_on_every_node_s']} s | {m['online_on_new_node_s']} s "
                     f"| {m['back_and_caught_up_s']} s | {m['latency_p50_ms']} ms | "
                     f"{m['latency_p99_ms']} ms |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets: dict[int, list[float]] = {}
    for at, lat in result["timeline"]:
        buckets.setdefault(int(at * 2), []).append(lat * 1000)
    xs = sorted(buckets)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot([x / 2 for x in xs], [percentile(buckets[x], 0.99) for x in xs], label="p99")
    ax.plot([x / 2 for x in xs], [statistics.median(buckets[x]) for x in xs], label="p50")
    for at, label in result["events"]:
        ax.axvline(at, color="grey", linestyle="--")
        ax.text(at, ax.get_ylim()[1] * 0.9, f" {label}", color="grey")
    ax.set_xlabel("seconds")
    ax.set_ylabel("delivery latency (ms)")
    ax.set_title(f"Resize under load: {result['nodes']} nodes + 1, then drained")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def publish(result: dict) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text()
    section = (f"{DOC_BEGIN}\n## Resize under load\n\n`python -m bench.run resize --docs` "
               f"({result['date']}; every client is the SDK, all processes on this machine's "
               f"two cores):\n\n{table(result)}\n\n![delivery latency across the resize]"
               f"(bench-resize.png)\n{DOC_END}")
    if DOC_BEGIN in text:
        text = text[:text.index(DOC_BEGIN)] + section + text[text.index(DOC_END) + len(DOC_END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    doc.write_text(text)
    plot(result, ROOT / "docs" / "bench-resize.png")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.run resize", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--receivers", type=int, default=300)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--settle", type=float, default=5, help="seconds between changes")
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args(argv)
    raise_nofile()
    result = asyncio.run(run(args))
    out = ROOT / "bench" / "results" / "resize.json"
    out.write_text(json.dumps(result))
    print(table(result))
    if args.docs:
        publish(result)
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1
