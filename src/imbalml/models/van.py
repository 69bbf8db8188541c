"""Visual Attention Network (VAN, Guo et al. 2022), registered with timm as ``van_b0`` .. ``van_b3``.

Importing this module (``import imbalml.models``) registers the model names with timm, so
``timm.create_model("van_b0", num_classes=0)`` returns the VAN-B0 ("van-tiny") feature extractor.
Published weights in any of the three public key layouts (original repository, OpenMMLab, Hugging
Face) load with :func:`imbalml.models.load_weights`, or through timm with
``pretrained=True, pretrained_cfg_overlay=dict(file=PATH)``.

Stage layout (each of the four stages): ``patch_embed`` (strided conv + BatchNorm), ``blocks``, then
a LayerNorm over channels. Block:
``x = x + drop_path(ls1 * attn(bn1(x)))``, ``x = x + drop_path(ls2 * mlp(bn2(x)))``, where ``attn`` is
``1x1 conv -> GELU -> large kernel attention -> 1x1 conv`` plus its own shortcut, and the large
kernel attention gates its input with ``1x1(dw7x7_dilation3(dw5x5(x)))``.

CPU fast path (``fast_cpu=True``, the default): on CPU tensors the stages run in channels-last
memory format and the dilated depthwise convolution is computed as an undilated convolution over
the ``3 x 3`` polyphase components of its input. Both give the same numbers as the plain path (up
to float rounding) and together make a CPU training step about 1.5x faster (see
``benchmarks/bench_van.py``). Other devices always take the plain path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from timm.data import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from imbalml.models._van_layers import DilatedDepthwiseConv2d
from imbalml.models.van_model import VAN
from imbalml.models.van_weights import _reraise_with_file, _timm_filter_fn

# register_model appends each model function (van_b0 .. test_van) to this list.
__all__ = ["DilatedDepthwiseConv2d", "VAN"]


class _Variant(NamedTuple):
    """One registered size: its widths and depths, and where its published weights are."""

    title: str
    embed_dims: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    params: int  # without the classifier, checked by the model function's example
    hub: str | None = None  # the Hugging Face model; the original and OpenMMLab files are notes
    original: str = ""
    mmlab: str = ""


_VARIANTS = {
    "van_b0": _Variant('VAN-B0 ("van-tiny")', (32, 64, 160, 256), (3, 3, 5, 2), 3848800, "van-tiny", "VAN-Tiny-original/resolve/main/van_tiny_754.pth.tar", "van-tiny_8xb128_in1k_20220501-385941af.pth"),
    "van_b1": _Variant('VAN-B1 ("van-small")', (64, 128, 320, 512), (2, 2, 4, 2), 13348800, "van-small", "VAN-Small-original/resolve/main/van_small_811.pth.tar", "van-small_8xb128_in1k_20220501-17bc91aa.pth"),
    "van_b2": _Variant('VAN-B2 ("van-base")', (64, 128, 320, 512), (3, 3, 12, 3), 26065472, "van-base", "VAN-Base-original/resolve/main/van_base_828.pth.tar", "van-base_8xb128_in1k_20220501-6a4cc31b.pth"),
    "van_b3": _Variant('VAN-B3 ("van-large")', (64, 128, 320, 512), (3, 5, 27, 3), 44252608, "van-large", "VAN-Large-original/resolve/main/van_large_839.pth.tar", "van-large_8xb128_in1k_20220501-f212ba21.pth"),
    "test_van": _Variant("A tiny VAN for tests", (8, 16, 24, 32), (1, 2, 1, 1), 55880),
}  # fmt: skip


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "mean": IMAGENET_INCEPTION_MEAN,
        "std": IMAGENET_INCEPTION_STD,
        "first_conv": "stages.0.patch_embed.proj",
        "classifier": "head.fc",
        "license": "apache-2.0",
        "paper_ids": "arXiv:2202.09741",
        "paper_name": "Visual Attention Network",
        "origin_url": "https://github.com/Visual-Attention-Network/VAN-Classification",
        **kwargs,
    }


def _pretrained_cfg(variant: _Variant) -> dict[str, Any]:
    if variant.hub is None:
        return _cfg(input_size=(3, 64, 64), pool_size=(2, 2), license=None)
    # The Hugging Face repository holds safetensors weights (loaded by timm, converted by
    # _timm_filter_fn). The other two layouts are listed as notes; load them with
    # pretrained_cfg_overlay=dict(file=...) or load_weights.
    return _cfg(
        hf_hub_id=f"Visual-Attention-Network/{variant.hub}",
        notes=(
            f"original: https://huggingface.co/Visual-Attention-Network/{variant.original}",
            f"OpenMMLab: https://download.openmmlab.com/mmclassification/v0/van/{variant.mmlab}",
        ),
    )


default_cfgs = generate_default_cfgs(
    {f"{name}.in1k" if v.hub else name: _pretrained_cfg(v) for name, v in _VARIANTS.items()}
)


def _create_van(name: str, pretrained: bool = False, **kwargs: Any) -> VAN:
    variant = _VARIANTS[name]
    args: dict[str, Any] = {"embed_dims": variant.embed_dims, "depths": variant.depths}
    args["mlp_ratios"] = (8, 8, 4, 4)
    kwargs = {**args, **kwargs}
    out_indices = kwargs.pop("out_indices", (0, 1, 2, 3))
    overlay = kwargs.get("pretrained_cfg_overlay") or {}
    file = overlay.get("file") if pretrained else None
    source = repr(os.fspath(file)) if file is not None else f"the pretrained weights of {name}"
    with _reraise_with_file(file):
        model: VAN = build_model_with_cfg(
            VAN,
            name,
            pretrained,
            pretrained_filter_fn=functools.partial(_timm_filter_fn, source=source),
            feature_cfg={"flatten_sequential": True, "out_indices": out_indices},
            **kwargs,
        )
    return model


def _model_function(name: str) -> Callable[..., VAN]:
    """Register ``name`` with timm: a model function named so, documented from ``_VARIANTS``."""
    variant = _VARIANTS[name]

    def model(pretrained: bool = False, **kwargs: Any) -> VAN:
        return _create_van(name, pretrained=pretrained, **kwargs)

    dims, depths = ("-".join(map(str, v)) for v in (variant.embed_dims, variant.depths))
    weights = "published weights" if variant.hub else "no published weights"
    model.__name__ = model.__qualname__ = name
    model.__doc__ = f"""{variant.title}: widths {dims}, depths {depths}; {weights}.

    Keyword arguments go to :class:`~imbalml.models.VAN` (and to timm's ``build_model_with_cfg``).

    Example:
        >>> import timm
        >>> import imbalml.models  # registers the VAN models with timm
        >>> model = timm.create_model("{name}", num_classes=0, device="meta")
        >>> sum(p.numel() for p in model.parameters())  # without the classifier
        {variant.params}
    """
    return register_model(model)


van_b0 = _model_function("van_b0")
van_b1 = _model_function("van_b1")
van_b2 = _model_function("van_b2")
van_b3 = _model_function("van_b3")
test_van = _model_function("test_van")
