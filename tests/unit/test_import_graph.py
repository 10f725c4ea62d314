"""No import circle in the layer (`messaging`), the benchmark (`bench`) nor the client
(`messaging_client`), counting every import a module holds: at its top, for the type checker only
(`if TYPE_CHECKING:`) and inside a function.
An import moved into a function, or behind TYPE_CHECKING, is how a circle used to be hidden."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"messaging": ROOT / "layers" / "common", "bench": ROOT, "messaging_client": ROOT}


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(base).with_suffix("").parts).removesuffix(".__init__"): path
        for package, base in PACKAGES.items()
        for path in (base / package).rglob("*.py")
        # Not bench/.layer (the layer `make bench` builds, thousands of third-party modules).
        if not any(part.startswith(".") for part in path.relative_to(base).parts)
    }


def _imports(name: str, path: Path) -> set[str]:
    """Every module (or `module.name`) the module imports, wherever the import statement is."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {dep for dep in _imports(name, path) if dep in modules and dep != name} for name, path in modules.items()
    }


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for dep in graph[node]:
            if dep == start:
                return [*trail, dep]
            if dep not in trail and len(trail) < len(graph):
                stack.append((dep, [*trail, dep]))
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = _graph()
    assert "messaging.templates.renderer" in graph["messaging.bootstrap"]  # inside a function
    assert "messaging.models.request" in graph["messaging.channels.base"]  # for the type checker
    assert {"bench.harness", "bench.async_send", "bench.sync_send"} <= graph["bench.run"]


def test_no_import_circles_in_the_layer_and_the_benchmark() -> None:
    """Modules import each other without a cycle (observability used to import the service)."""
    graph = _graph()
    assert _cycle_from(graph, "messaging.observability") is None
    cycles = {name: cycle for name in graph if (cycle := _cycle_from(graph, name)) is not None}
    assert cycles == {}


def test_the_client_and_the_lambda_layer_import_nothing_of_each_other() -> None:
    """The command-line client is installed into .venv only: the layer never needs it, nor it the layer."""
    modules = _modules()
    crossing = {
        name: dep
        for name, path in modules.items()
        for dep in _imports(name, path)
        if name.split(".")[0] in {"messaging", "messaging_client"}
        and dep.split(".")[0] in {"messaging", "messaging_client"}
        and dep.split(".")[0] != name.split(".")[0]
    }
    assert crossing == {}
    assert "messaging_client.signing" in _graph()["messaging_client.transport"]
