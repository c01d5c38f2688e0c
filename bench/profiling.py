"""Sampling profiles of the server under load (py-spy), and their summaries.

`Profiler(path, pid)` wraps a scenario's measured window: it runs
`py-spy record --format raw --function --threads --nonblocking` on the server for
that window and writes the collapsed stacks to `path.txt`, then `summarize` turns
them into the functions that cost the most, self and inclusive, as shares of the
samples (`path.summary.txt` and `path.summary.json`). The collapsed file feeds any
flame graph tool (e.g. `flamegraph.pl` or speedscope).

    python bench/profiling.py bench/results/profiles/p2p_throughput-tcp-embedded.txt
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path

RATE = 100  # samples a second
_ROOT = str(Path(__file__).resolve().parents[1]) + "/"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    """Async context manager; a no-op when `path` is None or py-spy is missing."""

    def __init__(self, path: str | None, pid: int | None, *, gil: bool = False) -> None:
        self.path = path
        self.pid = pid
        self.gil = gil  # sample only the thread holding the GIL: where the CPU goes
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Profiler:
        binary = py_spy()
        if self.path is None or self.pid is None or binary is None:
            return self
        self.t0 = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            binary, "record", "--pid", str(self.pid), "--rate", str(RATE), "--format", "raw",
            "--function", "--threads", "--nonblocking", "--duration", "600",
            *(["--gil"] if self.gil else []),
            "--output", f"{self.path}.txt",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self.proc is None:
            return
        duration = time.monotonic() - self.t0
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            return
        collapsed = Path(f"{self.path}.txt")
        if collapsed.exists():
            summary = summarize(collapsed.read_text(), duration_s=duration)
            Path(f"{self.path}.summary.json").write_text(json.dumps(summary, indent=1))
            Path(f"{self.path}.summary.txt").write_text(format_summary(summary))


def _parse_frame(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), ""
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.removeprefix(_ROOT)
    return match.group("func"), path


def summarize(collapsed: str, *, duration_s: float | None = None, top: int = 40) -> dict:
    """Self and inclusive sample shares per function (and per thread) of a raw profile."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    thread_counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith("thread ("):
            thread = frames.pop(0)
        names = []
        for frame in frames:
            func, path = _parse_frame(frame)
            names.append(f"{func} ({path})")
        if not names:
            continue
        total += n
        # Name each thread by what it runs, not its address.
        role = "event loop" if any("run_forever" in x for x in names) else (
            "db writer" if any("messages_send" in x for x in names) else
            "db reader" if any("with_kept_connection" in x for x in names) else thread)
        thread_counts[role] += n
        self_counts[names[-1]] += n
        for name in set(names):
            incl_counts[name] += n

    def shares(counter: Counter[str]) -> list[dict]:
        return [{"function": name, "samples": n, "share": round(n / total, 4)}
                for name, n in counter.most_common(top)]

    out = {"samples": total, "rate": RATE, "self": shares(self_counts),
           "inclusive": shares(incl_counts), "threads": shares(thread_counts)}
    if duration_s:
        out["duration_s"] = round(duration_s, 2)
        out["busy_cores"] = round(total / (duration_s * RATE), 2)
    return out


def format_summary(summary: dict) -> str:
    lines = [f"samples: {summary['samples']}  busy cores: {summary.get('busy_cores', '?')}", ""]
    for title, key in (("by thread", "threads"), ("self (leaf) time", "self"),
                       ("inclusive time", "inclusive")):
        lines.append(title)
        for row in summary[key]:
            lines.append(f"  {100 * row['share']:5.1f}%  {row['function']}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    for path in argv:
        print(format_summary(summarize(Path(path).read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
