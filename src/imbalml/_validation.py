"""Private argument checks shared by every public entry point.

Every message follows one format: what was expected (naming the argument) and
what was received, so the caller can fix the call without reading the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

REDUCTIONS = ("mean", "sum", "none")


def as_tensor(value: Any, name: str) -> torch.Tensor:
    """Return ``value`` as a tensor; accept tensors, numpy arrays and (nested) lists or tuples.

    Every public entry point takes its array arguments through this function, so a Python list is
    accepted wherever a numpy array is. Anything else raises ``TypeError``.
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError as error:  # ragged nesting
            raise ValueError(
                f"Expected `{name}` to be a rectangular (nested) list of numbers, but got a "
                f"ragged one: {error}"
            ) from None
    if isinstance(value, np.ndarray):
        if value.dtype == object or value.dtype.kind in "USV":
            raise TypeError(
                f"Expected `{name}` to be a numeric array, but got dtype={value.dtype}."
            )
        return torch.from_numpy(np.ascontiguousarray(value))
    raise TypeError(
        f"Expected `{name}` to be a torch.Tensor, numpy.ndarray or list, "
        f"but got {type(value).__name__}."
    )


def check_reduction(reduction: str) -> str:
    """Check a torch-style reduction name."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"Expected `reduction` to be one of {REDUCTIONS}, but got {reduction!r}.")
    return reduction


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"Expected `{name}` to be one of {tuple(choices)}, but got {value!r}.")
    return value


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check a real-valued hyperparameter and its range; return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"Expected `{name}` to be a real number, but got {type(value).__name__}.")
    value = float(value)
    if value != value:  # NaN
        raise ValueError(f"Expected `{name}` to be a finite number, but got nan.")
    ok_low = low is None or (value >= low if low_inclusive else value > low)
    ok_high = high is None or (value <= high if high_inclusive else value < high)
    if not (ok_low and ok_high):
        lb = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
        hb = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
        raise ValueError(f"Expected `{name}` in {lb}, {hb}, but got {value:g}.")
    return value


def check_int(value: Any, name: str, *, low: int | None = None) -> int:
    """Check an integer hyperparameter (``bool`` is rejected) and its lower bound."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Expected `{name}` to be an int, but got {type(value).__name__}.")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"Expected `{name}` >= {low}, but got {value}.")
    return value


def check_floating(tensor: torch.Tensor, name: str) -> None:
    """Check that ``tensor`` has a floating dtype."""
    if not tensor.is_floating_point():
        raise TypeError(f"Expected `{name}` to have a floating dtype, but got {tensor.dtype}.")


def first_true(mask: torch.Tensor) -> tuple[int, ...]:
    """Index of the first ``True`` entry of ``mask`` in row-major order, as Python ints.

    The one way every check finds the entry it names; call it only when ``mask.any()``.
    """
    return tuple(int(v) for v in mask.nonzero()[0].tolist())


def position(index: tuple[int, ...]) -> str:
    """How an error message names an entry: ``"row 3, column 5"``, ``"index 7"``, ``"index (1, 2, 0)"``."""
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    if len(index) == 1:
        return f"index {index[0]}"
    return f"index {index}"


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if ``tensor`` holds NaN or infinite values, naming the first bad position."""
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = (~finite).nonzero()[0].tolist()
        value = tensor[tuple(bad)].item()
        raise ValueError(
            f"Expected `{name}` to be finite, but got {value} at index {tuple(bad)} "
            f"({int((~finite).sum())} non-finite values in all)."
        )


def check_not_nan(tensor: torch.Tensor, name: str) -> None:
    """Raise if a 2-D ``tensor`` holds NaN (infinities are allowed), naming the first position."""
    if tensor.numel() and not bool(torch.isnan(tensor.sum())):
        return  # a NaN always makes the sum NaN; a NaN sum (also inf - inf) gets the full scan
    nan = torch.isnan(tensor)
    if bool(nan.any()):
        row, col = (int(v) for v in nan.nonzero()[0].tolist())
        raise ValueError(f"Expected `{name}` without NaN, but got nan at row {row}, column {col}.")


def check_shape(tensor: torch.Tensor, name: str, expected: tuple[int, ...], meaning: str) -> None:
    """Check an exact shape; ``meaning`` spells the axes, e.g. ``"(N, C)"``."""
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(
            f"Expected `{name}` of shape {meaning} = {tuple(expected)}, "
            f"but got {tuple(tensor.shape)}."
        )


def check_same_device(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Check that two tensors live on the same device."""
    if a.device != b.device:
        raise ValueError(
            f"Expected `{name_a}` and `{name_b}` on the same device, "
            f"but got {a.device} and {b.device}."
        )


