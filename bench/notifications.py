"""Notifications benchmark: the send path with notifications on and off, and the
notifications themselves (docs/protocol.md, Notifications).

`pairs` senders each send `messages` texts (`window` in flight, 32 by default) to their own
recipient, who is offline and has a webhook device pointing at a loopback receiver.
Runs alternate off, on, off, on... on one database (A/B interleaved; medians
reported). "off" is IM_PUSH_ENABLED=0: no outbox row is written at all.

Reported: ack latency p50/p99 and messages/s of the send path; with notifications
on, notifications/s (first send to last notification received), per worker, and the
message-to-notification latency p50/p99 (the message's server ts to its arrival at
the receiver). Embedded mode delivers in the server process (IM_PUSH_WORKERS
threads); --celery N runs N `celery -A imsite worker -c 1` processes on a private
Redis broker instead.

    python bench/notifications.py --rounds 2 --out bench/results/notifications.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deploy import BenchServer, Deployment, RedisServer  # noqa: E402

WINDOW = 32


class Receiver:
    """A webhook receiver that answers 204 to every POST: HTTP/1.1 keep-alive parsed
    by hand on an asyncio loop of its own thread (http.server's per-request cost
    capped the measured rate at a few hundred a second on this machine)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int, str]] = []  # (wall ms, message ts, key)
        self.lock = threading.Lock()
        ready = threading.Event()
        self.port = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    body = await reader.readexactly(length)
                    now = time.time() * 1000
                    payload = json.loads(body)
                    with self.lock:
                        self.arrivals.append((now, payload["ts"], payload["id"]))
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        async def main() -> None:
            server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await server.serve_forever()

        threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
        ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def take(self) -> list[tuple[float, int, str]]:
        with self.lock:
            taken, self.arrivals = self.arrivals, []
        return taken


def rest(base: str, method: str, path: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def sender(ws_url: str, token: str, to: int, count: int, acks: list[float],
                 run: str = "", window: int = WINDOW) -> None:
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "id": "a", "token": token, "device": "b"}))
        while json.loads(await ws.recv())["type"] != "auth_ok":
            pass
        sent: dict[str, float] = {}
        next_id = 0
        done = 0
        while done < count:
            while next_id < count and len(sent) < window:
                frame_id = f"{run}m{next_id}"  # unique per run: not a duplicate
                sent[frame_id] = time.perf_counter()
                await ws.send(json.dumps({"type": "text", "id": frame_id, "to": to,
                                          "body": {"text": f"hello {next_id}"}}))
                next_id += 1
            frame = json.loads(await ws.recv())
            if frame["type"] == "ack":
                acks.append((time.perf_counter() - sent.pop(frame["id"])) * 1000)
                done += 1


