"""Register imbalml's backbones with timm when timm is imported, without importing it ourselves.

``import imbalml`` calls :func:`install`: if timm is already imported, :mod:`imbalml.models` is
imported at once (registering ``van_b0`` .. ``van_b3`` and ``test_van``); otherwise a
``sys.meta_path`` finder waits for the first ``import timm`` and imports :mod:`imbalml.models`
right after timm's own ``__init__`` has run. Either way ``timm.create_model("van_b0")`` works after
``import imbalml``, and ``import imbalml`` does not pay for importing timm's model zoo.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any


def _register() -> None:
    importlib.import_module("imbalml.models")


class _Loader(importlib.abc.Loader):
    """Wraps timm's loader: run timm's ``__init__``, then register imbalml's models."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._wrapped.exec_module(module)
        _register()


class _TimmFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of the top-level ``timm`` package once."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "timm":
            return None
        _uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


_FINDER = _TimmFinder()


def _uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def install() -> None:
    """Register now if timm is imported, else on the first ``import timm``."""
    if "timm" in sys.modules:
        _register()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
