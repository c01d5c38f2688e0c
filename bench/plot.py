"""Pictures of a benchmark run for docs/benchmarks.md (matplotlib, PNG).

    python bench/plot.py bench/results/full.json [OUT_DIR]     # default OUT_DIR: docs/

- bench-latency.png: send-to-delivery latency distribution (percentile against ms) of
  p2p_latency at each rate and of group_fanout, one line per transport and store.
- bench-throughput.png: p2p acked/s and group deliveries/s of each configuration
  beside the raw relay on the same transport, with the targets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGET_P2P = 5000
TARGET_GROUP = 50000
TARGET_P99_MS = 20


def _label(record: dict) -> str:
    transport = record["transport"]
    if transport == "ws":
        transport = f"ws/{record.get('encoding', 'json')}"
    store = record.get("store", "none")
    if record.get("layer") == "redis":
        store = f"{store}+redis"
    return f"{transport}, {store}"


def make_plots(document: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in document["scenarios"] if "error" not in r]
    subtitle = f"{document['date'][:10]}, commit {document['commit'][:10]}, {document['mode']} run"
    written = []

    # -- latency distribution ------------------------------------------------------------
    panels = []
    for rate in sorted({r["rate"] for r in records if r["name"] == "p2p_latency"}):
        panels.append((f"p2p at {rate} msg/s", [r for r in records
                       if r["name"] == "p2p_latency" and r["rate"] == rate]))
    group = [r for r in records if r["name"] == "group_fanout"]
    if group:
        panels.append((f"group of {group[0]['members']} at {group[0]['rate']} msg/s", group))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False)
        for ax, (title, rows) in zip(axes[0], panels, strict=True):
            for r in rows:
                q = r.get("delivery_ms_quantiles")
                if not q:
                    continue
                ax.plot(q, range(len(q)), label=_label(r))
            ax.axvline(TARGET_P99_MS, color="grey", linestyle=":", linewidth=1)
            ax.axhline(99, color="grey", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_xlabel("send to delivery (ms, log scale)")
            ax.set_ylabel("percentile")
            ax.set_ylim(0, 101)
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
        fig.suptitle(f"Delivery latency distribution ({subtitle}); dotted: p99 and 20 ms target",
                     fontsize=10)
        fig.tight_layout()
        path = out_dir / "bench-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # -- throughput against the raw relay ----------------------------------------------------
    relay = {(r["workload"], r["transport"]): r for r in records if r["name"] == "raw_relay"}
    bars = []
    for name, key, relay_key, target, unit in (
        ("p2p_throughput", "acked_per_s", "acked_per_s", TARGET_P2P,
         "durable msg/s (acked); grey: raw relay, the Python limit"),
        ("group_fanout", "deliveries_per_s", "deliveries_per_s", TARGET_GROUP,
         "deliveries/s at a fixed send rate; grey: raw relay at the same rate"),
        ("group_knee", "knee_deliveries_per_s", "knee_deliveries_per_s", TARGET_GROUP,
         "deliveries/s at the knee (stepped rates); grey: raw relay's knee"),
    ):
        rows = []
        for transport in ("tcp", "ws"):
            ref = relay.get((name, transport))
            if ref and ref.get(relay_key):
                rows.append((f"raw relay, {transport}", ref[relay_key], True))
            for r in records:
                if r["name"] == name and r["transport"] == transport and r.get(key):
                    rows.append((_label(r), r[key], False))
        if rows:
            bars.append((name, unit, target, rows))
    if bars:
        fig, axes = plt.subplots(1, len(bars), figsize=(6.5 * len(bars), 4.2), squeeze=False)
        for ax, (name, unit, target, rows) in zip(axes[0], bars, strict=True):
            labels = [label for label, _, _ in rows][::-1]
            values = [value for _, value, _ in rows][::-1]
            colors = ["#bbbbbb" if is_relay else "#3b75af" for _, _, is_relay in rows][::-1]
            ax.barh(labels, values, color=colors)
            for y, value in enumerate(values):
                ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
            ax.axvline(target, color="#c0392b", linestyle="--", linewidth=1,
                       label=f"target {target:,}")
            ax.set_xlabel(unit)
            ax.set_title(name)
            ax.set_xlim(0, max(values + [target]) * 1.25)
            ax.legend(fontsize=8, loc="lower right")
            ax.tick_params(axis="y", labelsize=8)
        fig.suptitle(f"Throughput against the raw relay ({subtitle})", fontsize=10)
        fig.tight_layout()
        path = out_dir / "bench-throughput.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str]) -> None:
    document = json.loads(Path(argv[0]).read_text())
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "docs"
    for path in make_plots(document, out_dir):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
