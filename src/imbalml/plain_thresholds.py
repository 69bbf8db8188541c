r"""Decision thresholds for plain multi-label probabilities, tuned for an F1 on held-out data.

Two functions, for the three F1 scores a multi-label task reports (``"example"``: scikit-learn's
``average="samples"``; ``"micro"``; ``"macro"``), on ``(N, C)`` probabilities of a selection
split and its multi-hot targets. A label is predicted where ``probs > threshold``.

* :func:`tune_global_threshold`: the one threshold, out of ``candidates``, that maximises the
  chosen F1 over all labels (ties: the smallest such candidate).
* :func:`tune_label_thresholds`: one threshold per label. Each label gets the candidate that
  maximises its own F1 (ties: the smallest), shrunk toward the global threshold ``t_g`` in
  proportion to how little evidence the label has:
  :math:`t_c = (m_c \hat t_c + s\, t_g) / (m_c + s)` with :math:`m_c` the label's positives in
  the tuning data and :math:`s` = ``shrinkage`` (0: no shrinkage; a rare label stays near the
  global threshold, whose choice rests on every label).

Both work on held-out predictions only; they are brute force over the candidate grid (one pass
per candidate), which is exact and fast for the grids used here (99 candidates by default).
"""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import as_tensor, check_choice, check_multi_hot, check_number

__all__ = ["tune_global_threshold", "tune_label_thresholds"]

#: The F1 scores the thresholds can be tuned for.
F1_KINDS = ("example", "micro", "macro")


def default_candidates() -> torch.Tensor:
    """The default grid: 0.01, 0.02, ..., 0.99 (float64)."""
    return torch.arange(1, 100, dtype=torch.float64) / 100.0


