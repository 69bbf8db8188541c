"""imbalml uses timm through its public names only (no ``timm.<...>._private`` modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import timm.models

from imbalml.models.van_model import _take_indices

SRC = Path(__file__).resolve().parents[1] / "src" / "imbalml"


def _private_timm_imports(tree: ast.AST) -> list[str]:
    """``timm`` module paths with a part starting with ``_`` that ``tree`` imports, or imports from."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from timm.models import _features`` imports a private module too
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "timm" and any(p.startswith("_") for p in parts[1:]):
                found.append(f"line {node.lineno}: {module}")
    return found


def test_scanner_finds_private_imports():
    code = (
        "import timm.models._features\n"
        "from timm.models._manipulate import checkpoint_seq\n"
        "from timm.models import _registry\n"
        "from timm.models import checkpoint_seq, register_model\n"
        "from timm.layers import DropPath\n"
        "from ._private import x\n"
    )
    assert _private_timm_imports(ast.parse(code)) == [
        "line 1: timm.models._features",
        "line 2: timm.models._manipulate",
        "line 2: timm.models._manipulate.checkpoint_seq",
        "line 3: timm.models._registry",
    ]


def test_no_private_timm_module_imported():
    sources = sorted(SRC.rglob("*.py"))
    assert sources
    found = {
        str(path.relative_to(SRC)): hits
        for path in sources
        if (hits := _private_timm_imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not found, f"imports of private timm modules (use timm's public names): {found}"


def test_public_names_used_exist():
    assert callable(timm.models.checkpoint_seq)


@pytest.mark.parametrize(
    "indices, expected",
    [(None, ([0, 1, 2, 3], 3)), (1, ([3], 3)), (2, ([2, 3], 3)), ([0, 2], ([0, 2], 2)),
     ([-1], ([3], 3)), ((1, -3), ([1, 1], 1))],
)  # fmt: skip
def test_take_indices(indices, expected):
    assert _take_indices(4, indices) == expected


@pytest.mark.parametrize(
    "indices, message",
    [(0, r"last-n `indices` in 1 \.\. 4, but got 0"), (5, r"but got 5"),
     ([4], r"stage `indices` in -4 \.\. 3, but got \[4\]"), ([-5], r"but got \[-5\]"),
     ([], r"but got \[\]")],
)  # fmt: skip
def test_take_indices_out_of_range(indices, message):
    with pytest.raises(ValueError, match=message):
        _take_indices(4, indices)
