"""imclient can be published on its own: no Django, only its declared dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The SDK's declared dependencies (docs/sdk.md); cython_runtime is loaded by
# msgpack's compiled extension.
ALLOWED = {"imclient", "improto", "msgpack", "orjson", "websockets", "cython_runtime"}

CHECK = """
import sys
import imclient, imclient.cli, imclient.__main__
names = {{m.split(".")[0] for m in sys.modules}}
assert "django" not in names, "django was imported"
foreign = sorted(n for n in names
                 if n not in sys.stdlib_module_names and n not in {allowed!r}
                 and not n.startswith("_"))
assert not foreign, foreign
"""


def test_importing_imclient_pulls_in_no_django_and_no_undeclared_package():
    result = subprocess.run(
        [sys.executable, "-E", "-s", "-c", CHECK.format(allowed=ALLOWED)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_no_module_of_imclient_mentions_django():
    for path in (ROOT / "imclient").glob("*.py"):
        assert "django" not in path.read_text().lower(), path
