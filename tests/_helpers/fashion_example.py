"""Import the fashion example's package ``fashion_recipe`` in tests, without touching ``sys.path``.

``examples/fashion_attributes/fashion_recipe`` is the package behind the entry scripts; a script
run as ``python examples/fashion_attributes/train.py`` finds it beside itself. Tests load it here
from its file location (once, as ``fashion_recipe`` in ``sys.modules``), so that the scripts'
own imports (``from fashion_recipe.training import main``) resolve to the same modules.
"""

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "fashion_attributes"
PACKAGE_DIR = EXAMPLE_DIR / "fashion_recipe"

#: Former top-level module names of the example (before the package) -> their module now.
ALIASES = {"train": "training", "predict": "prediction", "ablate": "ablation", "fashion": "task"}


def _load_package() -> ModuleType:
    if "fashion_recipe" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "fashion_recipe", PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(PACKAGE_DIR)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["fashion_recipe"] = module
        spec.loader.exec_module(module)
    return sys.modules["fashion_recipe"]


def import_example(name: str) -> ModuleType:
    """One module of ``fashion_recipe`` (``training``, ``config``, ...; old names like ``train`` work)."""
    _load_package()
    return importlib.import_module(f"fashion_recipe.{ALIASES.get(name, name)}")


fashion = import_example("task")
synthetic = import_example("synthetic")

__all__ = ["EXAMPLE_DIR", "PACKAGE_DIR", "fashion", "import_example", "synthetic"]
