"""Example-based multi-label metrics as ``torchmetrics.Metric`` classes (plain labels).

Each class sums the per-batch figures of :mod:`imbalml.functional.metrics.example_based` (float64
``"sum"`` states, so DDP sync adds them and batch-wise accumulation equals the one-shot result).
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from imbalml._validation import check_int, check_number
from imbalml.functional.metrics.example_based import (
    example_f1_update,
    hamming_update,
    precision_at_k_update,
)

__all__ = ["ExampleF1Score", "HammingLoss", "PrecisionAtK"]


def _threshold(threshold: Any) -> float | torch.Tensor:
    """One threshold in [0, 1] as a float, or a per-label ``(C,)`` floating tensor."""
    if isinstance(threshold, torch.Tensor):
        if threshold.ndim != 1 or not threshold.is_floating_point():
            raise ValueError(
                "Expected `threshold` to be a number or a 1-D floating tensor (one per label), "
                f"but got shape {tuple(threshold.shape)} and dtype {threshold.dtype}."
            )
        return threshold.detach().clone()
    return check_number(threshold, "threshold", low=0.0, high=1.0)


class _SumRatio(Metric):
    """A ratio of two float64 sums accumulated over batches."""

    is_differentiable = False
    full_state_update = False
    numerator: torch.Tensor
    denominator: torch.Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("numerator", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("denominator", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def compute(self) -> torch.Tensor:
        """The accumulated ratio (NaN before any sample)."""
        return self.numerator / self.denominator


class ExampleF1Score(_SumRatio):
    """Example-based F1 (scikit-learn's ``average="samples"``), accumulated over batches.

    See :func:`imbalml.functional.example_f1_score`.

    Args:
        threshold: Decision threshold on probabilities, one number in [0, 1] or one per label
            ``(C,)``.
        zero_division: The score of a sample with no true and no predicted label.
        ignore_index: Target value of a missing label, or None.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import ExampleF1Score
        >>> metric = ExampleF1Score()
        >>> metric.update(torch.tensor([[0.9, 0.8, 0.1]]), torch.tensor([[1, 0, 0]]))
        >>> metric.update(torch.tensor([[0.2, 0.7, 0.6]]), torch.tensor([[0, 1, 1]]))
        >>> round(float(metric.compute()), 4)
        0.8333
    """

    higher_is_better = True

    def __init__(
        self,
        *,
        threshold: float | torch.Tensor = 0.5,
        zero_division: float = 0.0,
        ignore_index: int | None = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.threshold = _threshold(threshold)
        self.zero_division = check_number(zero_division, "zero_division", low=0.0, high=1.0)
        self.ignore_index = None if ignore_index is None else check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch of probabilities (or 0/1 decisions) ``(N, C)`` and multi-hot targets."""
        total, count = example_f1_update(
            preds, target, threshold=self.threshold, zero_division=self.zero_division,
            ignore_index=self.ignore_index, validate_args=self.validate_args,
        )
        self.numerator += total.to(self.numerator.device)
        self.denominator += count.to(self.denominator.device)


class HammingLoss(_SumRatio):
    """Hamming loss (scikit-learn's ``hamming_loss``), accumulated over batches.

    See :func:`imbalml.functional.hamming_loss`. Lower is better.

    Args:
        threshold: Decision threshold on probabilities, one number in [0, 1] or one per label
            ``(C,)``.
        ignore_index: Target value of a missing label, or None.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import HammingLoss
        >>> metric = HammingLoss()
        >>> metric.update(torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]]), torch.tensor([[1, 0, 0], [0, 1, 1]]))
        >>> round(float(metric.compute()), 4)
        0.1667
    """

    higher_is_better = False

    def __init__(
        self,
        *,
        threshold: float | torch.Tensor = 0.5,
        ignore_index: int | None = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.threshold = _threshold(threshold)
        self.ignore_index = None if ignore_index is None else check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch of probabilities (or 0/1 decisions) ``(N, C)`` and multi-hot targets."""
        wrong, total = hamming_update(
            preds, target, threshold=self.threshold, ignore_index=self.ignore_index,
            validate_args=self.validate_args,
        )
        self.numerator += wrong.to(self.numerator.device)
        self.denominator += total.to(self.denominator.device)


class PrecisionAtK(_SumRatio):
    """Precision at ``k`` (the share of true labels among each sample's top ``k``), over batches.

    See :func:`imbalml.functional.precision_at_k`.

    Args:
        k: How many top-scored labels count.
        ignore_index: Target value of a missing label, or None.
        validate_args: Check every batch.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> from imbalml import PrecisionAtK
        >>> metric = PrecisionAtK(k=1)
        >>> metric.update(torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]]), torch.tensor([[1, 0, 0], [0, 0, 1]]))
        >>> float(metric.compute())
        0.5
    """

    higher_is_better = True

    def __init__(
        self,
        *,
        k: int = 1,
        ignore_index: int | None = -100,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.k = check_int(k, "k", low=1)
        self.ignore_index = None if ignore_index is None else check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch of scores ``(N, C)`` and multi-hot targets."""
        total, count = precision_at_k_update(
            preds, target, k=self.k, ignore_index=self.ignore_index,
            validate_args=self.validate_args,
        )
        self.numerator += total.to(self.numerator.device)
        self.denominator += count.to(self.denominator.device)
