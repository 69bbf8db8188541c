"""Import the fashion example's modules in tests.

``examples/fashion_attributes`` is a folder of scripts, not a package: its modules import each
other as top-level modules (``from fashion import ...``), which works when a script runs as
``python examples/fashion_attributes/<script>.py``. Tests get the same view by putting that folder
on ``sys.path`` here, once; then ``from _helpers.fashion_example import fashion, synthetic``.
"""

import importlib
import sys
from pathlib import Path
from types import ModuleType

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "fashion_attributes"
if str(EXAMPLE_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DIR))

import fashion  # noqa: E402
import synthetic  # noqa: E402


def import_example(name: str) -> ModuleType:
    """Import one of the example's modules (``train``, ``predict``, ``config``, ...)."""
    return importlib.import_module(name)


__all__ = ["EXAMPLE_DIR", "fashion", "import_example", "synthetic"]
