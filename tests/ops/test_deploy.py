"""deploy/: the compose file, the Dockerfile, the systemd units and the nginx config
refer to what the project has (no Docker here: `docker compose config` cannot run,
so the YAML is read and every command is checked against the project)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NODES = ("im1", "im2", "im3")


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _dockerfile_cmd() -> list[str]:
    line = next(line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                if line.startswith("CMD "))
    return json.loads(line[4:])


def _manage_commands(*names: str) -> None:
    """Each name is a command `manage.py` knows (asked of the project itself)."""
    listed = subprocess.run([sys.executable, "manage.py", "help", "--commands"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=True).stdout
    known = set(listed.split())
    assert set(names) <= known, set(names) - known


def _check_command(command: list[str]) -> str | None:
    """The manage.py command a service runs (checked by the caller), or None."""
    if command[:2] == ["python", "manage.py"] or command[1:2] == ["manage.py"]:
        return command[2]
    program = Path(command[0]).name
    if program == "celery":
        app = command[command.index("-A") + 1]
        assert (ROOT / app / "celery.py").exists()
        assert "worker" in command
        return None
    raise AssertionError(f"unexpected command {command}")


def test_the_compose_file_runs_three_nodes_a_worker_and_what_they_need():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "rabbitmq", "migrate", *NODES, "worker",
                             "nginx"}
    built = {name for name, s in services.items() if "build" in s}
    assert built == {"migrate", *NODES, "worker"}
    for name in built:
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        assert (DEPLOY / services[name]["env_file"]).with_suffix(".env.example").exists()
    wanted = set()
    for name in built:
        command = services[name].get("command") or _dockerfile_cmd()
        found = _check_command(command)
        if found:
            wanted.add(found)
    assert wanted == {"migrate", "imserver"}
    _manage_commands(*wanted)
    # Every node publishes its own TCP port and names it (and its WebSocket) in gateway
    # answers; each has its own id in the ring.
    ports = [services[n]["ports"][0].split(":") for n in NODES]
    assert [p[1] for p in ports] == ["9000"] * 3 and len({p[0] for p in ports}) == 3
    for node, (published, _) in zip(NODES, ports, strict=True):
        env = services[node]["environment"]
        assert env["IM_NODE_ID"] == node
        assert env["IM_PUBLIC_TCP"].endswith(f":{published}")
        assert env["IM_PUBLIC_WS_URL"].endswith(f"/node/{node}/ws/")
    mount = services["nginx"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mount).exists()


def test_the_dockerfile_copies_what_exists():
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / source).exists(), source
    assert _check_command(_dockerfile_cmd()) == "imserver"


def test_the_systemd_units_run_project_commands():
    wanted = set()
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        line = next(line for line in unit.read_text().splitlines()
                    if line.startswith("ExecStart="))
        command = shlex.split(line.removeprefix("ExecStart="))
        found = _check_command(command)
        if found:
            wanted.add(found)
    assert wanted == {"migrate", "imserver"}
    _manage_commands(*wanted)


def test_nginx_accepts_the_config(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is installed by scripts/test-services.sh"
    # The compose network's names resolve only there: the nodes become loopback.
    site = (DEPLOY / "nginx" / "im.conf").read_text()
    for node in NODES:
        site = site.replace(f"{node}:8000", "127.0.0.1:8000")
    (tmp_path / "im.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n  include {tmp_path}/im.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "value", "message"), [
    ("IM_LOG_FORMAT", "xml", "IM_LOG_FORMAT must be text or json"),
    ("IM_METRICS_ALLOW", "10.0.0.0/8,not-an-address", "IM_METRICS_ALLOW takes comma-separated"),
    ("IM_METRICS_TOKEN", "short", "IM_METRICS_TOKEN must be at least 16 characters"),
    ("IM_METRICS_WORKER_ADDR", "localhost", "IM_METRICS_WORKER_ADDR must be an IP address"),
])
def test_bad_operations_settings_stop_start_up(name, value, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "DATABASE_URL"))}
    env.update({"IM_DATA_DIR": tempfile.mkdtemp(prefix="im-settings-"), name: value})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr
