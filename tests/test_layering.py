"""The package layering: every module imports, no import cycle, nothing imports upward.

Imports are read from the source (`ast`), including those inside functions and under
`TYPE_CHECKING`: a lazy import is still a dependency. `kernels/`, `jobs/` and `pipelines/` are
installed as `tritter.kernels`, `tritter.jobs`, `tritter.pipelines` (setup.py).
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOTS = {"tritter": "tritter", "kernels": "tritter.kernels", "jobs": "tritter.jobs",
         "pipelines": "tritter.pipelines"}  # fmt: skip

# Lowest first. A module may import its own package and packages of lower layers only; the
# foundation modules of layer 0 may also import each other (the cycle tests still apply).
LAYERS = [
    {"tritter", "tritter.errors", "tritter.storage", "tritter.config", "tritter.log",
     "tritter.progress", "tritter.metrics", "tritter.schema", "tritter.manifest",
     "tritter.units", "tritter.run_folder", "tritter.benchmarks", "tritter.workers",
     "tritter.hf_datasets"},
    {"tritter.data", "tritter.kernels"},
    {"tritter.model", "tritter.tokenizer", "tritter.curate"},
    {"tritter.pack", "tritter.loader", "tritter.chat"},
    {"tritter.train"},
    {"tritter.evaluate", "tritter.sft", "tritter.dpo", "tritter.takedown"},
    {"tritter.report", "tritter.synth", "tritter.agent", "tritter.rl"},
    {"tritter.deploy"},
    {"tritter.jobs"},
    {"tritter.pipelines"},
    {"tritter.commands"},
    {"tritter.cli"},
]  # fmt: skip
LAYER_OF = {package: level for level, group in enumerate(LAYERS) for package in group}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, prefix in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([prefix, *parts])] = path
    return found


MODULES = _modules()


def _package(module: str) -> str:
    """`tritter.train.store` → `tritter.train`; top-level modules are their own package."""
    return ".".join(module.split(".")[:2])


def _imports(module: str, path: Path) -> set[str]:
    """Project modules `module` imports, resolved to the longest existing module name."""
    is_package = path.name == "__init__.py"
    base_parts = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base_parts[: len(base_parts) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    resolved = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module and not module.startswith(name + "."):
            resolved.add(name)
    return resolved


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_every_package_has_a_layer():
    assert {_package(m) for m in MODULES} <= set(LAYER_OF), "add new packages to LAYERS"


def test_no_module_import_cycle():
    assert _cycles(GRAPH) == []


def test_no_package_import_cycle():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, imported in GRAPH.items():
        packages[_package(module)].update(
            _package(i) for i in imported if _package(i) != _package(module)
        )
    assert _cycles(packages) == []


def _allowed(module: str, imported: str) -> bool:
    own, other = LAYER_OF[_package(module)], LAYER_OF[_package(imported)]
    return other < own or other == own == 0


def test_nothing_imports_upward_or_sideways():
    wrong = sorted(
        f"{module} imports {imported}"
        for module, targets in GRAPH.items()
        for imported in targets
        if _package(imported) != _package(module) and not _allowed(module, imported)
    )
    assert wrong == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)
