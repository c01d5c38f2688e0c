"""improto is sans-I/O: importing it must not pull in Django, sockets or asyncio."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"django", "asyncio", "socket", "selectors", "ssl", "channels", "rest_framework"}

CHECK = """
import sys
import {module}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
assert not loaded, loaded
"""


def run_isolated(module: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-E", "-s", "-c", CHECK.format(module=module, forbidden=FORBIDDEN)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_msgpack_alone_imports_no_io_modules():
    result = run_isolated("msgpack")
    assert result.returncode == 0, result.stderr


def test_improto_imports_no_io_modules():
    result = run_isolated("improto, improto.codec, improto.frames, improto.framing")
    assert result.returncode == 0, result.stderr