def tree_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their live descendants (a
    prefork worker's pool process is a child), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, list(pids)
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        todo.extend(children.get(pid, ()))
    return total


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def one_run(server: BenchServer, pairs: list[tuple[str, int]], messages: int,
            receiver: Receiver, notifications: bool, workers: int, window: int,
            worker_pids: list[int], drain: bool = False) -> dict:
    receiver.take()
    run = secrets.token_hex(4)
    acks: list[float] = []
    if drain and notifications:
        for pid in worker_pids:  # a backlog: the workers wait until every send is acked
            os.killpg(pid, signal.SIGSTOP)
    cpu_before = tree_cpu_s(worker_pids)
    started = time.time() * 1000
    t0 = time.perf_counter()

    async def main() -> None:
        await asyncio.gather(*(sender(server.ws, token, to, messages, acks, run, window)
                               for token, to in pairs))

    asyncio.run(main())
    elapsed = time.perf_counter() - t0
    result = {"notifications": notifications, "messages": len(acks),
              "msgs_per_s": round(len(acks) / elapsed, 1),
              "ack_p50_ms": round(percentile(acks, 50), 2),
              "ack_p99_ms": round(percentile(acks, 99), 2)}
    if drain and notifications:
        started = time.time() * 1000  # the drain's clock starts when the workers do
        for pid in worker_pids:
            os.killpg(pid, signal.SIGCONT)
    if notifications:
        expected = len(pairs) * messages
        deadline = time.monotonic() + 300
        got: list[tuple[float, int, str]] = []
        while len({k for _, _, k in got}) < expected and time.monotonic() < deadline:
            time.sleep(0.05)  # the receiver counts; nothing to await across threads here
            got += receiver.take()
        last = max(a for a, _, _ in got)
        rate = len(got) / ((last - started) / 1000)
        latencies = [a - ts for a, ts, _ in got]
        result.update({
            "notified": len({k for _, _, k in got}), "requests": len(got),
            "notifications_per_s": round(rate, 1),
            "per_worker_per_s": round(rate / workers, 1),
            "notify_p50_ms": round(percentile(latencies, 50), 1),
            "notify_p99_ms": round(percentile(latencies, 99), 1),
        })
        if worker_pids:
            cpu = tree_cpu_s(worker_pids) - cpu_before
            result["workers_cpu_s"] = round(cpu, 2)
            result["notifications_per_worker_cpu_s"] = round(len(got) / cpu, 1) if cpu else 0
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100, help="per sender, per run")
    parser.add_argument("--window", type=int, default=WINDOW, help="sends in flight per sender")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs")
    parser.add_argument("--celery", type=int, default=0, help="Celery workers (0: embedded)")
    parser.add_argument("--embedded-workers", type=int, default=2)
    parser.add_argument("--no-delivery", action="store_true",
                        help="a broker but no worker: the on runs write and publish the "
                             "outbox rows, nothing delivers them (the trigger's own cost)")
    parser.add_argument("--drain", action="store_true",
                        help="with --celery: the workers are stopped (SIGSTOP) while the "
                             "senders run and resumed after the last ack; notifications/s "
                             "is then the workers' rate on a backlog")
    parser.add_argument("--store", default="embedded", choices=["embedded", "pg-redis"])
    parser.add_argument("--out", default=str(ROOT / "bench/results/notifications.json"))
    args = parser.parse_args(argv)

    log_dir = Path(tempfile.mkdtemp(prefix="im-bench-notify-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver()
    dep = Deployment.create(args.store, log_dir)
    broker = None
    workers: list[subprocess.Popen] = []
    try:
        env = dep.env | {"IM_PUSH_ALLOW_PRIVATE": "1",
                         "IM_PUSH_WORKERS": str(args.embedded_workers)}
        if args.celery or args.no_delivery:
            broker = RedisServer()
            env["CELERY_BROKER_URL"] = broker.url(0)
        seeded = dep.seed(users=2 * args.pairs, groups=[])["users"]
        senders, recipients = seeded[: args.pairs], seeded[args.pairs:]
        boot = BenchServer(env, log_dir / "server.log")
        for _uid, token in recipients:
            rest(f"http://{boot.http}", "POST", "/api/devices/",
                 {"device": "phone", "kind": "webhook", "target": receiver.url}, token)
        boot.stop()
        for _ in range(args.celery):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "imsite", "worker", "-l", "WARNING",
                 "-c", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-n", f"bench{len(workers)}@%h"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True,
                stderr=open(log_dir / "worker.log", "a")))  # noqa: SIM115
        pairs = [(s[1], r[0]) for s, r in zip(senders, recipients, strict=True)]
        runs = []
        for _ in range(args.rounds):
            for on in (False, True):
                server = BenchServer(env | {"IM_PUSH_ENABLED": "1" if on else "0"},
                                     log_dir / "server.log")
                try:
                    runs.append(one_run(server, pairs, args.messages, receiver,
                                        on and not args.no_delivery,
                                        args.celery or args.embedded_workers, args.window,
                                        [w.pid for w in workers], args.drain))
                    runs[-1]["notifications"] = on
                finally:
                    server.stop()
                print(json.dumps(runs[-1]), flush=True)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGCONT)
            worker.terminate()
            worker.wait(30)
        if broker is not None:
            broker.stop()
        dep.close()

    summary = {}
    for on in (False, True):
        mine = [r for r in runs if r["notifications"] == on]
        summary["on" if on else "off"] = {
            key: statistics.median(r[key] for r in mine)
            for key in mine[0] if key not in ("notifications",)
        }
    document = {"mode": "outbox only, no worker" if args.no_delivery
                else f"celery x{args.celery}, drain" if args.celery and args.drain
                else f"celery x{args.celery}" if args.celery
                else f"in-process x{args.embedded_workers}", "store": args.store,
                "pairs": args.pairs, "messages_per_sender": args.messages,
                "window": args.window,
                "runs": runs, "median": summary}
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["median"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
