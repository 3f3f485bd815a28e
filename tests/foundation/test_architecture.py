"""The shape of ``callcenter/`` stays what the README's architecture section describes.

Read with the standard library's ``ast`` (nothing is imported), every ``import`` counted,
lazy ones inside functions included:
- no import circle between modules;
- arrows only run down the layers: foundation (config, db, labels, bus …) ← models ←
  IVR flow data ← services ← the process sides (agi, ami, web, scheduler, which do not
  import one another) ← the assemblies (runtime, cli);
- inside ``services/`` the domains import downwards only: setup ← tickets ← people ←
  calls ← qa, surveys, speech ← reports;
- the stand-ins of ``callcenter/simulation`` are imported by no product module but the
  one CLI door (``callcenter demo``, ``callcenter ami-emulator``);
- no function longer than 60 lines outside the migrations.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "callcenter"
MAX_FUNCTION_LINES = 60
SIMULATION_DOOR = "callcenter.cli.simulation"

# Layer of each top-level part: a module may import only its own layer's package or lower.
LAYERS = {
    "callcenter": 0, "callcenter.config": 0, "callcenter.db": 0, "callcenter.timeutil": 0,
    "callcenter.labels": 0, "callcenter.encoding": 0, "callcenter.spreadsheets": 0, "callcenter.secret_key": 0, "callcenter.migrate": 0, "callcenter.bus": 0,
    "callcenter.models": 1,
    "callcenter.ivr": 2,
    "callcenter.services": 3,
    "callcenter.agi": 4, "callcenter.ami": 4, "callcenter.web": 4, "callcenter.scheduler": 4,
    "callcenter.runtime": 5, "callcenter.cli": 5,
    "callcenter.simulation": 6,
}
SERVICE_DOMAINS = {"setup": 0, "tickets": 1, "people": 2, "calls": 3, "qa": 4, "surveys": 5, "speech": 5,
                   "reports": 6}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.relative_to(PACKAGE).parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every callcenter module ``module`` imports (``from pkg import mod`` names the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in known else source)
    return {name for name in found if name in known and name != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _part(module: str) -> str:
    """The top-level part a module belongs to (longest prefix in LAYERS)."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in LAYERS:
            return candidate
    raise AssertionError(f"{module}: no layer assigned; add its package to LAYERS in this test")


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "services" else None


def test_every_module_has_a_layer(graph):
    for module in graph:
        _part(module)
        domain = _domain(module)
        assert domain is None or domain in SERVICE_DOMAINS, f"{module}: unknown services domain {domain}"


def test_no_import_circles(graph):
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:             # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert circles == []


def test_arrows_only_run_down_the_layers(graph):
    upward = []
    for module, targets in graph.items():
        source = _part(module)
        for target in targets:
            part = _part(target)
            if module == SIMULATION_DOOR and part == "callcenter.simulation":
                continue                      # the demo commands start the stand-ins
            if LAYERS[part] > LAYERS[source]:
                upward.append(f"{module} -> {target}")
            elif LAYERS[part] == LAYERS[source] == 4 and part != source:
                upward.append(f"{module} -> {target} (process sides do not import one another)")
    assert sorted(upward) == []


def test_service_domains_import_downwards_only(graph):
    wrong = []
    for module, targets in graph.items():
        domain = _domain(module)
        if domain is None:
            continue
        for target in targets:
            other = _domain(target)
            if other is not None and other != domain and SERVICE_DOMAINS[other] >= SERVICE_DOMAINS[domain]:
                wrong.append(f"{module} -> {target}")
    assert sorted(wrong) == []


def test_no_product_module_imports_the_simulation(graph):
    importers = sorted(module for module, targets in graph.items()
                       if not module.startswith("callcenter.simulation")
                       and any(t.startswith("callcenter.simulation") for t in targets))
    assert importers in ([], [SIMULATION_DOOR])


def test_no_function_longer_than_60_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({size} lines)")
    assert long == []
