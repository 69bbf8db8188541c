"""Load VAN weights from any of the published key layouts into :class:`imbalml.models.VAN`.

Three layouts of the same tensors are in circulation; the mapping between them is a fixed
renaming of keys (``_LAYOUTS`` below spells it out):

- ``"original"``: the authors' repository (``van_tiny_754.pth.tar``, a timm training checkpoint:
  ``{"state_dict": ..., "args": argparse.Namespace, ...}``), keys ``patch_embed1.proj.weight``,
  ``block1.0.attn.spatial_gating_unit.conv0.weight``, ``norm1.weight``, ``head.weight``.
- ``"openmmlab"``: mmpretrain / mmcls (``van-tiny_8xb128_in1k_20220501-385941af.pth``,
  ``{"state_dict": ..., "meta": ...}``), keys ``backbone.patch_embed1.projection.weight``,
  ``backbone.blocks1.0.attn.spatial_gating_unit.DW_conv.weight``, ``head.fc.weight``.
- ``"huggingface"``: transformers ``VanForImageClassification`` (``Visual-Attention-Network/van-tiny``,
  ``pytorch_model.bin`` or ``model.safetensors``), keys
  ``van.encoder.stages.0.layers.0.attention.attention_layer.attention.depth_wise.weight``,
  ``classifier.weight``; its ``van.layernorm`` is never used by the model and is dropped.

and imbalml's own layout (``"imbalml"``, the keys of ``VAN.state_dict()``), which passes through.
:func:`imbalml.models.load_weights` reads the files (safely) and loads them; this module holds the
VAN renaming and timm's ``pretrained_filter_fn``.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from imbalml.models._checkpoint import _error_detail, _flat_state_dict, _match_model

__all__ = ["convert_van_state_dict"]

LAYOUTS = ("imbalml", "original", "openmmlab", "huggingface")
HEAD = ("head.fc.weight", "head.fc.bias")


@dataclass(frozen=True)
class _Layout:
    """How one published layout names the tensors of a VAN, stage by stage.

    Regexes are matched against whole keys (after stripping ``prefix``); groups ``s`` (stage,
    counted from ``stage_base``), ``b`` (block), ``m`` (module path), ``p`` (parameter name).
    """

    prefix: str
    stage_base: int
    patch_embed: str
    patch_modules: Mapping[str, str]
    block: str
    block_modules: Mapping[str, str]
    layer_scales: Mapping[str, str]
    stage_norm: str
    head: str  # matched against the whole key: the classifier is outside ``prefix``
    ignore: str | None = None


_BLOCK_COMMON = {"norm1": "norm1", "norm2": "norm2", "attn.proj_1": "attn.proj_1"}
_BLOCK_COMMON.update({"attn.proj_2": "attn.proj_2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"})

_LAYOUTS: dict[str, _Layout] = {
    "original": _Layout(
        prefix="",
        stage_base=1,
        patch_embed=r"patch_embed(?P<s>\d+)\.(?P<m>proj|norm)\.(?P<p>\w+)",
        patch_modules={"proj": "proj", "norm": "norm"},
        block=r"block(?P<s>\d+)\.(?P<b>\d+)\.(?P<rest>.+)",
        block_modules={
            **_BLOCK_COMMON,
            "attn.spatial_gating_unit.conv0": "attn.lka.conv_dw",
            "attn.spatial_gating_unit.conv_spatial": "attn.lka.conv_dw_dilated",
            "attn.spatial_gating_unit.conv1": "attn.lka.conv_pw",
            "mlp.dwconv.dwconv": "mlp.dwconv",
        },
        layer_scales={"layer_scale_1": "ls1.gamma", "layer_scale_2": "ls2.gamma"},
        stage_norm=r"norm(?P<s>\d+)\.(?P<p>weight|bias)",
        head=r"head\.(?P<p>weight|bias)",
    ),
    "openmmlab": _Layout(
        prefix="backbone.",
        stage_base=1,
        patch_embed=r"patch_embed(?P<s>\d+)\.(?P<m>projection|norm)\.(?P<p>\w+)",
        patch_modules={"projection": "proj", "norm": "norm"},
        block=r"blocks(?P<s>\d+)\.(?P<b>\d+)\.(?P<rest>.+)",
        block_modules={
            **_BLOCK_COMMON,
            "attn.spatial_gating_unit.DW_conv": "attn.lka.conv_dw",
            "attn.spatial_gating_unit.DW_D_conv": "attn.lka.conv_dw_dilated",
            "attn.spatial_gating_unit.conv1": "attn.lka.conv_pw",
            "mlp.dwconv": "mlp.dwconv",
        },
        layer_scales={"layer_scale_1": "ls1.gamma", "layer_scale_2": "ls2.gamma"},
        stage_norm=r"norm(?P<s>\d+)\.(?P<p>weight|bias)",
        head=r"head\.fc\.(?P<p>weight|bias)",
    ),
    "huggingface": _Layout(
        prefix="van.",
        stage_base=0,
        patch_embed=r"encoder\.stages\.(?P<s>\d+)\.embeddings\.(?P<m>convolution|normalization)\.(?P<p>\w+)",
        patch_modules={"convolution": "proj", "normalization": "norm"},
        block=r"encoder\.stages\.(?P<s>\d+)\.layers\.(?P<b>\d+)\.(?P<rest>.+)",
        block_modules={
            "pre_normomalization": "norm1",  # sic
            "attention.pre_projection.conv": "attn.proj_1",
            "attention.attention_layer.attention.depth_wise": "attn.lka.conv_dw",
            "attention.attention_layer.attention.depth_wise_dilated": "attn.lka.conv_dw_dilated",
            "attention.attention_layer.attention.point_wise": "attn.lka.conv_pw",
            "attention.post_projection": "attn.proj_2",
            "post_normalization": "norm2",
            "mlp.in_dense": "mlp.fc1",
            "mlp.depth_wise": "mlp.dwconv",
            "mlp.out_dense": "mlp.fc2",
        },
        layer_scales={"attention_scaling.weight": "ls1.gamma", "mlp_scaling.weight": "ls2.gamma"},
        stage_norm=r"encoder\.stages\.(?P<s>\d+)\.normalization\.(?P<p>weight|bias)",
        head=r"classifier\.(?P<p>weight|bias)",
        ignore=r"layernorm\.(weight|bias)",  # VanModel.layernorm: defined, never used in forward
    ),
}


def _van_layout(keys: list[str]) -> str | None:
    """The VAN layout of a flat state dict, named from its keys (``None``: not a VAN's)."""
    if any(k.startswith(("van.encoder.", "encoder.stages.")) for k in keys):
        return "huggingface"
    body = [k.removeprefix("backbone.") for k in keys]
    if any(k.startswith("backbone.") for k in keys) or any(
        re.match(r"blocks\d+\.|patch_embed\d+\.projection\.", k) for k in body
    ):
        return "openmmlab"
    if any(re.match(r"block\d+\.|patch_embed\d+\.proj\.", k) for k in keys):
        return "original"
    if any(re.match(r"stages\.\d+\.(patch_embed|blocks|norm)\.", k) for k in keys):
        return "imbalml"
    return None


def _detect_layout(keys: list[str]) -> str:
    """Name the VAN layout of a flat state dict from its keys."""
    layout = _van_layout(keys)
    if layout is not None:
        return layout
    shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
    raise ValueError(
        f"Expected a VAN state dict in one of the layouts {LAYOUTS}, but got keys: {shown or '(none)'}."
    )


def _convert_key(layout: _Layout, key: str) -> str | None:
    """Return imbalml's name for ``key`` (``None``: drop it; unchanged if not recognised)."""
    body = key.removeprefix(layout.prefix) if layout.prefix else key
    if layout.ignore and re.fullmatch(layout.ignore, body):
        return None
    if m := re.fullmatch(layout.patch_embed, body):
        s = int(m["s"]) - layout.stage_base
        return f"stages.{s}.patch_embed.{layout.patch_modules[m['m']]}.{m['p']}"
    if m := re.fullmatch(layout.block, body):
        s, b, rest = int(m["s"]) - layout.stage_base, int(m["b"]), m["rest"]
        if rest in layout.layer_scales:
            return f"stages.{s}.blocks.{b}.{layout.layer_scales[rest]}"
        module, _, param = rest.rpartition(".")
        if module in layout.block_modules:
            return f"stages.{s}.blocks.{b}.{layout.block_modules[module]}.{param}"
        return key
    if m := re.fullmatch(layout.stage_norm, body):
        return f"stages.{int(m['s']) - layout.stage_base}.norm.{m['p']}"
    if m := re.fullmatch(layout.head, key):
        return f"head.fc.{m['p']}"
    return key


def convert_van_state_dict(
    state_dict: Mapping[str, Any], *, layout: str | None = None
) -> dict[str, torch.Tensor]:
    """Rename a VAN state dict from any published layout to imbalml's layout.

    Args:
        state_dict: A flat state dict, or a checkpoint dict wrapping one under ``"state_dict"``,
            ``"model"``, ``"state_dict_ema"`` or ``"model_ema"``. ``module.`` and ``_orig_mod.``
            prefixes (DDP, ``torch.compile``) are removed.
        layout: One of ``"original"``, ``"openmmlab"``, ``"huggingface"``, ``"imbalml"``;
            detected from the keys if ``None``.

    Returns:
        A new dict with imbalml's keys and the same tensors (not copied). Keys that the layout
        does not describe are kept unchanged, so :func:`~imbalml.models.load_weights` reports them
        as unexpected; the Hugging Face ``van.layernorm`` (unused by that model) is dropped.

    Raises:
        ValueError: If ``layout`` is unknown or cannot be detected.
        TypeError: If ``state_dict`` is not a mapping of names to tensors.

    Example:
        >>> import torch
        >>> sd = {"block1.0.attn.spatial_gating_unit.conv_spatial.weight": torch.zeros(32, 1, 7, 7),
        ...       "block1.0.layer_scale_1": torch.zeros(32), "norm4.bias": torch.zeros(256),
        ...       "head.weight": torch.zeros(1000, 256)}
        >>> list(convert_van_state_dict(sd))  # doctest: +NORMALIZE_WHITESPACE
        ['stages.0.blocks.0.attn.lka.conv_dw_dilated.weight', 'stages.0.blocks.0.ls1.gamma',
         'stages.3.norm.bias', 'head.fc.weight']
    """
    flat = _flat_state_dict(state_dict, "`state_dict`")
    if layout is None:
        layout = _detect_layout(list(flat))
    elif layout not in LAYOUTS:
        raise ValueError(f"Expected `layout` to be one of {LAYOUTS}, but got {layout!r}.")
    if layout == "imbalml":
        return flat
    rules = _LAYOUTS[layout]
    out: dict[str, torch.Tensor] = {}
    for key, value in flat.items():
        new = _convert_key(rules, key)
        if new is not None:
            out[new] = value
    return out


def _timm_filter_fn(
    state_dict: Mapping[str, Any], model: nn.Module, *, source: str = "the pretrained checkpoint"
) -> dict[str, torch.Tensor]:
    """Convert any layout and check it against ``model`` (timm's ``pretrained_filter_fn``).

    ``source`` names the file in the messages. A classifier that does not fit is replaced by the
    model's own initial one, so that timm's strict loading keeps the model's head.
    """
    flat = _flat_state_dict(state_dict, source)
    try:
        layout = _detect_layout(list(flat))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    converted = convert_van_state_dict(flat, layout=layout)
    target = model.state_dict()
    matched = _match_model(
        converted, target, source=source, strict=True, layout=layout, head=HEAD, family="VAN"
    )
    state = matched.state_dict
    for k in matched.dropped_head:
        if k in target:
            state[k] = target[k]
    return state


@contextmanager
def _reraise_with_file(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Re-raise errors of reading ``path`` (inside timm's loader) with the file's name."""
    if path is None:
        yield
        return
    name = os.fspath(path)
    try:
        yield
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"No VAN checkpoint file at {name!r}.") from exc
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise ValueError(
            f"Could not read a checkpoint from {name!r} ({_error_detail(exc)})"
        ) from exc
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":
            raise
        raise ValueError(
            f"Could not read a checkpoint from {name!r} ({_error_detail(exc)})"
        ) from exc
