"""The project's imports run one way.

Every .py file of the project's packages is parsed (nothing is imported), and every
`import x` / `from x import y` in it, at any depth (inside functions and under
TYPE_CHECKING too), is resolved to a project module. From that graph:

- no cycle between top-level packages. `imsite` is the site that wires the apps
  together (settings, root URLs, the ASGI entry point) and holds a few site-wide
  helpers the apps use (path converters, OpenAPI hooks); it is no layer, so each of
  its modules is a node of its own;
- no cycle between the modules of `realtime/`;
- the layers: notifications -> realtime -> messaging -> media -> accounts, improto
  beneath all; an import goes down, never up; imclient and improto import no Django app;
- the tools (bench, devtools) never import the tests: the tests and the benchmark
  share their process helpers through devtools, and devtools imports no product code.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "accounts", "bench", "devtools", "imclient", "improto", "imsite", "media", "messaging",
    "notifications", "realtime", "webclient",
)
# Higher imports lower, never the other way.
# notifications sits on top: it reads realtime's locator (which devices have no live
# connection) and listens to messaging's messages_storing; nothing imports it.
LAYERS = {"improto": 0, "accounts": 1, "media": 2, "messaging": 3, "realtime": 4,
          "notifications": 5}
DJANGO_APPS = ("accounts", "media", "messaging", "notifications", "realtime", "webclient")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module `name` refers to (or the closest enclosing one), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from package import module` imports the module.
            names = [f"{origin}.{alias.name}" for alias in node.names] + [origin]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                targets.add(target)
    return targets


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _top(module: str) -> str:
    """The node of the package graph a module belongs to."""
    head = module.partition(".")[0]
    return module if head == "imsite" else head


def _edges_between(node_of) -> dict[str, dict[str, list[str]]]:
    """node -> node it imports -> the module imports that make that edge."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, targets in GRAPH.items():
        for target in targets:
            a, b = node_of(module), node_of(target)
            if a is not None and b is not None and a != b:
                edges[a][b].append(f"{module} -> {target}")
    return edges


def _cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = set(edges) | {b for targets in edges.values() for b in targets}
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def _describe(cycles: list[list[str]], edges) -> str:
    lines = []
    for component in cycles:
        lines.append(" <-> ".join(component))
        for a in component:
            for b in component:
                for why in edges.get(a, {}).get(b, []):
                    lines.append(f"    {why}")
    return "\n".join(lines)


def test_the_walk_sees_the_project():
    # A walk that resolved nothing would find no cycle: make sure it sees real edges.
    assert "realtime.session" in MODULES and "messaging.services.message_send" in MODULES
    assert "messaging.services.message_send" in GRAPH["realtime.writer"]
    assert "realtime.host" in GRAPH["realtime.session"]
    assert "realtime.control" in GRAPH["realtime.apps"]  # an import inside a function


def test_no_cycle_between_top_level_packages():
    edges = _edges_between(_top)
    cycles = _cycles(edges)
    assert not cycles, "import cycles between packages:\n" + _describe(cycles, edges)


def test_no_cycle_inside_realtime():
    edges = _edges_between(lambda m: m if m.partition(".")[0] == "realtime" else None)
    cycles = _cycles(edges)
    assert not cycles, "import cycles inside realtime/:\n" + _describe(cycles, edges)


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_go_down_the_layers(package):
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if _top(module) == package
        for target in targets
        if _top(target) in LAYERS and LAYERS[_top(target)] > LAYERS[package]
    ]
    assert not upward, f"{package} imports a layer above it:\n" + "\n".join(sorted(upward))


@pytest.mark.parametrize("package", ["imclient", "improto"])
def test_the_protocol_and_the_sdk_import_no_django_app(package):
    reached = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if _top(module) == package
        for target in targets if _top(target) in DJANGO_APPS or _top(target).startswith("imsite")
    ]
    assert not reached, "\n".join(sorted(reached))


def test_no_module_imports_a_private_name_of_another():
    private = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if _resolve(node.module) in (None, module):
                    continue
                private += [
                    f"{module}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert not private, "\n".join(private)


def _imported_heads(path: Path) -> set[str]:
    heads = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            heads |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            heads.add(node.module.partition(".")[0])
    return heads


@pytest.mark.parametrize("package", ["bench", "devtools"])
def test_the_tools_do_not_import_the_tests(package):
    reaching = [str(p.relative_to(ROOT)) for p in sorted((ROOT / package).rglob("*.py"))
                if "tests" in _imported_heads(p)]
    assert not reaching, "\n".join(reaching)


def test_devtools_imports_no_product_code():
    product = set(PACKAGES) - {"devtools"}
    reaching = [f"{p.relative_to(ROOT)} -> {sorted(_imported_heads(p) & product)}"
                for p in sorted((ROOT / "devtools").rglob("*.py"))
                if _imported_heads(p) & product]
    assert not reaching, "\n".join(reaching)
