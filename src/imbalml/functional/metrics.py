"""Classification metrics for grouped attributes and for plain multi-label data.

Two layouts, chosen by ``groups`` (the third argument everywhere):

* **grouped** (an :class:`~imbalml.AttributeGroups`): ``preds`` are ``(N, G)`` predicted indices
  or ``(N, C)`` scores (argmax per group), ``target`` hard ``(N, G)`` indices (or one-hot
  ``(N, C)`` floats, as :class:`imbalml.MixupCollator` with ``mode="none"`` returns them). Every
  metric derives from one flat vector of per-group confusion counts (one ``K_g x K_g`` block per
  group, rows = true attribute, columns = predicted attribute, as in scikit-learn).
* **plain multi-label** (``groups=None``): ``preds`` are ``(N, C)`` probabilities (a label is
  predicted positive where ``preds > threshold``, as in torchmetrics; ``threshold`` is one number
  or one per label) or 0/1 predictions, ``target`` multi-hot ``(N, C)``. Every metric derives from
  the per-label 2 x 2 confusion matrices of :func:`multilabel_confusion_matrix` (scikit-learn's
  layout ``[[tn, fp], [fn, tp]]``).

Accumulating the counts batch by batch and computing once gives exactly the one-shot result.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from imbalml._layout_checks import (
    check_float_hard_labels,
    check_groups,
    check_hard_target,
    check_optional_groups,
    check_scores,
)
from imbalml._validation import (
    as_tensor,
    check_choice,
    check_finite,
    check_multi_hot,
    check_number,
    check_shape,
    first_true,
    position,
)
from imbalml.groups import AttributeGroups

__all__ = [
    "confusion_counts",
    "confusion_matrices",
    "group_accuracy",
    "label_average_precision",
    "label_f1_score",
    "label_precision",
    "label_recall",
    "mean_class_accuracy",
    "multilabel_confusion_matrix",
    "per_class_accuracy",
]

AVERAGES = ("macro", "none")


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


@functools.lru_cache(maxsize=64)
def _confusion_layout(
    sizes: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Group sizes and block starts as tensors on ``device`` (built once: no per-call copy)."""
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
    """Recall of each attribute inside its group, ``(C,)``, NaN where the attribute has no sample."""
    dtype = _result_dtype(counts.device)
    mats = split_confusion(counts, groups)
    correct = torch.cat([m.diagonal() for m in mats]).to(dtype)
    support = torch.cat([m.sum(1) for m in mats]).to(dtype)
    return correct / support  # 0 / 0 -> nan