# ----------------------------------------------------------------------------------------------
# Checks that involve the label layout. ``groups`` is an ``AttributeGroups``; it is not imported
# here to keep this module free of cycles.


def check_groups(groups: Any, name: str = "groups") -> Any:
    """Check that ``groups`` is an :class:`~imbalml.AttributeGroups`."""
    from imbalml.groups import AttributeGroups

    if groups is None:
        raise TypeError(
            f"Expected `{name}` to be an imbalml.AttributeGroups (this function needs the label "
            f"layout; `groups=None`, plain multi-label, does not apply here), but got None."
        )
    if not isinstance(groups, AttributeGroups):
        raise TypeError(
            f"Expected `{name}` to be an imbalml.AttributeGroups, but got {type(groups).__name__}."
        )
    return groups


def check_optional_groups(groups: Any, name: str = "groups") -> Any:
    """``None`` (plain multi-label) or an :class:`~imbalml.AttributeGroups`."""
    return None if groups is None else check_groups(groups, name)


def check_multi_hot(
    target: Any,
    name: str = "target",
    *,
    num_labels: int | None = None,
    num_samples: int | None = None,
    ignore_index: int | None = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Check plain multi-label targets ``(N, C)``: 0 or 1 per label, or ``ignore_index``.

    Integer, bool and floating dtypes are accepted (a float multi-hot target is what a BCE-style
    loss takes); soft values strictly between 0 and 1 are not labels and raise. Returns the
    tensor unchanged.
    """
    target = as_tensor(target, name)
    if target.is_complex():
        raise TypeError(f"Expected `{name}` with real values, but got dtype {target.dtype}.")
    n = num_samples if num_samples is not None else (target.shape[0] if target.ndim else "N")
    c = num_labels if num_labels is not None else (target.shape[1] if target.ndim == 2 else "C")
    if (
        target.ndim != 2
        or (num_labels is not None and target.shape[1] != num_labels)
        or (num_samples is not None and target.shape[0] != num_samples)
    ):
        raise ValueError(
            f"Expected `{name}` of shape (N, C) = ({n}, {c}) with one 0/1 entry per label "
            f"(plain multi-label, groups=None), but got {tuple(target.shape)}."
        )
    if validate_args and target.numel() and target.dtype != torch.bool:
        t = target.detach()
        bad = (t != 0) & (t != 1)
        if ignore_index is not None:
            bad &= t != ignore_index
        if bool(bad.any()):
            row, col = (int(v) for v in bad.nonzero()[0].tolist())
            allowed = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            raise ValueError(
                f"Expected `{name}` values in {{0, 1}}{allowed} (multi-hot labels), but got "
                f"{t[row, col].item():g} at row {row}, column {col}."
            )
    return target


def check_scores(
    scores: Any, groups: Any, name: str = "input", *, finite: bool = True
) -> torch.Tensor:
    """Check flat per-attribute scores (logits or probabilities) of shape ``(N, C)``."""
    scores = as_tensor(scores, name)
    check_floating(scores, name)
    if scores.ndim != 2 or scores.shape[1] != groups.num_attributes:
        n = scores.shape[0] if scores.ndim >= 1 else "N"
        raise ValueError(
            f"Expected `{name}` of shape (N, C) = ({n}, {groups.num_attributes}) for "
            f"{groups.num_attributes} attributes in {groups.num_groups} groups, "
            f"but got {tuple(scores.shape)}."
        )
    if finite:
        check_finite(scores, name)
    return scores


def check_hard_target(
    target: Any,
    groups: Any,
    name: str = "target",
    *,
    ignore_index: int | None = -100,
    num_samples: int | None = None,
) -> torch.Tensor:
    """Check integer labels of shape ``(N, G)``, one attribute index per group.

    ``ignore_index=None`` allows no missing label (for predicted indices).
    """
    target = as_tensor(target, name)
    if target.is_floating_point():
        check_float_hard_labels(target, groups, name)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(
            f"Expected `{name}` with integer attribute indices of shape (N, G), "
            f"but got dtype {target.dtype}."
        )
    g = groups.num_groups
    n = num_samples if num_samples is not None else (target.shape[0] if target.ndim else "N")
    if (
        target.ndim != 2
        or target.shape[1] != g
        or (num_samples is not None and target.shape[0] != num_samples)
    ):
        raise ValueError(
            f"Expected `{name}` of shape (N, G) = ({n}, {g}) for {g} attribute groups, "
            f"but got {tuple(target.shape)}."
        )
    if target.numel():
        sizes = torch.as_tensor(groups.sizes, device=target.device)
        bad = (target < 0) | (target >= sizes)
        if ignore_index is not None:
            bad &= target != ignore_index
        if bool(bad.any()):
            row, col = (int(v) for v in bad.nonzero()[0].tolist())
            allowed = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            raise ValueError(
                f"Expected `{name}[:, {col}]` (group {groups.names[col]!r}, "
                f"{groups.sizes[col]} attributes) in [0, {groups.sizes[col] - 1}]{allowed}, "
                f"but got {int(target[row, col])} at row {row}."
            )
    return target


def check_soft_target(
    target: Any,
    groups: Any,
    name: str = "target",
    *,
    num_samples: int | None = None,
    atol: float = 1e-3,
) -> torch.Tensor:
    """Check soft targets ``(N, C)``: values in [0, 1], each group segment summing to 1 (or 0).

    A segment that sums to 0 marks a missing label for that group.
    """
    target = as_tensor(target, name)
    c = groups.num_attributes
    if not target.is_floating_point():
        raise TypeError(
            f"Expected `{name}` with soft targets (floating, shape (N, C)), "
            f"but got dtype {target.dtype}."
        )
    check_float_hard_labels(target, groups, name)
    n = num_samples if num_samples is not None else (target.shape[0] if target.ndim else "N")
    if (
        target.ndim != 2
        or target.shape[1] != c
        or (num_samples is not None and target.shape[0] != num_samples)
    ):
        raise ValueError(
            f"Expected `{name}` of shape (N, C) = ({n}, {c}) for {c} attributes, "
            f"but got {tuple(target.shape)}."
        )
    check_finite(target, name)
    if target.numel():
        t = target.detach().float()
        if bool(((t < -atol) | (t > 1 + atol)).any()):
            row, col = (int(v) for v in ((t < -atol) | (t > 1 + atol)).nonzero()[0].tolist())
            raise ValueError(
                f"Expected `{name}` values in [0, 1], but got {t[row, col].item():g} "
                f"at row {row}, column {col}."
            )
        sums = torch.stack([s.sum(-1) for s in groups.split(t)], -1)
        bad = ((sums - 1).abs() > atol) & (sums.abs() > atol)
        if bool(bad.any()):
            row, col = (int(v) for v in bad.nonzero()[0].tolist())
            raise ValueError(
                f"Expected each group segment of `{name}` to sum to 1 (or 0 for a missing label), "
                f"but group {groups.names[col]!r} sums to {sums[row, col].item():g} at row {row}."
            )
    return target


def check_float_hard_labels(target: torch.Tensor, groups: Any, name: str) -> None:
    """Raise ``TypeError`` for a floating ``(N, G)`` tensor: hard labels stored as floats."""
    g, c = groups.num_groups, groups.num_attributes
    if target.is_floating_point() and target.ndim == 2 and target.shape[1] == g != c:
        raise TypeError(
            f"Expected `{name}` as hard (N, G) = ({target.shape[0]}, {g}) integer attribute "
            f"indices or soft (N, C) = ({target.shape[0]}, {c}) probabilities, but got "
            f"{target.dtype} of shape {tuple(target.shape)}: hard labels must have an integer "
            f"dtype (use `{name}.long()`)."
        )


def check_target(
    target: Any,
    groups: Any,
    name: str = "target",
    *,
    num_samples: int | None = None,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept hard ``(N, G)`` or soft ``(N, C)`` targets; return ``(soft, valid)``.

    ``soft`` is a float32 ``(N, C)`` tensor and ``valid`` a bool ``(N, G)`` mask of the groups that
    carry a label (hard: not ``ignore_index``; soft: segment sum > 0).
    """
    target = as_tensor(target, name)
    if target.is_floating_point():
        if validate_args:
            check_soft_target(target, groups, name, num_samples=num_samples)
        elif target.ndim != 2 or target.shape[1] != groups.num_attributes:
            check_shape(
                target, name, (num_samples or target.shape[0], groups.num_attributes), "(N, C)"
            )
        soft = target.float()
        sums = torch.stack([s.sum(-1) for s in groups.split(soft)], -1)
        return soft, sums > 0.5
    if validate_args:
        check_hard_target(target, groups, name, ignore_index=ignore_index, num_samples=num_samples)
    return groups.to_one_hot(
        target, ignore_index=ignore_index, validate_args=False
    ), target != ignore_index