def _inputs(
    probs: Any, target: Any, candidates: Any, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checked float64 ``probs``, bool positives, bool labelled mask and the candidate grid."""
    target = check_multi_hot(target, ignore_index=ignore_index)
    probs = as_tensor(probs, "probs")
    if probs.shape != target.shape:
        raise ValueError(
            f"Expected `probs` of shape (N, C) = {tuple(target.shape)}, the shape of `target`, "
            f"but got {tuple(probs.shape)}."
        )
    if not probs.is_floating_point():
        raise TypeError(f"Expected `probs` with a floating dtype, but got {probs.dtype}.")
    if probs.shape[0] == 0:
        raise ValueError("Expected `probs` with at least one sample, but got 0.")
    grid = default_candidates() if candidates is None else as_tensor(candidates, "candidates")
    if grid.ndim != 1 or grid.numel() == 0 or not grid.is_floating_point():
        raise ValueError(
            "Expected `candidates` to be a non-empty 1-D floating tensor of thresholds, but got "
            f"shape {tuple(grid.shape)} and dtype {grid.dtype}."
        )
    if bool(((grid < 0) | (grid > 1)).any()):
        raise ValueError("Expected every `candidates` entry in [0, 1].")
    labelled = torch.ones_like(target, dtype=torch.bool)
    if ignore_index is not None and target.dtype != torch.bool:
        labelled = target != ignore_index
    positive = (target == 1) & labelled
    return probs.detach().double().cpu(), positive.cpu(), labelled.cpu(), grid.double().cpu()


def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """``2 tp / (2 tp + fp + fn)``, 0 where undefined (scikit-learn's ``zero_division=0``)."""
    denominator = 2 * tp + fp + fn
    return torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.zeros_like(tp))


def _score(
    decided: torch.Tensor, positive: torch.Tensor, labelled: torch.Tensor, kind: str
) -> torch.Tensor:
    """The F1 of kind ``kind`` of 0/1 decisions (a float64 scalar)."""
    decided = decided & labelled
    tp = (decided & positive).double()
    fp = (decided & ~positive).double()
    fn = (~decided & positive).double()
    if kind == "example":
        return _f1(tp.sum(1), fp.sum(1), fn.sum(1)).mean()
    if kind == "micro":
        return _f1(tp.sum(), fp.sum(), fn.sum())
    return _f1(tp.sum(0), fp.sum(0), fn.sum(0)).mean()


def tune_global_threshold(
    probs: Any,
    target: Any,
    *,
    metric: str = "example",
    candidates: Any = None,
    ignore_index: int | None = -100,
) -> float:
    """The one threshold that maximises an F1 of ``probs > threshold`` on tuning data.

    Args:
        probs: Held-out probabilities ``(N, C)``.
        target: Multi-hot ``(N, C)`` targets (``ignore_index``: missing, not counted).
        metric: ``"example"`` (per-sample F1 averaged, scikit-learn's ``average="samples"``),
            ``"micro"`` or ``"macro"``.
        candidates: 1-D grid of thresholds in [0, 1]; default 0.01, ..., 0.99.
        ignore_index: Target value of a missing label, or None.

    Returns:
        The best candidate (the smallest one among ties), as a float.

    Raises:
        ValueError: For a bad ``metric``, mismatched shapes or candidates outside [0, 1].

    Example:
        >>> import torch
        >>> from imbalml.plain_thresholds import tune_global_threshold
        >>> probs = torch.tensor([[0.9, 0.3], [0.25, 0.375], [0.6, 0.125]])
        >>> target = torch.tensor([[1, 1], [0, 1], [1, 0]])
        >>> tune_global_threshold(probs, target, metric="micro")
        0.25
    """
    check_choice(metric, "metric", F1_KINDS)
    probs, positive, labelled, grid = _inputs(probs, target, candidates, ignore_index)
    scores = torch.stack([_score(probs > t, positive, labelled, metric) for t in grid])
    return float(grid[int(torch.argmax(scores))])


def tune_label_thresholds(
    probs: Any,
    target: Any,
    *,
    metric: str = "example",
    shrinkage: float = 10.0,
    candidates: Any = None,
    ignore_index: int | None = -100,
) -> torch.Tensor:
    r"""One threshold per label: each label's F1-optimal one, shrunk toward the global threshold.

    :math:`t_c = (m_c \hat t_c + s\, t_g) / (m_c + s)`, where :math:`\hat t_c` maximises label
    ``c``'s own F1 over ``candidates`` (the smallest among ties; a label without positives in
    the tuning data keeps :math:`t_g`), :math:`m_c` is the number of its positives in the tuning
    data, :math:`s` = ``shrinkage`` and :math:`t_g` = :func:`tune_global_threshold` for
    ``metric``.

    Args:
        probs: Held-out probabilities ``(N, C)``.
        target: Multi-hot ``(N, C)`` targets (``ignore_index``: missing, not counted).
        metric: The F1 the global threshold is tuned for: ``"example"``, ``"micro"`` or
            ``"macro"``.
        shrinkage: Pseudo-count :math:`s \ge 0` of the global threshold.
        candidates: 1-D grid of thresholds in [0, 1]; default 0.01, ..., 0.99.
        ignore_index: Target value of a missing label, or None.

    Returns:
        Float64 thresholds ``(C,)``.

    Raises:
        ValueError: For a bad ``metric`` or ``shrinkage``, mismatched shapes or candidates
            outside [0, 1].

    Example:
        >>> import torch
        >>> from imbalml.plain_thresholds import tune_label_thresholds
        >>> probs = torch.tensor([[0.9, 0.3], [0.25, 0.375], [0.6, 0.125]])
        >>> target = torch.tensor([[1, 1], [0, 1], [1, 0]])
        >>> tune_label_thresholds(probs, target, metric="micro", shrinkage=0.0)
        tensor([0.2500, 0.1300], dtype=torch.float64)
    """
    check_choice(metric, "metric", F1_KINDS)
    s = check_number(shrinkage, "shrinkage", low=0.0)
    t_global = tune_global_threshold(
        probs, target, metric=metric, candidates=candidates, ignore_index=ignore_index
    )
    probs, positive, labelled, grid = _inputs(probs, target, candidates, ignore_index)
    per_label = torch.stack(
        [_f1_per_label(probs > t, positive, labelled) for t in grid]
    )  # (K, C)
    best = grid[torch.argmax(per_label, dim=0)]
    m = positive.sum(0).double()
    own = torch.where(m > 0, best, torch.full_like(best, t_global))
    if s == 0.0:
        return own
    return (m * own + s * t_global) / (m + s)


def _f1_per_label(
    decided: torch.Tensor, positive: torch.Tensor, labelled: torch.Tensor
) -> torch.Tensor:
    """Each label's F1 ``(C,)`` of 0/1 decisions."""
    decided = decided & labelled
    tp = (decided & positive).double().sum(0)
    fp = (decided & ~positive).double().sum(0)
    fn = (~decided & positive).double().sum(0)
    return _f1(tp, fp, fn)
