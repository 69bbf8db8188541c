"""The three published VAN key layouts, written out from imbalml's layout (the inverse mappings).

Written independently of ``imbalml.models.van_weights`` from the key tables in the research notes
(original ``models/van.py``, mmpretrain ``tools/model_converters/van2mmpretrain.py``, transformers
``convert_van_to_pytorch.py``), so that a round trip through these functions tests the converter.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from torch import nn

_ORIGINAL_BLOCK = {
    "attn.lka.conv_dw": "attn.spatial_gating_unit.conv0",
    "attn.lka.conv_dw_dilated": "attn.spatial_gating_unit.conv_spatial",
    "attn.lka.conv_pw": "attn.spatial_gating_unit.conv1",
    "mlp.dwconv": "mlp.dwconv.dwconv",
}

_HF_BLOCK = {
    "norm1": "pre_normomalization",
    "attn.proj_1": "attention.pre_projection.conv",
    "attn.lka.conv_dw": "attention.attention_layer.attention.depth_wise",
    "attn.lka.conv_dw_dilated": "attention.attention_layer.attention.depth_wise_dilated",
    "attn.lka.conv_pw": "attention.attention_layer.attention.point_wise",
    "attn.proj_2": "attention.post_projection",
    "norm2": "post_normalization",
    "mlp.fc1": "mlp.in_dense",
    "mlp.dwconv": "mlp.depth_wise",
    "mlp.fc2": "mlp.out_dense",
}


def to_original_key(key: str) -> str:
    """imbalml key -> original VAN-Classification key."""
    if m := re.fullmatch(r"stages\.(\d+)\.patch_embed\.(proj|norm)\.(\w+)", key):
        return f"patch_embed{int(m[1]) + 1}.{m[2]}.{m[3]}"
    if m := re.fullmatch(r"stages\.(\d+)\.blocks\.(\d+)\.ls([12])\.gamma", key):
        return f"block{int(m[1]) + 1}.{m[2]}.layer_scale_{m[3]}"
    if m := re.fullmatch(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)\.(\w+)", key):
        module = _ORIGINAL_BLOCK.get(m[3], m[3])
        return f"block{int(m[1]) + 1}.{m[2]}.{module}.{m[4]}"
    if m := re.fullmatch(r"stages\.(\d+)\.norm\.(\w+)", key):
        return f"norm{int(m[1]) + 1}.{m[2]}"
    if m := re.fullmatch(r"head\.fc\.(\w+)", key):
        return f"head.{m[1]}"
    raise KeyError(key)


def original_to_openmmlab_key(key: str) -> str:
    """The rules of mmpretrain's ``van2mmpretrain.py``, applied to an original key."""
    if key.startswith("head"):
        return key.replace("head.", "head.fc.")
    if key.startswith("patch_embed"):
        key = key.replace("proj.", "projection.")
    key = key.replace("block", "blocks")
    key = key.replace("conv0", "DW_conv").replace("conv_spatial", "DW_D_conv")
    key = key.replace("dwconv.dwconv", "dwconv")
    return "backbone." + key


def to_hf_key(key: str) -> str:
    """imbalml key -> transformers ``VanForImageClassification`` key."""
    if m := re.fullmatch(r"stages\.(\d+)\.patch_embed\.(proj|norm)\.(\w+)", key):
        module = {"proj": "convolution", "norm": "normalization"}[m[2]]
        return f"van.encoder.stages.{m[1]}.embeddings.{module}.{m[3]}"
    if m := re.fullmatch(r"stages\.(\d+)\.blocks\.(\d+)\.ls([12])\.gamma", key):
        module = {"1": "attention_scaling", "2": "mlp_scaling"}[m[3]]
        return f"van.encoder.stages.{m[1]}.layers.{m[2]}.{module}.weight"
    if m := re.fullmatch(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)\.(\w+)", key):
        return f"van.encoder.stages.{m[1]}.layers.{m[2]}.{_HF_BLOCK[m[3]]}.{m[4]}"
    if m := re.fullmatch(r"stages\.(\d+)\.norm\.(\w+)", key):
        return f"van.encoder.stages.{m[1]}.normalization.{m[2]}"
    if m := re.fullmatch(r"head\.fc\.(\w+)", key):
        return f"classifier.{m[1]}"
    raise KeyError(key)


def to_layout(state_dict: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Rename an imbalml state dict into ``layout`` ("original", "openmmlab", "huggingface")."""
    if layout == "original":
        return {to_original_key(k): v for k, v in state_dict.items()}
    if layout == "openmmlab":
        return {original_to_openmmlab_key(to_original_key(k)): v for k, v in state_dict.items()}
    if layout == "huggingface":
        out = {to_hf_key(k): v for k, v in state_dict.items()}
        width = max(
            v.shape[0] for k, v in state_dict.items() if re.match(r"stages\.\d+\.norm\.weight", k)
        )
        out["van.layernorm.weight"] = torch.ones(width)  # present in HF files, unused by HF
        out["van.layernorm.bias"] = torch.zeros(width)
        return out
    raise ValueError(layout)


def save_published(state_dict: dict[str, torch.Tensor], layout: str, directory: Path) -> Path:
    """Write ``state_dict`` (imbalml layout) as the published file of ``layout`` would be."""
    sd = to_layout(state_dict, layout.removesuffix("-safetensors"))
    if layout == "original":  # a timm training checkpoint, with the pickled argparse.Namespace
        path = directory / "van_tiny_754.pth.tar"
        args = argparse.Namespace(model="van_b0", lr=1e-3, drop_path=0.1)
        torch.save({"epoch": 299, "arch": "van_b0", "state_dict": sd, "args": args}, path)
    elif layout == "openmmlab":
        path = directory / "van-tiny_8xb128_in1k_20220501-385941af.pth"
        meta = {"mmcls_version": "0.23.0", "CLASSES": ("tench", "goldfish"), "epoch": 300}
        torch.save({"meta": meta, "state_dict": sd}, path)
    elif layout == "huggingface":
        path = directory / "pytorch_model.bin"
        torch.save(sd, path)
    elif layout == "huggingface-safetensors":
        from safetensors.torch import save_file

        path = directory / "model.safetensors"
        save_file({k: v.contiguous() for k, v in sd.items()}, path)
    else:
        raise ValueError(layout)
    return path


@torch.no_grad()
def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Give every parameter and BatchNorm statistic of a VAN (any implementation) random values.

    Layer scales become O(0.3) instead of 1e-2, so that every branch matters for the output.
    Values are rounded to float16 precision so that fixtures can store them exactly in float16.
    """
    g = torch.Generator().manual_seed(seed)
    named = list(model.named_parameters()) + list(model.named_buffers())
    for name, t in named:
        owner_name, _, leaf = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        if leaf == "num_batches_tracked":
            continue
        noise = torch.randn(t.shape, generator=g)
        if isinstance(owner, (nn.Conv2d, nn.Linear)) and leaf == "weight":
            value = noise / t[0].numel() ** 0.5
        elif leaf == "running_var":
            value = torch.rand(t.shape, generator=g) + 0.5
        elif isinstance(owner, (nn.BatchNorm2d, nn.LayerNorm)) and leaf == "weight":
            value = 1 + 0.2 * noise
        elif leaf in ("bias", "running_mean"):
            value = 0.1 * noise
        else:  # layer scales
            value = 0.3 + 0.2 * noise
        t.copy_(value.half().float())
    return model
