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
    share = record.get("share_of_relay")
    return f" ({100 * share:.0f}% of relay)" if share is not None else ""


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
        if record["workload"] == "p2p_throughput":
            throughput = f"{_n(record.get('acked_per_s'))} acked/s"
            latency = "ack " + _ms(record, "ack_ms")
        else:
            throughput = f"{_n(record.get('deliveries_per_s'))} deliv/s"
            latency = "deliv " + _ms(record, "delivery_ms")
        notes = f"server cpu {record.get('server_cpu', '-')}, gen cpu {record.get('gen_cpu', '-')}"
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
