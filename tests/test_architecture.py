"""The import rule of docs/architecture.md: each package imports only from its own layer or below, and
no import cycle (lazy imports inside functions count too). Read from the source with `ast`; nothing is imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Lowest first: the shared foundation modules, then the pipeline, then the applications on top.
LAYERS = ["pavlab", "errors", "config", "io", "shards", "progress", "runs", "cache", "distributed", "metrics",
          "training", "tasks", "policies", "sampling", "labeling", "verifiers", "provers", "search", "rl",
          "integrations", "recipe", "testing", "reliability", "studies", "report", "demo", "cli", "__main__"]


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "pavlab").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, names: dict[str, Path]) -> Iterator[str]:
    """The pavlab modules `path` imports anywhere in it, but for `if TYPE_CHECKING:` blocks."""

    def resolve(target: str) -> str:
        while target not in names and "." in target:
            target = target.rsplit(".", 1)[0]
        return target

    def visit(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pavlab"):
            yield from (resolve(f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (resolve(alias.name) for alias in node.names if alias.name.startswith("pavlab"))
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")))


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1] if len(parts) > 1 else "pavlab")


def test_no_package_imports_from_a_layer_above_it() -> None:
    names = modules()
    upward = {(module, target) for module, path in names.items() for target in imports(path, names)
              if layer(target) > layer(module)}
    assert upward == set()


def test_no_import_cycles() -> None:
    names = modules()
    graph = {module: set(imports(path, names)) - {module} for module, path in names.items()}
    state: dict[str, str] = {}

    def cycle_from(module: str, stack: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [module, target] if target in stack else [module, target]
            if target not in state and (found := cycle_from(target, [*stack, module])):
                return found
        state[module] = "done"
        return None

    cycles = [found for module in sorted(graph) if module not in state and (found := cycle_from(module, []))]
    assert cycles == []
