"""The printed table, its Markdown twin for docs/benchmarks.md, and the pass/fail verdict."""

from __future__ import annotations

import re
from pathlib import Path

TABLE_START = "<!-- bench-table:start -->"
TABLE_END = "<!-- bench-table:end -->"


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _ms(record: dict, prefix: str) -> str:
    parts = [record.get(f"{prefix}_{k}") for k in ("p50", "p99", "max")]
    if all(p is None for p in parts):
        return "-"
    return "/".join("-" if p is None else (f"{p:.1f}" if p < 100 else f"{p:.0f}") for p in parts)


def _share(record: dict) -> str:
    return _pct(record.get("share_of_relay"))


def _pct(share: float | None) -> str:
    return f" ({100 * share:.0f}% of relay)" if share is not None else ""


def _knee_step(record: dict) -> dict:
    """The step at the knee (its latencies are the knee's), or {} when there is none."""
    for step in record.get("steps", []):
        if step.get("rate") == record.get("knee_rate"):
            return step
    return {}


def _knee(record: dict) -> tuple[str, str, str]:
    """throughput, latency and the steps of a group_knee record (server or relay)."""
    if record.get("knee_deliveries_per_s") is None:
        throughput = "knee: none (first step behind)"
    else:
        throughput = (f"knee {_n(record['knee_deliveries_per_s'])} deliv/s"
                      f"{_pct(record.get('knee_share_of_relay'))}")
    throughput += (f", max {_n(record.get('max_deliveries_per_s'))}"
                   f"{_pct(record.get('max_share_of_relay'))}")
    step = _knee_step(record)
    latency = "deliv at knee " + _ms(step, "delivery_ms") if step else "-"
    steps = ", ".join(
        f"{_n(s['rate'])} {'ok' if s.get('kept_up') else 'behind'}"
        + ("" if s.get("kept_up") else
           f" ({_n(s.get('deliveries_per_s'))} of {_n(s.get('offered_deliveries_per_s'))}"
           + (f"; generator sent {_n(s.get('sent_per_s'))}/s)" if s.get("generator_bound")
              else ")"))
        for s in record.get("steps", []))
    notes = f"{record.get('members')} members; msg/s {steps}"
    if not record.get("saturated"):
        notes += "; capped by the offer"
    return throughput, latency, notes


