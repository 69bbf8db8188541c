"""Minority-aware mixup as a module, for a batch already on its device (e.g. the GPU)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from imbalml._layout_checks import check_target
from imbalml._validation import as_tensor, check_multi_hot, check_same_device, check_shape
from imbalml.functional.mixup.mix import check_batch, mixup
from imbalml.groups import AttributeGroups
from imbalml.mixup.options import _MixupOptions, _picklable, _unpickled

__all__ = ["BatchMixup"]


class BatchMixup(_MixupOptions, nn.Module):
    r"""Minority-aware mixup applied to a batch already on its device (e.g. the GPU).

    ``forward(images, target)`` takes images ``(N, ...)`` and hard ``(N, G)`` or soft ``(N, C)``
    targets (plain multi-label, ``groups=None``: multi-hot or soft ``(N, C)``) and returns ``(images, soft_targets)`` on the same device, with the same modes,
    options and results as :class:`MixupCollator` (same seed and batch, same tensors). The random
    draws (one uniform, one Beta seed, ``N`` sort keys) come from a CPU generator and the keys are
    copied to the device without blocking; with ``validate_args=False`` nothing is read back, so a
    step costs no host-device synchronisation. Per batch:

    .. math::
        x_i' = (1 - \lambda) x_i + \lambda x_{\pi(i)}, \quad
        y_i' = (1 - \lambda) y_i + \lambda y_{\pi(i)}

    for the rows selected by ``mode``; other rows are returned bit for bit. With ``mode="none"``
    the images are returned as given (the same tensor) with one-hot targets.

    Under DDP, give each rank its own seed (e.g. ``seed=base + rank``) unless identical draws on
    every rank are wanted. The generator is in :attr:`generator`; save its ``get_state()`` in a
    checkpoint to resume the same stream.

    Args:
        groups: The label layout, or ``None`` for plain multi-label (see :class:`MixupCollator`).
        counts: Training count of each attribute ``(C,)`` (give this or ``minority``).
        minority: An explicit bool ``(C,)`` mask of the minority attributes (labels).
        mode: One of ``"minority"``, ``"all"``, ``"minority_pairs"``, ``"none"``.
        alpha: First Beta parameter.
        beta: Second Beta parameter.
        count_threshold: Minority threshold on ``counts``, a number of samples (default: their
            mean).
        p: Probability of mixing a batch.
        per_sample_lam: One ``lam`` per image instead of one per batch.
        seed: Seed of the generator (default: fresh OS entropy).
        generator: A CPU ``torch.Generator`` to draw from instead of ``seed``.
        ignore_index: Label value marking a missing attribute (hard targets).
        validate_args: Check the batch (reads values back to the host; ``False`` on hot paths).

    Shape:
        - images: ``(N, *)`` floating
        - target: ``(N, G)`` integer or ``(N, C)`` floating
        - output: ``(N, *)`` and ``(N, C)`` float32

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, BatchMixup
        >>> groups = AttributeGroups([3, 2])
        >>> mix = BatchMixup(groups, counts=[4, 2, 2, 7, 1], mode="all", seed=0)
        >>> images, target = torch.randn(6, 3, 4, 4), torch.tensor([[0, 0], [1, 0], [2, 1]] * 2)
        >>> mixed, soft = mix(images, target)
        >>> mixed.shape, soft.shape, soft.sum(1).allclose(torch.full((6,), 2.0))
        (torch.Size([6, 3, 4, 4]), torch.Size([6, 5]), True)
    """

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        counts: Any = None,
        minority: Any = None,
        mode: Literal["minority", "all", "minority_pairs", "none"] = "minority",
        alpha: float = 0.2,
        beta: float = 0.2,
        count_threshold: float | None = None,
        p: float = 1.0,
        per_sample_lam: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__()  # nn.Module's
        self._set_options(
            groups=groups, counts=counts, minority=minority, mode=mode, alpha=alpha, beta=beta,
            count_threshold=count_threshold, p=p, per_sample_lam=per_sample_lam, seed=seed,
            generator=generator, ignore_index=ignore_index,
        )  # fmt: skip
        self.validate_args = bool(validate_args)

    def forward(
        self, images: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix a batch; return ``(images, soft_targets)`` on the batch's device."""
        n = images.shape[0] if isinstance(images, torch.Tensor) and images.ndim else 0
        if self.validate_args:
            check_batch(images, "images")
            target = as_tensor(target, "target")
            check_same_device(images, target, "images", "target")
        if self.groups is None:
            target = as_tensor(target, "target")
            check_shape(target, "target", (n, self.minority.numel()), "(N, C)")
            if self.validate_args and not target.is_floating_point():
                check_multi_hot(target, ignore_index=self.ignore_index)
            soft = target.float()
        else:
            soft, _ = check_target(
                target,
                self.groups,
                "target",
                num_samples=n,
                ignore_index=self.ignore_index,
                validate_args=self.validate_args,
            )
        if self.mode == "none":
            return images, soft
        plan = self._plan(soft, self.generator)
        return mixup(
            images,
            soft,
            self.groups,
            lam=plan.lam,
            partner=plan.partner,
            mask=plan.mask,
            ignore_index=self.ignore_index if self.groups is None else None,
            validate_args=False,
        )

    def __getstate__(self) -> dict[str, Any]:
        return _picklable(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(_unpickled(state))

    def extra_repr(self) -> str:
        """Summarise the options."""
        return self._summary()
