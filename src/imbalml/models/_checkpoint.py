"""Reading weight files safely and matching a state dict to a model (shared by every layout).

Files are read with ``torch.load(weights_only=True)``, allowing exactly one extra global,
``argparse.Namespace`` (the original VAN checkpoints pickle their training arguments), or with
safetensors. Nothing here knows a layout: the converters rename keys, this module reads, unwraps
and checks.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any, NamedTuple

import torch

from imbalml.models.state_dict_check import check_state_dict

_WRAPPERS = ("state_dict", "model", "state_dict_ema", "model_ema")
_STRIP = ("module.", "_orig_mod.")


def _strip(key: str, prefixes: tuple[str, ...]) -> str:
    while key.startswith(prefixes):
        for p in prefixes:
            key = key.removeprefix(p)
    return key


def _flat_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """Unwrap a checkpoint container and check that it is a flat ``{name: tensor}`` mapping."""
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"Expected {source} to hold a state dict (a mapping of names to tensors), "
            f"but got {type(obj).__name__}."
        )
    for key in _WRAPPERS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Expected {source} to map names to tensors, but entry {key!r} is "
                f"{type(value).__name__}."
            )
        out[_strip(key, _STRIP)] = value
    return out


def _error_detail(exc: BaseException) -> str:
    """A one-line account of why reading failed.

    For a file refused by ``torch.load(weights_only=True)`` this is the unpickler's reason (the
    global or opcode outside the allowlist), without torch's advice to retry with
    ``weights_only=False``, which this loader never does.
    """
    text = str(exc).split(" If this checkpoint is trusted")[0]  # timm's wrapper says it too
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if found:
        text = found.group(1).split(". Please use")[0]
        if "Unsupported operand" in text:
            text += " (not a torch.save file)"
    return f"{type(exc).__name__}: {text.splitlines()[0].strip() if text.strip() else ''}"


def _read_checkpoint(path: str) -> Any:
    """Read a ``.safetensors`` or (weights-only) ``torch.save`` file; errors name the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file at {path!r}.")
    with open(path, "rb") as f:
        head = f.read(9)
    try:
        if path.endswith(".safetensors") or (len(head) == 9 and head[8:9] == b"{"):
            from safetensors.torch import load_file

            return load_file(path, device="cpu")
        safe = getattr(torch.serialization, "safe_globals", None)
        with safe([argparse.Namespace]) if safe is not None else nullcontext():
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupt, not a checkpoint, or disallowed pickle globals
        raise ValueError(
            f"Could not read a checkpoint from {path!r} ({_error_detail(exc)})"
        ) from exc


class _Matched(NamedTuple):
    state_dict: dict[str, torch.Tensor]
    dropped_head: list[str]


def _match_model(
    state_dict: dict[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    *,
    source: str,
    strict: bool,
    layout: str,
    head: tuple[str, ...],
    family: str,
    file_key: Callable[[str], str | None] | None = None,
) -> _Matched:
    """Drop a classifier that does not fit the model, then :func:`check_state_dict` the rest.

    ``head`` names the classifier's tensors (model keys): if one of them does not fit, all are
    dropped and none is required. A missing ``num_batches_tracked`` is accepted. ``family``
    ("VAN") goes into the hint after a shape mismatch. ``file_key(model_key)``, where given, is
    the file's own name of a model key; the message shows it beside the model's name.
    """

    def shown(key: str) -> str:
        theirs = file_key(key) if file_key is not None else None
        return f"{key} ({layout}: {theirs})" if theirs and theirs != key else key

    state = dict(state_dict)
    misfit = any(
        k in state and (k not in target or state[k].shape != target[k].shape) for k in head
    )
    dropped = [k for k in head if k in state] if misfit else []
    for k in dropped:
        del state[k]
    ignore = list(head) if misfit else []
    ignore += [k for k in target if k.endswith("num_batches_tracked") and k not in state]
    try:
        check_state_dict(
            {shown(k): v for k, v in target.items()},
            {shown(k): v for k, v in state.items()},
            source=f"{source} ({layout} layout)",
            strict=strict,
            ignore=[shown(k) for k in ignore],
        )
    except ValueError as exc:
        if not any(k in target and v.shape != target[k].shape for k, v in state.items()):
            raise
        # the usual cause of a shape mismatch: another size of the same network
        raise ValueError(f"{exc} Are these the weights of a different {family} size?") from None
    return _Matched(state, dropped)
