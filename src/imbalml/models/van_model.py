"""The Visual Attention Network model class, :class:`VAN` (timm's model surface).

:mod:`imbalml.models.van` registers its sizes with timm (``van_b0`` .. ``van_b3``); the layers
it is built from are in ``_van_layers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from timm.layers import ClassifierHead, LayerNorm2d, get_device_dtype, trunc_normal_
from torch import nn

from imbalml._validation import check_int, check_number
from imbalml.models._van_layers import (
    ConvMlp,
    LargeKernelAttention,
    PatchEmbed,
    SpatialAttention,
    VanBlock,
    VanStage,
)

__all__ = ["VAN"]


def _init_weights(module: nn.Module) -> None:
    """The original VAN initialisation (one routine for the whole network)."""
    if isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / (fan_out // module.groups)))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _take_indices(num_stages: int, indices: int | Sequence[int] | None) -> tuple[list[int], int]:
    """The stage indices that ``forward_intermediates(indices=...)`` returns, and the largest.

    ``None`` selects every stage, an int ``n`` the last ``n``, a sequence the listed stages
    (negative indices count from the end), as timm's ``forward_intermediates`` convention says.
    """
    if indices is None:
        indices = num_stages
    if isinstance(indices, int):
        if not 0 < indices <= num_stages:
            raise ValueError(
                f"Expected the last-n `indices` in 1 .. {num_stages}, but got {indices}."
            )
        taken = list(range(num_stages - indices, num_stages))
    else:
        taken = [num_stages + i if i < 0 else i for i in indices]
        if not taken or any(not 0 <= t < num_stages for t in taken):
            raise ValueError(
                f"Expected stage `indices` in -{num_stages} .. {num_stages - 1}, but got {list(indices)}."
            )
    return taken, max(taken)


def _check_pool(global_pool: str) -> str:
    if global_pool not in ("avg", ""):
        raise ValueError(f"Expected `global_pool` to be 'avg' or '', but got {global_pool!r}.")
    return global_pool


class VAN(nn.Module):
    """Visual Attention Network backbone with an optional linear classifier (timm model surface).

    Create it through timm after ``import imbalml.models``: ``timm.create_model("van_b0")``;
    ``num_classes=0`` gives the pooled feature extractor, ``features_only=True`` the four stage
    maps. Everything timm expects is here: ``forward_features`` (the final ``(N, C, H/32, W/32)``
    map), ``forward_head(x, pre_logits=...)``, ``reset_classifier``, ``num_features``,
    ``feature_info``, ``forward_intermediates``, ``set_grad_checkpointing``, ``group_matcher``.

    Args:
        in_chans: Input channels.
        num_classes: Classifier outputs; 0 for no classifier (``forward`` returns features).
        global_pool: ``"avg"`` (mean over the final map) or ``""`` (no pooling).
        embed_dims: Width of each stage.
        depths: Number of blocks in each stage.
        mlp_ratios: MLP expansion of each stage.
        drop_rate: Dropout before the classifier.
        proj_drop_rate: Dropout inside the MLPs.
        drop_path_rate: Stochastic depth, increasing linearly from 0 over all blocks to this value.
        layer_scale_init_value: Initial value of the per-channel branch scales.
        norm_eps: Epsilon of the stage LayerNorms (1e-6 as in the original and Hugging Face
            models; OpenMMLab used 1e-5).
        fast_cpu: On CPU, run in channels-last memory format and compute the dilated convolutions
            by polyphase decomposition (same numbers, ~1.5x faster training). Other devices ignore it.
        device: Device of the parameters (``"meta"`` builds without memory).
        dtype: Dtype of the parameters.

    Raises:
        ValueError: If the stage tuples differ in length, or a value is out of range.

    Shape:
        - input: ``(N, in_chans, H, W)``
        - output: ``(N, num_classes)``, or ``(N, embed_dims[-1])`` when ``num_classes=0``

    Example:
        >>> import timm, torch
        >>> import imbalml.models
        >>> model = timm.create_model("test_van", num_classes=0)
        >>> model(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 32])
        >>> model.forward_features(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 32, 2, 2])
        >>> model.reset_classifier(5)
        >>> model(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dims: Sequence[int] = (32, 64, 160, 256),
        depths: Sequence[int] = (3, 3, 5, 2),
        mlp_ratios: Sequence[float] = (8, 8, 4, 4),
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-2,
        norm_eps: float = 1e-6,
        fast_cpu: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.in_chans = check_int(in_chans, "in_chans", low=1)
        self.num_classes = check_int(num_classes, "num_classes", low=0)
        self.global_pool = _check_pool(global_pool)
        self.embed_dims = tuple(
            check_int(d, f"embed_dims[{i}]", low=1) for i, d in enumerate(embed_dims)
        )
        self.depths = tuple(check_int(d, f"depths[{i}]", low=1) for i, d in enumerate(depths))
        self.mlp_ratios = tuple(
            check_number(r, f"mlp_ratios[{i}]", low=0.0, low_inclusive=False)
            for i, r in enumerate(mlp_ratios)
        )
        num_stages = len(self.embed_dims)
        if num_stages == 0 or len(self.depths) != num_stages or len(self.mlp_ratios) != num_stages:
            raise ValueError(
                "Expected `embed_dims`, `depths` and `mlp_ratios` of the same non-zero length, "
                f"but got lengths {len(self.embed_dims)}, {len(self.depths)}, {len(self.mlp_ratios)}."
            )
        drop_rate = check_number(drop_rate, "drop_rate", low=0.0, high=1.0, high_inclusive=False)
        proj_drop_rate = check_number(
            proj_drop_rate, "proj_drop_rate", low=0.0, high=1.0, high_inclusive=False
        )
        drop_path_rate = check_number(
            drop_path_rate, "drop_path_rate", low=0.0, high=1.0, high_inclusive=False
        )
        norm_eps = check_number(norm_eps, "norm_eps", low=0.0, low_inclusive=False)
        layer_scale_init_value = check_number(layer_scale_init_value, "layer_scale_init_value")

        # stochastic depth rises linearly over all blocks, from 0 to drop_path_rate
        rates = iter(torch.linspace(0, drop_path_rate, sum(self.depths)).tolist())
        stages: list[nn.Module] = []
        prev = self.in_chans
        for i, (dim, depth, ratio) in enumerate(zip(self.embed_dims, self.depths, self.mlp_ratios)):
            blocks = [
                VanBlock(
                    dim,
                    SpatialAttention(
                        dim, LargeKernelAttention(dim, polyphase=fast_cpu, **dd), **dd
                    ),
                    ConvMlp(dim, int(dim * ratio), drop=proj_drop_rate, **dd),
                    drop_path=next(rates),
                    layer_scale_init_value=layer_scale_init_value,
                    **dd,
                )
                for _ in range(depth)
            ]
            patch_embed = PatchEmbed(prev, dim, 7 if i == 0 else 3, **dd)  # stride 4, then 2
            norm = LayerNorm2d(dim, eps=norm_eps, **dd)
            stages.append(VanStage(patch_embed, blocks, norm, fast_cpu=fast_cpu))
            prev = dim
        self.stages = nn.Sequential(*stages)
        self.feature_info = [
            {"num_chs": c, "reduction": 4 * 2**i, "module": f"stages.{i}"}
            for i, c in enumerate(self.embed_dims)
        ]
        self.num_features = self.head_hidden_size = prev
        self.head = ClassifierHead(
            prev, self.num_classes, pool_type=global_pool, drop_rate=drop_rate, **dd
        )
        self.apply(_init_weights)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Parameter groups for layer-wise learning-rate decay (timm ``param_groups_layer_decay``)."""
        return {
            "stem": r"^stages\.0\.patch_embed",
            "blocks": r"^stages\.(\d+)"
            if coarse
            else [
                (r"^stages\.(\d+)\.patch_embed", (0,)),
                (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                (r"^stages\.(\d+)\.norm", (99999,)),
            ],
        }

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Names excluded from weight decay beyond timm's default (1-D tensors): none."""
        return set()

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass to save memory."""
        for stage in self.stages:
            if isinstance(stage, VanStage):
                stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        """The final linear layer (``nn.Identity`` when ``num_classes=0``)."""
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier by a freshly initialised one with ``num_classes`` outputs.

        Args:
            num_classes: New number of outputs; 0 removes the classifier.
            global_pool: New pooling (``"avg"`` or ``""``); unchanged if ``None``.
        """
        self.num_classes = check_int(num_classes, "num_classes", low=0)
        if global_pool is not None:
            self.global_pool = _check_pool(global_pool)
        dd = get_device_dtype(self)
        self.head.reset(num_classes, global_pool, in_features=self.num_features, **dd)
        self.head.fc.apply(_init_weights)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Forward pass that also returns the outputs of the selected stages.

        Args:
            x: Input images.
            indices: Last ``n`` stages if an int, all if ``None``, else the listed stage indices.
            norm: Unused (each stage ends with its own LayerNorm); kept for timm compatibility.
            stop_early: Stop after the last requested stage.
            output_fmt: Only ``"NCHW"``.
            intermediates_only: Return only the list of stage outputs.

        Returns:
            The stage outputs, or ``(final map, stage outputs)``.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"Expected `output_fmt` 'NCHW', but got {output_fmt!r}.")
        intermediates: list[torch.Tensor] = []
        take_indices, max_index = _take_indices(len(self.stages), indices)
        stages = (
            self.stages
            if torch.jit.is_scripting() or not stop_early
            else self.stages[: max_index + 1]
        )
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take_indices:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages (and head) not needed for ``forward_intermediates(indices)``."""
        take_indices, max_index = _take_indices(len(self.stages), indices)
        prune_end = max_index < len(self.stages) - 1
        self.stages = self.stages[: max_index + 1]
        if prune_end:
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
        if prune_head or prune_end:
            self.reset_classifier(0, "")
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the final feature map ``(N, embed_dims[-1], H/32, W/32)``."""
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature map; apply the classifier unless ``pre_logits``."""
        return self.head(x, pre_logits=True) if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (or pooled features when ``num_classes=0``)."""
        return self.forward_head(self.forward_features(x))
