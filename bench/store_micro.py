"""The write path alone: messages_send on the real database, no sockets, no event loop.

The group-commit writer thread is where the p2p scenarios spend most of the server's
interpreter time, so this isolates it: batches of one-to-one sends go through
`messages_send` exactly as the batch writer calls it (fresh connection handling
included), and the same rows through a bare `executemany` in one transaction, which is
what the database itself costs from Python. The gap is the ORM's share.

    python bench/store_micro.py [--store embedded|pg-redis] [--batch 512] [--messages 20000]
                                [--profile]

Prints msgs/s and this process's CPU per message for each configuration (and, with
--profile, the top functions by cumulative time of the messages_send run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `improto` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def inner() -> None:
    """Runs inside the deployment's Django (manage.py shell)."""
    import cProfile
    import io
    import pstats
    import secrets

    from django.db import close_old_connections, connection, transaction

    from improto.vocabulary import TEXT
    from messaging.services.message_send import SendRequest, messages_send
    from realtime.db import with_kept_connection

    spec = json.loads(os.environ["BENCH_MICRO"])
    users = [u[0] for u in spec["users"]]
    batch_size, total = spec["batch"], spec["messages"]
    pairs = list(zip(users[0::2], users[1::2], strict=False))
    run = secrets.token_hex(3)
    results = {}

    def requests(n: int, tag: str) -> list[SendRequest]:
        out = []
        for i in range(n):
            a, b = pairs[i % len(pairs)]
            out.append(SendRequest(sender_id=a, client_id=f"{run}{tag}{i}", type=TEXT,
                                   body={"text": "benchmark message: 32 chars long"}, to=b))
        return out

    def timed(label: str, size: int, fn) -> None:
        reqs = requests(total, label)
        t0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(0, total, size):
            fn(reqs[i : i + size])
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0  # this process only: not the database server's
        results[label] = {"batch": size, "messages": total,
                          "msgs_per_s": round(total / elapsed, 1),
                          "us_per_msg": round(elapsed / total * 1e6, 1),
                          "cpu_us_per_msg": round(cpu / total * 1e6, 1)}

    # 1. The real path: what the writer thread runs per batch.
    timed("messages_send", batch_size, lambda b: with_kept_connection(messages_send, b))
    timed("messages_send_batch1", 1, lambda b: with_kept_connection(messages_send, b))
    # The same without closing the connection after each batch (CONN_MAX_AGE is 0 on
    # the embedded SQLite default, so the writer reconnects for every batch).
    timed("batch1_kept_connection", 1, messages_send)
    timed("batch_kept_connection", batch_size, messages_send)

    # 2. The floor: the same rows with one executemany per batch, in one transaction.
    from messaging.models import Message

    table = Message._meta.db_table
    columns = "channel, seq, ts, sender_id, client_id, type, body, recipient_id, group_id"
    seqs: dict[str, int] = {}

    def raw(batch) -> None:
        rows = []
        now = time.time_ns() // 1_000_000
        for r in batch:
            a, b = sorted((r.sender_id, r.to))
            channel = f"p:{a}:{b}:raw"
            seqs[channel] = seqs.get(channel, 0) + 1
            rows.append((channel, seqs[channel], now, r.sender_id, r.client_id, r.type,
                         json.dumps(r.body), r.to, None))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 9)})", rows)

    close_old_connections()
    timed("raw_executemany", batch_size, raw)

    profile_text = ""
    if spec.get("profile"):
        profiler = cProfile.Profile()
        reqs = requests(min(total, 10 * batch_size), "prof")
        profiler.enable()
        for i in range(0, len(reqs), batch_size):
            with_kept_connection(messages_send, reqs[i : i + batch_size])
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(35)
        profile_text = stream.getvalue()
    with open(os.environ["BENCH_MICRO_OUT"], "w") as out:
        json.dump({"results": results, "profile": profile_text}, out)


def main(argv: list[str] | None = None) -> int:
    from bench.deploy import Deployment, pg_available, pg_base_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="embedded", choices=("embedded", "pg-redis"))
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.store == "pg-redis" and (why := pg_available(pg_base_url())):
        print(why, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="im-bench-micro-") as work:
        dep = Deployment.create(args.store, Path(work))
        try:
            seed = dep.seed(users=2 * args.pairs, groups=[])
            out = Path(work) / "micro.json"
            spec = {"users": seed["users"], "batch": args.batch, "messages": args.messages,
                    "profile": args.profile}
            env = dep.env | {"BENCH_MICRO": json.dumps(spec), "BENCH_MICRO_OUT": str(out)}
            dep.manage(["shell", "-c", "from bench.store_micro import inner; inner()"],
                       env=env, timeout=900)
            document = json.loads(out.read_text())
        finally:
            dep.close()
    print(f"store {args.store} ({dep.store}):")
    for label, row in document["results"].items():
        print(f"  {label:22} batch {row['batch']:4}: {row['msgs_per_s']:>10,.0f} msgs/s "
              f"({row['us_per_msg']} us/msg, {row['cpu_us_per_msg']} us CPU/msg)")
    if document["profile"]:
        print(document["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