def row(record: dict) -> list[str]:
    """scenario, transport, store, throughput, latency, lost, dup, notes."""
    name = record["name"]
    label = name
    store = record.get("store", "-")
    if store not in ("none", "-") and record.get("layer") not in (None, "none"):
        store = f"{store}+{record['layer']}" if record["layer"] != "memory" else store
    transport = record["transport"]
    if transport == "ws":
        transport = f"ws/{record.get('encoding', 'json')}"
    throughput = latency = notes = "-"
    if "error" in record:
        notes = f"ERROR: {record['error'][:60]}"
    elif name == "raw_relay":
        label = f"raw_relay ({record['workload']})"
        steps = ""
        if record["workload"] == "group_knee":
            throughput, latency, steps = _knee(record)
            steps += "; "
        elif record["workload"] == "p2p_throughput":
            throughput = f"{_n(record.get('acked_per_s'))} acked/s"
            latency = "ack " + _ms(record, "ack_ms")
        else:
            throughput = f"{_n(record.get('deliveries_per_s'))} deliv/s"
            latency = "deliv " + _ms(record, "delivery_ms")
        notes = (f"{steps}server cpu {record.get('server_cpu', '-')}, "
                 f"gen cpu {record.get('gen_cpu', '-')}")
    elif name == "p2p_throughput":
        throughput = f"{_n(record.get('acked_per_s'))} acked/s{_share(record)}"
        latency = "ack " + _ms(record, "ack_ms")
        notes = (f"{_n(record.get('delivered_per_s'))} deliv/s; {record['pairs']} pairs x "
                 f"window {record['window']}; server cpu {record.get('server_cpu', '-')}")
    elif name == "p2p_latency":
        label = f"p2p_latency @{record['rate']}/s"
        throughput = f"{_n(record.get('achieved_rate'))} msg/s"
        latency = "deliv " + _ms(record, "delivery_ms")
        notes = f"ack {_ms(record, 'ack_ms')} ms"
    elif name == "group_fanout":
        throughput = f"{_n(record.get('deliveries_per_s'))} deliv/s{_share(record)}"
        latency = "deliv " + _ms(record, "delivery_ms")
        notes = (f"{record['members']} members, {record['rate']} msg/s offered "
                 f"{_n(record.get('offered_deliveries_per_s'))} deliv/s; "
                 f"server cpu {record.get('server_cpu', '-')}")
    elif name == "group_knee":
        throughput, latency, notes = _knee(record)
        notes += f"; server cpu {record.get('server_cpu', '-')}"
    elif name == "idle_connections":
        throughput = f"{_n(record['connections'])} conns, {record['rss_per_conn_kb']:.1f} KB/conn"
        latency = "heartbeat " + _ms(record, "heartbeat_ms")
        notes = (f"late {record['late_heartbeats']}/{record['heartbeats']}, dropped "
                 f"{record['dropped']}, probe {record.get('delivered', 0)}/{record['probe']} "
                 f"delivered")
    elif name == "connect_storm":
        throughput = f"{_n(record.get('auths_per_s'))} auths/s"
        latency = "auth " + _ms(record, "auth_ms")
        notes = f"{record['authenticated']}/{record['connections']} ok, {record['failures']} failed"
    elif name == "scale":
        nodes = record["nodes"]
        label = f"scale ({nodes} node{'s' if nodes > 1 else ''})"
        throughput = f"{_n(record.get('acked_per_s'))} acked/s"
        latency = "ack " + _ms(record, "ack_ms")
        notes = (f"server cpu {record.get('server_cpu', '-')}, "
                 f"{_n(record.get('per_cpu_s'))} acked per server cpu-s")
        if record.get("ratio") is not None:
            notes += (f"; x{record['ratio']:.2f} of 1 node "
                      f"(x{record.get('per_cpu_ratio') or 0:.2f} per cpu-s)")
    elif name == "catch_up":
        throughput = f"{_n(record.get('catchup_msgs_per_s'))} msgs/s"
        latency = f"{record['catchup_s']:.2f} s to catch up"
        notes = (f"{record['synced']}/{record['messages']} in {record['pages']} pages; "
                 f"sent at {_n(record.get('send_acked_per_s'))}/s")
    lost = str(record.get("lost", "-"))
    dup = str(record.get("duplicates", "-"))
    if record.get("undelivered"):
        lost += f" (+{record['undelivered']} undeliv.)"
    return [label, transport, store, throughput, latency, lost, dup, notes]


HEADER = ["scenario", "transport", "store", "throughput", "latency ms p50/p99/max", "lost",
          "dup", "notes"]


def text_table(records: list[dict]) -> str:
    rows = [HEADER] + [row(r) for r in records]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = []
    for i, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  -----")
    return "\n".join(lines)


def markdown_table(records: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in records:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row(r)) + " |")
    return "\n".join(lines)


def failures(records: list[dict]) -> list[str]:
    """What makes a run fail: a scenario that errored, lost, duplicated or left a message
    undelivered. Never a speed figure."""
    out = []
    for r in records:
        where = f"{r['name']} {r.get('workload') or r.get('rate') or ''} {r['transport']} " \
                f"{r.get('store', '')}".replace("  ", " ")
        if "error" in r:
            out.append(f"{where}: error: {r['error']}")
            continue
        for key in ("lost", "duplicates", "undelivered"):
            if r.get(key):
                out.append(f"{where}: {key} = {r[key]}")
    return out


def update_docs(doc: Path, document: dict) -> None:
    """Replace the table between the markers of docs/benchmarks.md with this run's."""
    text = doc.read_text()
    machine = document["machine"]
    block = "\n".join([
        TABLE_START,
        f"Run of {document['date']} on {machine['cpu']} ({machine['cores']} cores, "
        f"{machine['memory_gb']} GB), Python {machine['python']}, commit "
        f"`{document['commit'][:12]}`, mode `{document['mode']}`, load average at start "
        f"{machine['loadavg']}.",
        "",
        markdown_table(document["scenarios"]),
        TABLE_END,
    ])
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{doc} has no {TABLE_START} ... {TABLE_END} block")
    doc.write_text(pattern.sub(lambda _m: block, text))


