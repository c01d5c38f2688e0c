"""Scrape a server's /metrics every second during a benchmark scenario, and draw what
the scrapes saw beside the benchmark's own figures (docs/operations.md, Metrics).

    python bench/run.py ... --scrape DIR     # one JSON and one PNG per scenario run
    python bench/scrape.py SCRAPE.json OUT.png  # draw an earlier scrape again

Each scrape keeps the series the picture needs: live connections, messages stored,
the ack and fan-out histograms. Rates and quantiles come from the difference of two
consecutive scrapes, as Prometheus's rate() and histogram_quantile() compute them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

KEPT = ("im_connections", "im_messages_stored_total", "im_ack_seconds_bucket",
        "im_fanout_seconds_bucket")


def parse(text: str) -> dict[str, float]:
    """The kept samples, keyed `name{label=value,...}`."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in KEPT:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                found[f"{s.name}{{{labels}}}"] = s.value
    return found


class Scraper(threading.Thread):
    def __init__(self, base_url: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.url = base_url.rstrip("/") + "/metrics"
        self.interval = interval
        self.scrapes: list[tuple[float, dict[str, float]]] = []
        self._done = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._done.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    self.scrapes.append((started - self._t0, parse(response.read().decode())))
            except OSError:
                pass  # a missed scrape is a gap in the picture, nothing more
            self._done.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def finish(self) -> list:
        self._done.set()
        self.join(10)
        return self.scrapes


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """histogram_quantile over (upper bound, cumulative count) pairs."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def series(scrapes: list) -> dict[str, list]:
    """Per scrape interval: time, connections, messages/s, ack and fan-out p50/p99 (ms)."""
    out = {k: [] for k in ("t", "conns", "msgs_per_s", "ack_p50", "ack_p99", "fan_p50",
                           "fan_p99")}
    for (t0, a), (t1, b) in zip(scrapes, scrapes[1:], strict=False):
        dt = t1 - t0
        out["t"].append(t1)
        out["conns"].append(sum(v for k, v in b.items() if k.startswith("im_connections{")))
        stored = "im_messages_stored_total{}"
        out["msgs_per_s"].append((b.get(stored, 0) - a.get(stored, 0)) / dt)
        for name, key in (("im_ack_seconds_bucket", "ack"), ("im_fanout_seconds_bucket", "fan")):
            deltas = []
            for k, v in b.items():
                if k.startswith(name + "{"):
                    bound = k.split("le=")[1].rstrip("}")
                    deltas.append((float(bound), v - a.get(k, 0)))
            deltas.sort()
            for q in (50, 99):
                value = _quantile(q / 100, deltas)
                out[f"{key}_p{q}"].append(None if value is None else value * 1000)
    return out


def plot(document: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = series(document["scrapes"])
    bench = document.get("figures", {})
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    axes[0].plot(s["t"], s["conns"], label="im_connections (scrape)")
    axes[0].set_ylabel("connections")
    axes[1].plot(s["t"], s["msgs_per_s"], label="rate(im_messages_stored_total) (scrape)")
    if bench.get("acked_per_s"):
        axes[1].axhline(bench["acked_per_s"], color="grey", linestyle="--",
                        label=f"benchmark: {bench['acked_per_s']:,.0f} acked/s")
    axes[1].set_ylabel("messages/s")
    for key, label in (("ack", "arrival to commit"), ("fan", "commit to fan-out")):
        for q, style in ((50, "-"), (99, ":")):
            axes[2].plot(s["t"], s[f"{key}_p{q}"], style, label=f"{label} p{q} (scrape)")
    if bench.get("ack_ms_p50"):
        axes[2].axhline(bench["ack_ms_p50"], color="grey", linestyle="--",
                        label=f"benchmark ack p50 {bench['ack_ms_p50']:.0f} ms (client)")
    axes[2].set_ylabel("ms")
    axes[2].set_xlabel("seconds")
    for ax in axes:
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    fig.suptitle(document.get("title", "scrapes of /metrics"), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> int:
    document = json.loads(Path(argv[0]).read_text())
    plot(document, Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
