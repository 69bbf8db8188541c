r"""Example-based multi-label metrics: example F1, Hamming loss and precision at k (plain labels).

These metrics score each *sample* (its set of predicted labels against its set of true labels)
and average over samples, where the label-based ones (:func:`label_f1_score`, micro/macro F1)
score each label. They take plain multi-label data only (``groups=None`` in the rest of the
library): ``preds`` ``(N, C)`` probabilities (a label is predicted where ``preds > threshold``)
or 0/1 predictions for the F1 and the Hamming loss, scores of any range for precision at k;
``target`` multi-hot ``(N, C)``, where ``ignore_index`` marks a missing label: a missing label is
unknown, so it counts neither as a hit nor as an error.

Each function also has a ``*_update`` form returning the per-batch sums that the
``torchmetrics.Metric`` classes of :mod:`imbalml.metrics.example_based` accumulate, so that
batch-wise accumulation gives exactly the one-shot result.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import as_tensor, check_int, check_multi_hot, check_number

# The ``*_update`` functions (per-batch sums) serve the Metric classes of
# imbalml.metrics.example_based; the public API is the three metrics.
__all__ = ["example_f1_score", "hamming_loss", "precision_at_k"]


def _check_preds(preds: Any, target: torch.Tensor, name: str = "preds") -> torch.Tensor:
    """``preds`` as a tensor of the same ``(N, C)`` shape as ``target``."""
    preds = as_tensor(preds, name)
    if preds.shape != target.shape:
        raise ValueError(
            f"Expected `{name}` of shape (N, C) = {tuple(target.shape)}, the shape of `target`, "
            f"but got {tuple(preds.shape)}."
        )
    if preds.is_complex():
        raise TypeError(f"Expected `{name}` with real values, but got dtype {preds.dtype}.")
    return preds


def _decisions(preds: torch.Tensor, threshold: Any, validate_args: bool) -> torch.Tensor:
    """0/1 bool decisions ``(N, C)``: ``preds > threshold`` for probabilities, 0/1 values as they are."""
    if not preds.is_floating_point():
        if validate_args and preds.numel() and preds.dtype != torch.bool:
            if bool(((preds != 0) & (preds != 1)).any()):
                raise ValueError(
                    "Expected integer `preds` to be 0/1 decisions, but got other values; pass "
                    "probabilities as a floating tensor."
                )
        return preds.bool()
    c = preds.shape[1]
    if isinstance(threshold, torch.Tensor):
        if threshold.shape != (c,):
            raise ValueError(
                f"Expected `threshold` of shape (C,) = ({c},), one per label, but got "
                f"{tuple(threshold.shape)}."
            )
        return preds > threshold.to(device=preds.device, dtype=preds.dtype)
    threshold = check_number(threshold, "threshold", low=0.0, high=1.0) if validate_args else threshold
    return preds > threshold


def _inputs(
    preds: Any, target: Any, ignore_index: int | None, validate_args: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checked ``preds``, 0/1 bool ``target`` and the bool mask of labelled entries."""
    target = check_multi_hot(target, ignore_index=ignore_index, validate_args=validate_args)
    preds = _check_preds(preds, target)
    labelled = torch.ones_like(target, dtype=torch.bool)
    if ignore_index is not None and target.dtype != torch.bool:
        labelled = target != ignore_index
    return preds, (target == 1) & labelled, labelled


