"""The write path alone: messages_send on the real database, no sockets, no event loop.

The group-commit writer thread is where the p2p scenarios spend most of the server's
interpreter time, so this isolates it: batches of one-to-one sends go through
`messages_send` exactly as the batch writer calls it (fresh connection handling
included), and the same rows through a bare `executemany` in one transaction, which is
what the database itself costs from Python. The gap is the ORM's share.

With `--store pg-mongo-redis` (messages on a private SecantusDB), it also compares
the MongoDB store's append through pymongo's synchronous client, as the writer thread
calls it, with the same operations through its asyncio client (`AsyncMongoClient`):
the batch's three round trips (read the marks, ordered `insert_many`, `bulk_write` of
the marks), once per driver, interleaved (sync, async, sync, async, ...; `--rounds`),
wall time and this process's CPU per message. The async client runs on an event loop
of the calling thread (`run_until_complete` per batch), which is how a writer thread
would drive it.

    python bench/store_micro.py [--store embedded|pg-redis|pg-mongo-redis] [--batch 512]
                                [--messages 20000] [--rounds 3] [--profile]

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
    if spec.get("mongo"):
        results.update(mongo_drivers(spec, pairs, run))

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


def mongo_drivers(spec: dict, pairs: list[tuple[int, int]], run: str) -> dict:
    """The MongoDB store's batch round trips through the sync and the async driver,
    interleaved; medians of wall and client CPU per message (runs inside Django)."""
    import asyncio
    import statistics

    from django.conf import settings
    from pymongo import AsyncMongoClient, MongoClient, UpdateOne
    from pymongo.write_concern import WriteConcern

    from messaging.store import NewMessage, get_store
    from messaging.store.hot import HotWindowStore

    concern = WriteConcern(w="majority", j=True)
    sync_db = MongoClient(settings.IM_MONGODB_URL).get_default_database()
    async_client = AsyncMongoClient(settings.IM_MONGODB_URL)
    async_db = async_client.get_default_database()
    loop = asyncio.new_event_loop()
    total = spec["messages"]
    samples: dict[str, list[tuple[float, float]]] = {}

    def docs(n: int, tag: str, marks: dict[str, int]) -> list[dict]:
        out = []
        for i in range(n):
            a, b = pairs[i % len(pairs)]
            channel = f"p:{min(a, b)}:{max(a, b)}:{tag}"
            marks[channel] = marks.get(channel, 0) + 1
            out.append({"channel": channel, "seq": marks[channel], "ts": 1, "sender_id": a,
                        "client_id": f"{run}{tag}{i}", "type": "text",
                        "body": {"text": "benchmark message: 32 chars long"},
                        "recipient_id": b, "group_id": None, "target": None,
                        "edited": None, "recalled": None})
        return out

    def sync_batch(messages, channels) -> None:
        list(channels.find({"_id": {"$in": sorted({d["channel"] for d in messages})}}))
        messages_col.insert_many(messages, ordered=True)
        tops = {d["channel"]: d["seq"] for d in messages}
        channels.bulk_write([UpdateOne({"_id": c}, {"$max": {"seq": s}}, upsert=True)
                             for c, s in tops.items()], ordered=False)

    async def async_batch(messages, channels, col) -> None:
        await channels.find({"_id": {"$in": sorted({d["channel"] for d in messages})}}
                            ).to_list()
        await col.insert_many(messages, ordered=True)
        tops = {d["channel"]: d["seq"] for d in messages}
        await channels.bulk_write([UpdateOne({"_id": c}, {"$max": {"seq": s}}, upsert=True)
                                   for c, s in tops.items()], ordered=False)

    messages_col = sync_db.get_collection("micro_messages", write_concern=concern)
    sync_channels = sync_db.get_collection("micro_channels", write_concern=concern)
    async_col = async_db.get_collection("micro_messages", write_concern=concern)
    async_channels = async_db.get_collection("micro_channels", write_concern=concern)
    messages_col.create_index([("channel", 1), ("seq", 1)], unique=True)
    # What the moderators' (ts, seq) index costs each insert: the store's other three
    # indexes, then the same with it.
    indexed = {}
    for label, extra in (("3_indexes", []), ("4_indexes", [[("ts", -1), ("seq", -1)]])):
        col = sync_db.get_collection(f"micro_{label}", write_concern=concern)
        col.create_index([("channel", 1), ("seq", 1)], unique=True)
        col.create_index([("channel", 1), ("sender_id", 1), ("client_id", 1)], unique=True)
        col.create_index([("channel", 1), ("target", 1)],
                         partialFilterExpression={"target": {"$gt": 0}})
        for keys in extra:
            col.create_index(keys)
        indexed[label] = col
    store = get_store()
    durable = store.inner if isinstance(store, HotWindowStore) else store

    def measure(label: str, size: int, n: int, fn) -> None:
        marks: dict[str, int] = {}
        batch_docs = docs(n, f"{label}{len(samples.get(label, []))}", marks)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, n, size):
            fn(batch_docs[i : i + size])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        samples.setdefault(label, []).append((wall / n * 1e6, cpu / n * 1e6))

    def store_append(batch) -> None:
        durable.append([NewMessage(channel=d["channel"].rsplit(":", 1)[0],
                                   sender_id=d["sender_id"],
                                   client_id=d["client_id"], type="text", body=d["body"],
                                   recipient_id=d["recipient_id"]) for d in batch],
                       now_ms=time.time_ns() // 1_000_000)

    for _ in range(spec["rounds"]):
        for size, n in ((spec["batch"], total), (1, max(50, total // 10))):
            measure(f"mongo_sync_b{size}", size, n, lambda b: sync_batch(b, sync_channels))
            measure(f"mongo_async_b{size}", size, n, lambda b: loop.run_until_complete(
                async_batch(b, async_channels, async_col)))
            measure(f"store_append_b{size}", size, n, store_append)
        for label, col in indexed.items():
            measure(f"insert_{label}_b{spec['batch']}", spec["batch"], total,
                    lambda b, col=col: col.insert_many(b, ordered=True))
    async def close() -> None:
        await async_client.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(close())
    loop.close()
    out = {}
    for label, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        out[label] = {"batch": int(label.rsplit("_b", 1)[1]), "messages": len(runs),
                      "msgs_per_s": round(1e6 / wall, 1), "us_per_msg": round(wall, 1),
                      "cpu_us_per_msg": round(statistics.median(c for _, c in runs), 1),
                      "runs_us_per_msg": [round(w, 1) for w, _ in runs]}
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.deploy import Deployment, pg_available, pg_base_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="embedded",
                        choices=("embedded", "pg-redis", "pg-mongo-redis"))
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the MongoDB driver comparison")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.store != "embedded" and (why := pg_available(pg_base_url())):
        print(why, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="im-bench-micro-") as work:
        dep = Deployment.create(args.store, Path(work))
        try:
            seed = dep.seed(users=2 * args.pairs, groups=[])
            out = Path(work) / "micro.json"
            spec = {"users": seed["users"], "batch": args.batch, "messages": args.messages,
                    "profile": args.profile, "rounds": args.rounds,
                    "mongo": args.store == "pg-mongo-redis"}
            env = dep.env | {"BENCH_MICRO": json.dumps(spec), "BENCH_MICRO_OUT": str(out)}
            dep.manage(["shell", "-c", "from bench.store_micro import inner; inner()"],
                       env=env, timeout=900)
            document = json.loads(out.read_text())
        finally:
            dep.close()
    print(f"store {args.store} ({dep.store}):")
    for label, row in document["results"].items():
        cpu = f", {row['cpu_us_per_msg']} us CPU/msg" if "cpu_us_per_msg" in row else ""
        cpu += f", runs {row['runs_us_per_msg']}" if "runs_us_per_msg" in row else ""
        print(f"  {label:22} batch {row['batch']:4}: {row['msgs_per_s']:>10,.0f} msgs/s "
              f"({row['us_per_msg']} us/msg{cpu})")
    if document["profile"]:
        print(document["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
