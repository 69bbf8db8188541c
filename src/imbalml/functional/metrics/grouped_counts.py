"""Grouped confusion counts: one flat vector of per-group ``K_g x K_g`` blocks, and what follows from it."""

from __future__ import annotations

import functools
from typing import Any

import torch

from imbalml._layout_checks import (
    check_float_hard_labels,
    check_groups,
    check_hard_target,
    check_scores,
)
from imbalml._validation import as_tensor, check_finite, first_true
from imbalml.groups import AttributeGroups

__all__ = ["confusion_counts"]


def _result_dtype(device: torch.device) -> torch.dtype:
    # Ratios of integer counts: float64 reproduces scikit-learn to the last digit. MPS has no
    # float64, so fall back to float32 there.
    return torch.float32 if device.type == "mps" else torch.float64


def _pred_indices(preds: Any, groups: AttributeGroups, num_samples: int) -> torch.Tensor:
    """Turn ``(N, G)`` indices or ``(N, C)`` scores into ``(N, G)`` long indices."""
    preds = as_tensor(preds, "preds")
    if preds.is_floating_point():
        if preds.ndim != 2 or preds.shape[1] != groups.num_attributes:
            raise ValueError(
                f"Expected `preds` as (N, C) = ({num_samples}, {groups.num_attributes}) float scores "
                f"or (N, G) = ({num_samples}, {groups.num_groups}) integer indices, "
                f"but got float {tuple(preds.shape)}."
            )
        check_scores(preds, groups, "preds", finite=False)
        indices = groups._argmax(preds, nan_check="preds")
        if preds.shape[0] != num_samples:
            raise ValueError(
                f"Expected `preds` and `target` to have the same number of samples, "
                f"but got {preds.shape[0]} and {num_samples}."
            )
        return indices
    if preds.ndim == 2 and preds.shape[1] == groups.num_attributes and preds.dtype != torch.bool:
        raise TypeError(
            f"Expected `preds` of shape (N, C) = ({num_samples}, {groups.num_attributes}) to hold "
            f"float scores, but got dtype {preds.dtype}."
        )
    check_hard_target(preds, groups, "preds", ignore_index=None, num_samples=num_samples)
    return preds.long()


