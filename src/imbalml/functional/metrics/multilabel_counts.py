"""Plain multi-label confusion counts: one 2 x 2 matrix ``[[tn, fp], [fn, tp]]`` per label."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import (
    as_tensor,
    check_finite,
    check_multi_hot,
    check_number,
    check_shape,
    first_true,
    position,
)
from imbalml.functional.metrics.grouped_counts import _sync_free_counts

__all__ = ["multilabel_confusion_matrix"]


# ---------------------------------------------------------------------------------------------
# plain multi-label: per-label 2 x 2 confusion matrices


def _check_threshold(threshold: Any, num_labels: int) -> float | torch.Tensor:
    """A decision threshold in [0, 1]: one number, or one per label ``(C,)``."""
    if isinstance(threshold, (torch.Tensor, list, tuple)) or hasattr(threshold, "__array__"):
        value = as_tensor(threshold, "threshold")
        if not value.is_floating_point():
            raise TypeError(
                f"Expected `threshold` to have a floating dtype, but got {value.dtype}."
            )
        check_shape(value, "threshold", (num_labels,), "(C,)")
        check_finite(value, "threshold")
        outside = (value < 0) | (value > 1)
        if bool(outside.any()):
            where = first_true(outside)
            raise ValueError(
                f"Expected `threshold` in [0, 1] for every label, but got {value[where].item():g} "
                f"at {position(where)}."
            )
        return value
    return check_number(threshold, "threshold", low=0.0, high=1.0)


def probabilities(preds: torch.Tensor) -> torch.Tensor:
    """Apply torchmetrics' rule to float scores: all inside ``[0, 1]``, probabilities; else logits.

    Logits get a sigmoid. The choice is made on the device (``torch.where`` of one
    ``all()``), so nothing is read back to the host.
    """
    inside = ((preds >= 0) & (preds <= 1)).all()
    return torch.where(inside, preds, preds.sigmoid())


def _binary_preds(
    preds: Any, shape: tuple[int, ...], threshold: Any, validate: bool
) -> torch.Tensor:
    """``(N, C)`` 0/1 long predictions from probabilities or logits (``> threshold``) or 0/1 values."""
    preds = as_tensor(preds, "preds")
    if validate:
        if tuple(preds.shape) != tuple(shape):
            raise ValueError(
                f"Expected `preds` of shape (N, C) = {tuple(shape)} like `target` (plain "
                f"multi-label, groups=None), but got {tuple(preds.shape)}."
            )
    if preds.is_floating_point():
        if validate and preds.numel():
            check_finite(preds, "preds")
        thr = _check_threshold(threshold, shape[1]) if validate else threshold
        probs = probabilities(preds)
        if isinstance(thr, torch.Tensor):
            thr = thr.to(device=probs.device, dtype=probs.dtype)
        return (probs > thr).long()
    if validate:
        check_multi_hot(preds, "preds", num_labels=shape[1], ignore_index=None)
    return (preds != 0).long()


def multilabel_confusion_matrix(
    preds: Any,
    target: Any,
    *,
    threshold: float | torch.Tensor = 0.5,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """One 2 x 2 confusion matrix per label: the state every plain multi-label metric reduces.

    Args:
        preds: Float scores ``(N, C)``: probabilities if all are in ``[0, 1]``, else logits,
            which get a sigmoid (torchmetrics' rule); label ``c`` is predicted positive where
            the probability ``> threshold[c]``. Or 0/1 predictions (integer or bool).
        target: Multi-hot ``(N, C)``: 0/1 (integer, bool or float) or ``ignore_index``, which is
            not counted.
        threshold: Decision threshold: one number in ``[0, 1]`` or one per label ``(C,)``.
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values (reads values back to the host).

    Returns:
        A long tensor ``(C, 2, 2)`` in scikit-learn's layout ``[[tn, fp], [fn, tp]]``, equal to
        ``sklearn.metrics.multilabel_confusion_matrix(target, preds > threshold)``.

    Example:
        >>> import torch
        >>> from imbalml.functional import multilabel_confusion_matrix
        >>> preds = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> multilabel_confusion_matrix(preds, target)[1]  # label 1: tn=1, fp=0, fn=1, tp=1
        tensor([[1, 0],
                [1, 1]])
    """
    target = check_multi_hot(target, ignore_index=ignore_index, validate_args=validate_args)
    n, c = target.shape
    p = _binary_preds(preds, (n, c), threshold, validate_args).to(target.device)
    valid = target != ignore_index
    t = torch.where(valid, target, 0).long()
    label = torch.arange(c, device=target.device)
    flat = torch.where(valid, label * 4 + t * 2 + p, 4 * c).flatten()
    if flat.is_cuda:
        counts = _sync_free_counts(flat, 4 * c)
    else:
        counts = torch.bincount(flat, minlength=4 * c + 1)[: 4 * c]
    return counts.reshape(c, 2, 2)
