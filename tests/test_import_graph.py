"""The modules of imbalml import each other without a cycle, lazy (function-level) imports included.

A cycle that only works because one side imports inside a function is still a cycle: the two
modules cannot be understood, tested or type-checked one before the other. The graph is read from
the source with ``ast``, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import imbalml

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "imbalml"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of ``imbalml`` that ``name`` (a module or a name in one) refers to."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The imbalml modules that ``module`` imports anywhere in its source (relative ones too)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from a import b` imports the module a.b when there is one, else a name of a.
            targets = [f"{source}.{alias.name}" for alias in node.names] or [source]
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    found.add(resolved)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None`` (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 20 and "imbalml.groups" in graph  # the scan found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_layout_checks_sit_above_groups_and_validation_below() -> None:
    graph = import_graph()
    assert graph["imbalml._validation"] == set()
    assert "imbalml._validation" in graph["imbalml.groups"]
    assert {"imbalml._validation", "imbalml.groups"} <= graph["imbalml._layout_checks"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from imbalml.groups import AttributeGroups\n", {"imbalml.groups"}),
        ("from . import groups\n", {"imbalml.groups"}),
        ("from .functional import grouped\n", {"imbalml.functional.grouped"}),
        ("import imbalml.functional.grouped as g\n", {"imbalml.functional.grouped"}),
        ("from imbalml import AttributeGroups\n", {"imbalml"}),
        ("import os\nfrom torch import nn\n", set()),
    ],
)
def test_the_scan_sees_lazy_relative_and_package_imports(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _imports("imbalml.probe", path, _modules()) == expected


def test_find_cycle_names_the_modules_of_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# ------------------------------------------------------------------ what `import imbalml` costs


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (this one's path) and return its stdout."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


HEAVY = ("timm", "torchmetrics", "sklearn", "scipy", "imbalml.metrics", "imbalml.models")


def test_import_imbalml_imports_no_heavy_dependency_and_installs_no_import_hook() -> None:
    code = (
        "import json, sys, torch\n"
        "hooks = list(sys.meta_path)\n"
        "import imbalml\n"
        f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], sys.meta_path == hooks]))\n"
    )
    loaded, same_hooks = json.loads(_python(code))
    assert loaded == []
    assert same_hooks


def test_a_metric_class_imports_torchmetrics_on_first_use() -> None:
    code = (
        "import json, sys, imbalml\n"
        "before = 'torchmetrics' in sys.modules\n"
        "from imbalml import MeanClassAccuracy\n"
        "from imbalml.metrics import MeanClassAccuracy as M\n"
        "print(json.dumps([before, 'torchmetrics' in sys.modules, MeanClassAccuracy is M,\n"
        "                  MeanClassAccuracy.__module__]))\n"
    )
    assert json.loads(_python(code)) == [False, True, True, "imbalml.metrics.accuracy"]


def test_lazy_names_are_complete_in_all_and_dir() -> None:
    import imbalml.metrics

    assert set(imbalml.metrics.__all__) <= set(imbalml.__all__)
    for name in imbalml.metrics.__all__:
        assert getattr(imbalml, name) is getattr(imbalml.metrics, name)
    assert set(imbalml.__all__) <= set(dir(imbalml))
    assert "metrics" in dir(imbalml) and imbalml.metrics is sys.modules["imbalml.metrics"]


def test_an_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'imbalml' has no attribute 'MeanAccuracy'"):
        imbalml.MeanAccuracy  # noqa: B018
    assert not hasattr(imbalml, "models_")
