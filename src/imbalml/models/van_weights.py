"""Load VAN weights from any of the published key layouts into :class:`imbalml.models.VAN`.

Three layouts of the same tensors are in circulation; the mapping between them is a fixed
renaming of keys (``_BLOCK_NAMES`` and ``_LAYOUTS`` below spell it out):

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
from typing import Any, NamedTuple

import torch
from torch import nn

from imbalml.models._checkpoint import _error_detail, _flat_state_dict, _match_model

__all__ = ["convert_van_state_dict"]

LAYOUTS = ("imbalml", "original", "openmmlab", "huggingface")
HEAD = ("head.fc.weight", "head.fc.bias")


# The names inside a block, one row per module (or, for the layer scales, per tensor):
# imbalml's name, then the original, OpenMMLab and Hugging Face ones (the columns of LAYOUTS).
_BLOCK_NAMES = (
    ("norm1", "norm1", "norm1", "pre_normomalization"),  # sic
    ("attn.proj_1", "attn.proj_1", "attn.proj_1", "attention.pre_projection.conv"),
    ("attn.lka.conv_dw", "attn.spatial_gating_unit.conv0", "attn.spatial_gating_unit.DW_conv", "attention.attention_layer.attention.depth_wise"),
    ("attn.lka.conv_dw_dilated", "attn.spatial_gating_unit.conv_spatial", "attn.spatial_gating_unit.DW_D_conv", "attention.attention_layer.attention.depth_wise_dilated"),
    ("attn.lka.conv_pw", "attn.spatial_gating_unit.conv1", "attn.spatial_gating_unit.conv1", "attention.attention_layer.attention.point_wise"),
    ("attn.proj_2", "attn.proj_2", "attn.proj_2", "attention.post_projection"),
    ("norm2", "norm2", "norm2", "post_normalization"),
    ("mlp.fc1", "mlp.fc1", "mlp.fc1", "mlp.in_dense"),
    ("mlp.dwconv", "mlp.dwconv.dwconv", "mlp.dwconv", "mlp.depth_wise"),
    ("mlp.fc2", "mlp.fc2", "mlp.fc2", "mlp.out_dense"),
    ("ls1.gamma", "layer_scale_1", "layer_scale_1", "attention_scaling.weight"),
    ("ls2.gamma", "layer_scale_2", "layer_scale_2", "mlp_scaling.weight"),
)  # fmt: skip
_PATCH_EMBED_NAMES = (("proj", "proj", "projection", "convolution"), ("norm", "norm", "norm", "normalization"))  # fmt: skip


class _Section(NamedTuple):
    """Keys of one part of a VAN (``pattern``, groups ``s``, ``b``, ``rest``) and imbalml's name."""

    pattern: re.Pattern[str]
    target: str  # imbalml's key before ``rest``, with ``{s}`` (stage from 0) and ``{b}`` (block)
    names: Mapping[str, str] | None  # the layout's names in ``rest`` -> imbalml's (None: same)


class _Layout(NamedTuple):
    first_stage: int  # the layout's number of the first stage
    sections: tuple[_Section, ...]
    ignore: re.Pattern[str] | None  # keys dropped


def _stage_numbered(
    layout: str,
    prefix: str,
    first_stage: int,
    stage: tuple[str, str, str],
    head: str,
    ignore: str = "",
) -> _Layout:
    """The renaming of a layout that numbers its stages from ``first_stage``.

    ``stage`` is the layout's names of a stage's patch embedding, block and final norm, with
    ``{s}`` for the stage and ``{b}`` for the block number. The backbone's keys, and ``ignore``
    (keys dropped), may start with ``prefix``; ``head``, the classifier's name, does not.
    """
    column = LAYOUTS.index(layout)
    optional = f"(?:{re.escape(prefix)})?" if prefix else ""

    def pattern(template: str, rest: str = r".+", start: str = optional) -> re.Pattern[str]:
        regex = re.escape(template).replace(re.escape("{s}"), r"(?P<s>\d+)")
        regex = regex.replace(re.escape("{b}"), r"(?P<b>\d+)")
        return re.compile(rf"{start}{regex}\.(?P<rest>{rest})")

    def names(table: tuple[tuple[str, ...], ...]) -> dict[str, str]:
        return {row[column]: row[0] for row in table}

    patch_embed, block, norm = stage
    return _Layout(
        first_stage,
        (
            _Section(pattern(patch_embed), "stages.{s}.patch_embed", names(_PATCH_EMBED_NAMES)),
            _Section(pattern(block), "stages.{s}.blocks.{b}", names(_BLOCK_NAMES)),
            _Section(pattern(norm, r"weight|bias"), "stages.{s}.norm", None),
            _Section(pattern(head, r"weight|bias", start=""), "head.fc", None),
        ),
        pattern(ignore, r"weight|bias") if ignore else None,
    )


_LAYOUTS = {
    "original": _stage_numbered("original", "", 1, ("patch_embed{s}", "block{s}.{b}", "norm{s}"), "head"),
    "openmmlab": _stage_numbered("openmmlab", "backbone.", 1, ("patch_embed{s}", "blocks{s}.{b}", "norm{s}"), "head.fc"),
    # VanModel.layernorm is defined and never used in its forward pass: dropped
    "huggingface": _stage_numbered("huggingface", "van.", 0, ("encoder.stages.{s}.embeddings", "encoder.stages.{s}.layers.{b}", "encoder.stages.{s}.normalization"), "classifier", ignore="layernorm"),
}  # fmt: skip


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
    if layout.ignore and layout.ignore.fullmatch(key):
        return None
    for section in layout.sections:
        if m := section.pattern.fullmatch(key):
            s = int(m["s"]) - layout.first_stage if "s" in m.groupdict() else 0
            start = section.target.format(s=s, b=m.groupdict().get("b"))
            rest = m["rest"]
            if section.names is None:
                return f"{start}.{rest}"
            if rest in section.names:  # a whole tensor name (the layer scales)
                return f"{start}.{section.names[rest]}"
            module, _, param = rest.rpartition(".")
            return f"{start}.{section.names[module]}.{param}" if module in section.names else key
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