def _confusion_layout(
    sizes: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Group sizes and block starts as tensors on ``device``, built at each call (a few bytes).

    Nothing is shared between calls: a tensor made under ``torch.inference_mode()`` never
    reaches a later training step.
    """
    starts = [sum(k * k for k in sizes[:g]) for g in range(len(sizes))]
    total = sum(k * k for k in sizes)
    as_long = functools.partial(torch.tensor, dtype=torch.long, device=device)
    return as_long(sizes), as_long(starts), total


def confusion_counts(
    preds: Any,
    target: Any,
    groups: AttributeGroups,
    *,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Flat per-group confusion counts: the state every metric here reduces.

    Returns a long tensor of length ``sum(K_g ** 2)``: group ``g``'s ``K_g x K_g`` block
    (row = true, column = predicted), flattened row-major, after the blocks of groups ``< g``.
    Samples whose target in a group is ``ignore_index`` are not counted in that group.
    ``target`` may also be one-hot ``(N, C)`` floats (an all-zero group segment is a missing
    label), as :class:`imbalml.MixupCollator` returns them with ``mode="none"``.

    With ``validate_args=False`` nothing is read back to the host, so on a GPU the update runs
    without a device synchronisation (no boolean indexing, no ``bincount``, whose output size
    depends on the data).

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import confusion_counts
        >>> groups = AttributeGroups([2, 3])
        >>> preds, target = torch.tensor([[0, 2], [1, 2]]), torch.tensor([[0, 2], [0, 1]])
        >>> confusion_counts(preds, target, groups)  # 2 x 2 block, then 3 x 3 block
        tensor([1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1])
    """
    check_groups(groups)
    target = _grouped_target(target, groups, ignore_index, validate_args)
    n = target.shape[0]
    p = _pred_indices(preds, groups, n) if validate_args else _fast_indices(preds, groups)
    p = p.to(target.device)
    t = target.long()
    sizes, starts, total = _confusion_layout(groups.sizes, t.device)
    flat = torch.addcmul(starts + p, t, sizes)  # the cell of (true, predicted) in its block
    # Ignored entries go to an extra bin that is dropped: faster than boolean indexing, and with
    # fixed shapes throughout (no host synchronisation on a GPU).
    flat = torch.where(t != ignore_index, flat, total).flatten()
    if flat.is_cuda:
        return _sync_free_counts(flat, total)
    return torch.bincount(flat, minlength=total + 1)[:total]


def _grouped_target(
    target: Any, groups: AttributeGroups, ignore_index: int, validate: bool
) -> torch.Tensor:
    """Hard ``(N, G)`` indices from hard indices or one-hot ``(N, C)`` floats."""
    target = as_tensor(target, "target")
    if not target.is_floating_point():
        if validate:
            check_hard_target(target, groups, "target", ignore_index=ignore_index)
        return target
    check_float_hard_labels(target, groups, "target")
    n = target.shape[0] if target.ndim else "N"
    if target.ndim != 2 or target.shape[1] != groups.num_attributes:
        raise ValueError(
            f"Expected `target` as hard (N, G) = ({n}, {groups.num_groups}) indices or one-hot "
            f"(N, C) = ({n}, {groups.num_attributes}) floats, but got {tuple(target.shape)}."
        )
    segments = groups.split(target)
    if validate:
        check_finite(target, "target")
        bad = (target != 0) & (target != 1)
        sums = torch.stack([s.sum(-1) for s in segments], -1)
        if bool(bad.any()) or bool((sums > 1).any()):
            (row,) = first_true(bad.any(1) | (sums > 1).any(1))
            raise ValueError(
                f"Expected a float `target` to be one-hot (each group segment all 0 or a single "
                f"1), but row {row} is not: metrics need hard labels, so evaluate on unmixed "
                f"targets (mixup's soft targets are for the loss)."
            )
    indices = torch.stack([s.max(-1).indices for s in segments], -1)
    labelled = torch.stack([s.sum(-1) for s in segments], -1) > 0
    return torch.where(labelled, indices, ignore_index)


def _sync_free_counts(flat: torch.Tensor, total: int) -> torch.Tensor:
    """``bincount(flat, minlength=total + 1)[:total]`` without reading anything back to the host.

    ``bincount`` sizes its output from the data's maximum, which synchronises a GPU; here every
    shape is fixed. Values of ``flat`` are in ``[0, total]``; the last bin is dropped.
    """
    if flat.is_cuda and torch.are_deterministic_algorithms_enabled():
        return (flat.unsqueeze(1) == torch.arange(total, device=flat.device)).sum(0)
    counts = torch.zeros(total + 1, dtype=torch.long, device=flat.device)
    return counts.index_add_(0, flat, torch.ones_like(flat))[:total]


def _fast_indices(preds: Any, groups: AttributeGroups) -> torch.Tensor:
    preds = as_tensor(preds, "preds")
    return groups.argmax(preds, validate_args=False) if preds.is_floating_point() else preds.long()


def split_confusion(counts: torch.Tensor, groups: AttributeGroups) -> tuple[torch.Tensor, ...]:
    """Split flat counts from :func:`confusion_counts` into one ``(K_g, K_g)`` matrix per group."""
    blocks = torch.split(counts, [k * k for k in groups.sizes])
    return tuple(b.reshape(k, k) for b, k in zip(blocks, groups.sizes))


def per_class_from_counts(counts: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Recall of each attribute inside its group, ``(C,)``.

    NaN where the attribute has nothing to score (no sample and never predicted: ``tp + fp + fn
    == 0``, left out of a macro mean as in torchmetrics' multiclass metrics); 0 for an attribute
    without sample that was predicted (only false alarms).
    """
    dtype = _result_dtype(counts.device)
    mats = split_confusion(counts, groups)
    correct = torch.cat([m.diagonal() for m in mats]).to(dtype)
    support = torch.cat([m.sum(1) for m in mats]).to(dtype)
    predicted = torch.cat([m.sum(0) for m in mats]).to(dtype)
    recall = torch.nan_to_num(correct / support, nan=0.0)
    return torch.where(support + predicted - correct > 0, recall, torch.nan)


def group_accuracy_from_counts(counts: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Plain accuracy in each group, ``(G,)``, NaN for a group without labelled sample."""
    dtype = _result_dtype(counts.device)
    mats = split_confusion(counts, groups)
    correct = torch.stack([m.diagonal().sum() for m in mats]).to(dtype)
    total = torch.stack([m.sum() for m in mats]).to(dtype)
    return correct / total