STORES_START = "<!-- bench-stores:start -->"
STORES_END = "<!-- bench-stores:end -->"


def _store_label(record: dict) -> str:
    store = record.get("store", "-")
    layer = record.get("layer")
    return f"{store}+{layer}" if layer not in (None, "none", "memory") else store


def _figures(record: dict) -> list[tuple[str, float | None, int]]:
    """(figure, value, decimals) of one record, for the stores' side-by-side table."""
    name = record["name"]
    if name == "p2p_throughput":
        acked, cpu = record.get("acked_per_s"), record.get("server_cpu")
        return [("acked/s", acked, 0), ("ack p50 ms", record.get("ack_ms_p50"), 0),
                ("ack p99 ms", record.get("ack_ms_p99"), 0),
                ("imserver CPU (cores)", cpu, 2),
                ("msgs per imserver CPU-s", acked / cpu if acked and cpu else None, 0)]
    if name == "p2p_latency":
        return [("delivery p50 ms", record.get("delivery_ms_p50"), 1),
                ("delivery p99 ms", record.get("delivery_ms_p99"), 1)]
    if name == "group_fanout":
        return [("deliveries/s", record.get("deliveries_per_s"), 0),
                ("delivery p99 ms", record.get("delivery_ms_p99"), 0)]
    if name == "group_knee":
        return [("knee deliveries/s", record.get("knee_deliveries_per_s"), 0),
                ("max deliveries/s", record.get("max_deliveries_per_s"), 0),
                ("delivery p99 ms at the knee", _knee_step(record).get("delivery_ms_p99"), 0)]
    if name == "catch_up":
        return [("sends acked/s (one channel)", record.get("send_acked_per_s"), 0),
                ("pages read, msgs/s", record.get("catchup_msgs_per_s"), 0)]
    if name == "connect_storm":
        return [("auths/s", record.get("auths_per_s"), 0)]
    if name == "idle_connections":
        return [("KB per connection", record.get("rss_per_conn_kb"), 1)]
    return []


def _cell(values: list[float], decimals: int) -> str:
    if not values:
        return "-"
    values = sorted(values)
    middle = values[len(values) // 2] if len(values) % 2 else \
        (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2

    def fmt(v: float) -> str:
        return f"{v:,.{decimals}f}"

    if len(values) == 1:
        return fmt(middle)
    return f"{fmt(middle)} ({fmt(values[0])}-{fmt(values[-1])})"


def stores_table(documents: list[dict]) -> str:
    """The stores side by side, one column each: every figure of every scenario, the
    median over the runs given (with their range when there are several)."""
    stores: list[str] = []
    cells: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    decimals: dict[tuple[str, str, str], int] = {}
    for document in documents:
        for record in document["scenarios"]:
            if record["name"] in ("raw_relay", "deployment") or "error" in record:
                continue
            store = _store_label(record)
            if store not in stores:
                stores.append(store)
            label = record["name"] + (f" @{record['rate']}/s" if "rate" in record
                                      and record["name"] == "p2p_latency" else "")
            transport = record["transport"]
            for figure, value, digits in _figures(record):
                key = (label, transport, figure)
                decimals[key] = digits
                if value is not None:
                    cells.setdefault(key, {}).setdefault(store, []).append(value)
    lines = ["| scenario | transport | figure | " + " | ".join(stores) + " |",
             "|" + "---|" * (3 + len(stores))]
    for key, by_store in cells.items():
        row = [*key] + [_cell(by_store.get(s, []), decimals[key]) for s in stores]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def update_stores_docs(doc: Path, documents: list[dict], heading: str) -> None:
    """Replace the stores' side-by-side block of docs/benchmarks.md."""
    text = doc.read_text()
    block = "\n".join([STORES_START, heading, "", stores_table(documents), STORES_END])
    pattern = re.compile(re.escape(STORES_START) + ".*?" + re.escape(STORES_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{doc} has no {STORES_START} ... {STORES_END} block")
    doc.write_text(pattern.sub(lambda _m: block, text))