def example_f1_update(
    preds: Any,
    target: Any,
    *,
    threshold: float | torch.Tensor = 0.5,
    zero_division: float = 0.0,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sum of the per-sample F1 scores of a batch and its number of samples (float64)."""
    if validate_args:
        check_number(zero_division, "zero_division", low=0.0, high=1.0)
    preds, positive, labelled = _inputs(preds, target, ignore_index, validate_args)
    decided = _decisions(preds, threshold, validate_args).to(positive.device) & labelled
    tp = (decided & positive).sum(dim=1, dtype=torch.float64)
    denominator = decided.sum(dim=1, dtype=torch.float64) + positive.sum(dim=1, dtype=torch.float64)
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    scores = torch.where(
        denominator > 0, 2.0 * tp / safe, torch.full_like(denominator, float(zero_division))
    )
    return scores.sum(), torch.tensor(float(positive.shape[0]), dtype=torch.float64, device=scores.device)


def example_f1_score(
    preds: Any,
    target: Any,
    *,
    threshold: float | torch.Tensor = 0.5,
    zero_division: float = 0.0,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Example-based F1: each sample's F1 between its predicted and its true label set, averaged.

    .. math::
        \mathrm{F1}_{ex} = \frac{1}{N} \sum_{n} \frac{2 |\hat Y_n \cap Y_n|}{|\hat Y_n| + |Y_n|}

    scikit-learn's ``f1_score(target, preds > threshold, average="samples")``. A sample with
    neither true nor predicted labels scores ``zero_division`` (scikit-learn's default is 0).

    Args:
        preds: ``(N, C)`` probabilities (a label is predicted where ``preds > threshold``) or 0/1
            decisions (integer or bool).
        target: Multi-hot ``(N, C)`` labels; ``ignore_index`` marks a missing label.
        threshold: Decision threshold on probabilities, one number in [0, 1] or one per label
            ``(C,)``.
        zero_division: The score of a sample with no true and no predicted label, in [0, 1].
        ignore_index: Target value of a missing label (left out of the sample's sets), or None.
        validate_args: Check arguments and values.

    Returns:
        A float64 scalar tensor.

    Raises:
        ValueError: If shapes differ, targets are not 0/1/``ignore_index`` or the threshold is
            out of range.

    Example:
        >>> import torch
        >>> from imbalml.functional import example_f1_score
        >>> preds = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]])
        >>> target = torch.tensor([[1, 0, 0], [0, 1, 1]])
        >>> round(float(example_f1_score(preds, target)), 4)  # (2/3 + 1) / 2
        0.8333
    """
    total, count = example_f1_update(
        preds, target, threshold=threshold, zero_division=zero_division,
        ignore_index=ignore_index, validate_args=validate_args,
    )
    return total / count


def hamming_update(
    preds: Any,
    target: Any,
    *,
    threshold: float | torch.Tensor = 0.5,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The number of wrong decisions in a batch and its number of labelled entries (float64)."""
    preds, positive, labelled = _inputs(preds, target, ignore_index, validate_args)
    decided = _decisions(preds, threshold, validate_args).to(positive.device)
    wrong = (decided != positive) & labelled
    return wrong.sum(dtype=torch.float64), labelled.sum(dtype=torch.float64)


def hamming_loss(
    preds: Any,
    target: Any,
    *,
    threshold: float | torch.Tensor = 0.5,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Hamming loss: the fraction of (sample, label) decisions that are wrong.

    .. math::
        \mathrm{HL} = \frac{1}{|L|} \sum_{(n, c) \in L} [\hat y_{nc} \ne y_{nc}]

    over the labelled entries ``L`` (all of them without ``ignore_index`` entries): scikit-learn's
    ``hamming_loss(target, preds > threshold)``. Lower is better. No labelled entry gives NaN.

    Args:
        preds: ``(N, C)`` probabilities (a label is predicted where ``preds > threshold``) or 0/1
            decisions (integer or bool).
        target: Multi-hot ``(N, C)`` labels; ``ignore_index`` marks a missing label.
        threshold: Decision threshold on probabilities, one number in [0, 1] or one per label
            ``(C,)``.
        ignore_index: Target value of a missing label (not counted), or None.
        validate_args: Check arguments and values.

    Returns:
        A float64 scalar tensor.

    Raises:
        ValueError: If shapes differ, targets are not 0/1/``ignore_index`` or the threshold is
            out of range.

    Example:
        >>> import torch
        >>> from imbalml.functional import hamming_loss
        >>> preds = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]])
        >>> target = torch.tensor([[1, 0, 0], [0, 1, 1]])
        >>> round(float(hamming_loss(preds, target)), 4)  # 1 wrong decision of 6
        0.1667
    """
    wrong, total = hamming_update(
        preds, target, threshold=threshold, ignore_index=ignore_index, validate_args=validate_args
    )
    return wrong / total


def precision_at_k_update(
    preds: Any,
    target: Any,
    *,
    k: int = 1,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sum of the per-sample precisions at ``k`` of a batch and its number of samples (float64)."""
    if validate_args:
        check_int(k, "k", low=1)
    preds, positive, labelled = _inputs(preds, target, ignore_index, validate_args)
    if validate_args and k > preds.shape[1]:
        raise ValueError(
            f"Expected `k` <= C = {preds.shape[1]}, the number of labels, but got {k}."
        )
    scores = preds.to(torch.float64 if preds.dtype == torch.float64 else torch.float32)
    scores = scores.masked_fill(~labelled.to(scores.device), float("-inf"))
    top = scores.topk(k, dim=1).indices
    hits = positive.to(scores.device).gather(1, top).sum(dim=1, dtype=torch.float64)
    return (hits / k).sum(), torch.tensor(float(preds.shape[0]), dtype=torch.float64, device=hits.device)


def precision_at_k(
    preds: Any,
    target: Any,
    *,
    k: int = 1,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Precision at ``k``: the share of true labels among each sample's ``k`` top-scored labels.

    .. math::
        \mathrm{P@k} = \frac{1}{N} \sum_{n} \frac{1}{k} \sum_{c \in \mathrm{top}_k(s_n)} y_{nc}

    as extreme multi-label classification reports it (every sample counts, also one with fewer
    than ``k`` true labels). Missing labels (``ignore_index``) are left out of the ranking. Ties
    among scores are broken by ``torch.topk``.

    Args:
        preds: ``(N, C)`` scores (probabilities or logits: only their order matters).
        target: Multi-hot ``(N, C)`` labels; ``ignore_index`` marks a missing label.
        k: How many top labels are scored, in [1, C].
        ignore_index: Target value of a missing label, or None.
        validate_args: Check arguments and values.

    Returns:
        A float64 scalar tensor.

    Raises:
        ValueError: If shapes differ, targets are not 0/1/``ignore_index`` or ``k`` is out of
            range.

    Example:
        >>> import torch
        >>> from imbalml.functional import precision_at_k
        >>> preds = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]])
        >>> target = torch.tensor([[1, 0, 0], [0, 0, 1]])
        >>> float(precision_at_k(preds, target, k=1)), float(precision_at_k(preds, target, k=2))
        (0.5, 0.5)
    """
    total, count = precision_at_k_update(
        preds, target, k=k, ignore_index=ignore_index, validate_args=validate_args
    )
    return total / count