def group_accuracy_from_counts(counts: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Plain accuracy in each group, ``(G,)``, NaN for a group without labelled sample."""
    dtype = _result_dtype(counts.device)
    mats = split_confusion(counts, groups)
    correct = torch.stack([m.diagonal().sum() for m in mats]).to(dtype)
    total = torch.stack([m.sum() for m in mats]).to(dtype)
    return correct / total


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


def _binary_preds(
    preds: Any, shape: tuple[int, ...], threshold: Any, validate: bool
) -> torch.Tensor:
    """``(N, C)`` 0/1 long predictions from probabilities (``> threshold``) or 0/1 values."""
    preds = as_tensor(preds, "preds")
    if validate:
        if tuple(preds.shape) != tuple(shape):
            raise ValueError(
                f"Expected `preds` of shape (N, C) = {tuple(shape)} like `target` (plain "
                f"multi-label, groups=None), but got {tuple(preds.shape)}."
            )
    if preds.is_floating_point():
        if validate and preds.numel():
            bad = ~((preds >= 0) & (preds <= 1))  # NaN too
            if bool(bad.any()):
                where = first_true(bad)
                raise ValueError(
                    f"Expected `preds` to be probabilities in [0, 1] (apply torch.sigmoid to "
                    f"logits), but got {preds[where].item():g} at {position(where)}."
                )
        thr = _check_threshold(threshold, shape[1]) if validate else threshold
        if isinstance(thr, torch.Tensor):
            thr = thr.to(device=preds.device, dtype=preds.dtype)
        return (preds > thr).long()
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
        preds: Probabilities ``(N, C)`` in ``[0, 1]`` (label ``c`` is predicted positive where
            ``preds[:, c] > threshold[c]``), or 0/1 predictions (integer or bool).
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


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` as float64 (float32 on MPS), NaN where ``denominator`` is 0."""
    dtype = _result_dtype(numerator.device)
    return numerator.to(dtype) / denominator.to(dtype)


def _zero_if_nan(value: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(value, nan=0.0)


def balanced_accuracy_from_confusion(confmat: torch.Tensor) -> torch.Tensor:
    """Per-label ``(TPR + TNR) / 2`` from ``(C, 2, 2)`` counts, ``(C,)``.

    Where a label has only negatives (or only positives), the defined rate alone, as
    scikit-learn's ``balanced_accuracy_score``; NaN for a label without labelled sample.
    """
    tn, fp, fn, tp = confmat.reshape(-1, 4).unbind(-1)
    rates = torch.stack([_ratio(tp, tp + fn), _ratio(tn, tn + fp)], -1)
    return rates.nanmean(-1)


def _one_vs_rest(counts: torch.Tensor, groups: AttributeGroups | None) -> tuple[torch.Tensor, ...]:
    """``(tp, fp, fn)`` per label ``(C,)`` from plain ``(C, 2, 2)`` or flat grouped counts."""
    if groups is None:
        _, fp, fn, tp = counts.reshape(-1, 4).unbind(-1)
        return tp, fp, fn
    mats = split_confusion(counts, groups)
    tp = torch.cat([m.diagonal() for m in mats])
    fp = torch.cat([m.sum(0) - m.diagonal() for m in mats])
    fn = torch.cat([m.sum(1) - m.diagonal() for m in mats])
    return tp, fp, fn


def label_scores_from_counts(
    counts: torch.Tensor, groups: AttributeGroups | None, metric: str
) -> torch.Tensor:
    """Per-label ``"recall"``, ``"precision"`` or ``"f1"`` ``(C,)``; 0 where undefined."""
    tp, fp, fn = _one_vs_rest(counts, groups)
    if metric == "recall":
        return _zero_if_nan(_ratio(tp, tp + fn))
    if metric == "precision":
        return _zero_if_nan(_ratio(tp, tp + fp))
    return _zero_if_nan(_ratio(2 * tp, 2 * tp + fp + fn))


def per_class_from_any(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:
    """Grouped: recall of each attribute in its group; plain: balanced accuracy of each label."""
    if groups is None:
        return balanced_accuracy_from_confusion(counts)
    return per_class_from_counts(counts, groups)


def _counts(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None,
    threshold: Any,
    ignore_index: int,
    validate_args: bool,
) -> torch.Tensor:
    groups = check_optional_groups(groups)
    if groups is None:
        return multilabel_confusion_matrix(
            preds, target, threshold=threshold, ignore_index=ignore_index,
            validate_args=validate_args,
        )  # fmt: skip
    if threshold is not None:
        raise ValueError(
            "Expected `threshold=None` with `groups` (grouped predictions are the argmax of each "
            f"group), but got {threshold!r}; thresholds apply to plain multi-label (groups=None)."
        )
    return confusion_counts(
        preds, target, groups, ignore_index=ignore_index, validate_args=validate_args
    )


def _plain_threshold(groups: AttributeGroups | None, threshold: Any) -> Any:
    """The default decision threshold: 0.5 for plain multi-label, none for groups."""
    return 0.5 if groups is None and threshold is None else threshold


_R = TypeVar("_R")


def _metric_of_counts(
    *, average: tuple[str, tuple[str, ...]] | None = None
) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Make a public metric of ``(preds, target, groups)`` from ``finish(counts, groups)``.

    Every metric of this module counts first (grouped confusion counts or plain 2 x 2 matrices,
    :func:`_counts`) and then reads its value off the counts; the public signature, the threshold
    default and the counting are written here once. ``finish`` gives the name, the docstring and
    the result; with ``average=(default, choices)`` it also takes the checked ``average``.
    """

    def make(finish: Callable[..., _R]) -> Callable[..., _R]:
        def metric(
            preds: Any,
            target: Any,
            groups: AttributeGroups | None = None,
            *,
            average: str | None = None,
            threshold: float | torch.Tensor | None = None,
            ignore_index: int = -100,
            validate_args: bool = True,
        ) -> _R:
            extra: tuple[str, ...] = ()
            if average_options is not None:
                extra = (
                    check_choice(
                        average_options[0] if average is None else average,
                        "average",
                        average_options[1],
                    ),
                )
            threshold = _plain_threshold(groups, threshold)
            counts = _counts(preds, target, groups, threshold, ignore_index, validate_args)
            return finish(counts, groups, *extra)

        params = list(inspect.signature(metric).parameters.values())
        if average_options is None:
            params = [p for p in params if p.name != "average"]
        else:
            params = [
                p.replace(default=average_options[0], annotation="str")
                if p.name == "average"
                else p
                for p in params
            ]
        metric.__signature__ = inspect.signature(metric).replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=finish.__annotations__.get("return")
        )
        metric.__annotations__ = {
            **{p.name: p.annotation for p in params},
            "return": finish.__annotations__.get("return"),
        }
        metric.__name__ = metric.__qualname__ = finish.__name__
        metric.__doc__ = finish.__doc__
        return metric

    average_options = average
    return make


# ---------------------------------------------------------------------------------------------
# public metrics


@_metric_of_counts()
def confusion_matrices(  # noqa: D417 (documents the public signature)
    counts: torch.Tensor, groups: AttributeGroups | None
) -> tuple[torch.Tensor, ...]:
    """One confusion matrix per group (rows: true attribute, columns: predicted attribute).

    Args:
        preds: Grouped: ``(N, G)`` predicted indices or ``(N, C)`` scores (argmax per group).
            Plain: ``(N, C)`` probabilities or 0/1 predictions.
        target: Grouped: ``(N, G)`` true indices (or one-hot ``(N, C)``). Plain: multi-hot
            ``(N, C)``.
        groups: The label layout, or ``None`` for plain multi-label (one 2 x 2 matrix per label).
        threshold: Plain only: decision threshold (default 0.5), one number or one per label.
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        ``G`` long tensors, the ``g``-th of shape ``(K_g, K_g)``; equal to
        ``sklearn.metrics.confusion_matrix(target[:, g], preds[:, g], labels=range(K_g))``.
        Plain: ``C`` matrices ``(2, 2)``, as :func:`multilabel_confusion_matrix`.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import confusion_matrices
        >>> groups = AttributeGroups([2, 3])
        >>> cm = confusion_matrices(torch.tensor([[0, 2], [1, 2]]), torch.tensor([[0, 2], [0, 1]]), groups)
        >>> cm[0]
        tensor([[1, 1],
                [0, 0]])
    """
    if groups is None:
        return tuple(counts.unbind(0))
    return split_confusion(counts, groups)


@_metric_of_counts()
def per_class_accuracy(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:  # noqa: D417 (documents the public signature)
    r"""Grouped: recall of every attribute inside its group. Plain: each label's balanced accuracy.

    Grouped:

    .. math::
        \mathrm{acc}_c = \frac{|\{n : y_{n,g(c)} = c \wedge \hat y_{n,g(c)} = c\}|}
                              {|\{n : y_{n,g(c)} = c\}|}

    Plain multi-label (``groups=None``): :math:`(\mathrm{TPR}_c + \mathrm{TNR}_c) / 2`, equal to
    ``sklearn.metrics.balanced_accuracy_score(target[:, c], preds[:, c] > threshold[c])`` (a label
    with only negatives, or only positives, gets the one defined rate, as there).

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (grouped); ``(N, C)``
            probabilities or 0/1 predictions (plain).
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label (grouped);
            multi-hot ``(N, C)`` (plain).
        groups: The label layout, or ``None`` for plain multi-label.
        threshold: Plain only: decision threshold (default 0.5), one number or one per label.
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        ``(C,)`` float64 tensor (float32 on MPS); NaN for an attribute absent from ``target``.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import per_class_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> per_class_accuracy(torch.tensor([[0, 1], [0, 1]]), torch.tensor([[0, 1], [1, 1]]), groups)
        tensor([1., 0., nan, 1.], dtype=torch.float64)
    """
    return per_class_from_any(counts, groups)


@_metric_of_counts()
def mean_class_accuracy(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:
    r"""Mean of :func:`per_class_accuracy`: the course metric (grouped) or mA (plain).

    Grouped: average per-class accuracy, the mean recall over the attributes present in
    ``target``. A predictor that always outputs the majority attribute scores ``G / C`` (one
    recall of 1 per group) on data where every attribute occurs.

    .. math::
        \mathrm{score} = \frac{1}{|\mathcal C^+|}\sum_{c \in \mathcal C^+} \mathrm{acc}_c

    where :math:`\mathcal C^+` are the attributes with at least one sample in ``target``.

    Plain multi-label (``groups=None``): the pedestrian-attribute mean accuracy
    :math:`\mathrm{mA} = \frac1C \sum_c (\mathrm{TPR}_c + \mathrm{TNR}_c) / 2`, the mean over labels
    of scikit-learn's ``balanced_accuracy_score``; a constant predictor scores 0.5.

    Returns:
        A float64 scalar (float32 on MPS).

    Raises:
        ValueError: If ``target`` holds no labelled sample.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import mean_class_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> target = torch.tensor([[0, 0], [1, 1], [1, 1]])
        >>> mean_class_accuracy(torch.tensor([[1, 1]]).expand(3, 2), target, groups)  # majority
        tensor(0.5000, dtype=torch.float64)
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> mean_class_accuracy(probs, torch.tensor([[1, 0], [0, 1], [0, 1]]))  # plain: mA
        tensor(0.7500, dtype=torch.float64)
    """
    if int(counts.sum()) == 0:
        raise ValueError("Expected `target` to hold at least one labelled sample, but got none.")
    return per_class_from_any(counts, groups).nanmean()


@_metric_of_counts(average=("none", ("none", "mean")))
def group_accuracy(  # noqa: D417 (documents the public signature)
    counts: torch.Tensor, groups: AttributeGroups | None, average: str
) -> torch.Tensor:
    """Plain accuracy inside each group (plain multi-label: of each label), or its mean.

    Args:
        preds: ``(N, G)`` predicted indices or ``(N, C)`` scores (argmax per group); plain:
            ``(N, C)`` probabilities or 0/1 predictions.
        target: ``(N, G)`` true indices, ``ignore_index`` for a missing label; plain: multi-hot.
        groups: The label layout, or ``None`` for plain multi-label (each label a group).
        average: ``"none"`` for the ``(G,)`` (plain: ``(C,)``) vector, ``"mean"`` for its mean.
        threshold: Plain only: decision threshold (default 0.5).
        ignore_index: Label value that is not counted.
        validate_args: Check shapes and values.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import group_accuracy
        >>> groups = AttributeGroups([2, 2])
        >>> group_accuracy(torch.tensor([[0, 1], [0, 0]]), torch.tensor([[0, 1], [1, 0]]), groups)
        tensor([0.5000, 1.0000], dtype=torch.float64)
    """
    acc = accuracy_from_any(counts, groups)
    return acc if average == "none" else acc.nanmean()


def accuracy_from_any(counts: torch.Tensor, groups: AttributeGroups | None) -> torch.Tensor:
    """Accuracy of each group ``(G,)``, or of each label ``(C,)`` for plain counts."""
    if groups is None:
        tn, fp, fn, tp = counts.reshape(-1, 4).unbind(-1)
        return _ratio(tn + tp, tn + fp + fn + tp)
    return group_accuracy_from_counts(counts, groups)


_LABEL_METRIC_DOC = r"""Per-label {title} and its macro mean (plain multi-label, or per attribute).

    :math:`{formula}` for each label :math:`c` (grouped: each attribute against the other
    attributes of its group, one-vs-rest), 0 where the denominator is 0 (scikit-learn's
    ``zero_division=0``); ``average="macro"`` is the unweighted mean over all ``C`` labels. Equal
    to ``sklearn.metrics.{sklearn}(target, preds > threshold, average=..., zero_division=0)``
    and, for one number ``threshold``, to torchmetrics' ``{torchmetrics}`` wherever every label
    has a positive or a predicted positive.

    Args:
        preds: Plain: probabilities ``(N, C)`` in ``[0, 1]`` or 0/1 predictions. Grouped:
            ``(N, G)`` predicted indices or ``(N, C)`` scores.
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        threshold: Plain only: decision threshold (default 0.5): one number or one per label
            ``(C,)`` (see :func:`imbalml.tune_thresholds`).
        average: ``"macro"`` (mean over labels) or ``"none"`` (the ``(C,)`` vector).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float64 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import {name}
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> {name}(probs, target, average="none")
        {example}
    """


def _label_metric(
    metric: str,
) -> Callable[[torch.Tensor, AttributeGroups | None, str], torch.Tensor]:
    """The per-label ``metric`` (``"recall"``, ``"precision"``, ``"f1"``) of the counts, or its mean."""

    def score(counts: torch.Tensor, groups: AttributeGroups | None, average: str) -> torch.Tensor:
        scores = label_scores_from_counts(counts, groups, metric)
        return scores if average == "none" else scores.mean()

    return score


def _label_metric_function(
    name: str, metric: str, title: str, formula: str, torchmetrics: str, example: str
) -> Callable[..., torch.Tensor]:
    """One of :func:`label_recall`, :func:`label_precision`, :func:`label_f1_score`.

    The three differ only in the score taken from the counts: one docstring serves them all.
    """
    score = _label_metric(metric)
    score.__name__ = name
    score.__doc__ = _LABEL_METRIC_DOC.format(
        name=name,
        title=title,
        formula=formula,
        sklearn=name.replace("label_", "") if metric == "f1" else f"{metric}_score",
        torchmetrics=torchmetrics,
        example=example,
    )
    return _metric_of_counts(average=("macro", AVERAGES))(score)


label_recall = _label_metric_function(
    "label_recall",
    "recall",
    "recall",
    r"\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FN}_c)",
    "multilabel_recall",
    "tensor([1.0000, 0.5000], dtype=torch.float64)",
)
label_precision = _label_metric_function(
    "label_precision",
    "precision",
    "precision",
    r"\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FP}_c)",
    "multilabel_precision",
    "tensor([0.5000, 1.0000], dtype=torch.float64)",
)
label_f1_score = _label_metric_function(
    "label_f1_score",
    "f1",
    "F1 score",
    r"2\mathrm{TP}_c / (2\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c)",
    "multilabel_f1_score",
    "tensor([0.6667, 0.6667], dtype=torch.float64)",
)


def ranking_inputs(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None,
    ignore_index: int,
    validate_args: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``(N, C)`` and long multi-hot targets (``ignore_index`` kept) for ranking metrics.

    Grouped: per-group softmax probabilities and one-hot targets, a missing group label marking
    its whole segment ``ignore_index``.
    """
    groups = check_optional_groups(groups)
    preds = as_tensor(preds, "preds")
    if not preds.is_floating_point():
        raise TypeError(
            f"Expected `preds` to hold floating scores (probabilities or logits) for a ranking "
            f"metric, but got dtype {preds.dtype}."
        )
    if groups is None:
        target = check_multi_hot(target, ignore_index=ignore_index, validate_args=validate_args)
        if validate_args:
            if tuple(preds.shape) != tuple(target.shape):
                raise ValueError(
                    f"Expected `preds` of shape (N, C) = {tuple(target.shape)} like `target`, "
                    f"but got {tuple(preds.shape)}."
                )
            check_finite(preds, "preds")
        return preds, target.long()
    from imbalml.functional.grouped import grouped_softmax

    hard = _grouped_target(target, groups, ignore_index, validate_args)
    check_scores(preds, groups, "preds")
    check_shape(preds, "preds", (hard.shape[0], groups.num_attributes), "(N, C)")
    one_hot = groups.to_one_hot(
        hard, ignore_index=ignore_index, dtype=torch.long, validate_args=False
    )
    missing = (hard == ignore_index)[:, groups.group_index(hard.device)]
    probs = grouped_softmax(preds, groups, validate_args=False)
    return probs, torch.where(missing, ignore_index, one_hot)


def label_average_precision(
    preds: Any,
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    average: str = "macro",
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Per-label average precision (area under the precision-recall curve) and its macro mean (mAP).

    Computed by torchmetrics' ``multilabel_average_precision`` (exact, ``thresholds=None``);
    equal to ``sklearn.metrics.average_precision_score(target, preds, average=...)``. A label
    without positives gets AP 0 (and counts in the macro mean), as in both. Grouped: each
    attribute one-vs-rest on its group's softmax probabilities.

    Args:
        preds: Scores ``(N, C)``: probabilities or logits (AP depends on the ranking only).
        target: Plain: multi-hot ``(N, C)``. Grouped: hard ``(N, G)`` indices.
        groups: ``None`` for plain multi-label, or the label layout.
        average: ``"macro"`` (mAP) or ``"none"`` (the ``(C,)`` vector).
        ignore_index: Target value that is not counted.
        validate_args: Check shapes and values.

    Returns:
        A float32 scalar, or ``(C,)`` with ``average="none"``.

    Example:
        >>> import torch
        >>> from imbalml.functional import label_average_precision
        >>> probs = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]])
        >>> target = torch.tensor([[1, 0], [0, 1], [0, 1]])
        >>> label_average_precision(probs, target, average="none")
        tensor([1., 1.])
    """
    from torchmetrics.functional.classification import multilabel_average_precision

    check_choice(average, "average", AVERAGES)
    scores, labels = ranking_inputs(preds, target, groups, ignore_index, validate_args)
    return multilabel_average_precision(
        scores.float(),
        labels,
        num_labels=scores.shape[1],
        average=None if average == "none" else "macro",
        ignore_index=ignore_index,
        validate_args=False,
    )
