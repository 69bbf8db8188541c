"""Private argument checks shared by every public entry point.

Every message follows one format: what was expected (naming the argument) and
what was received, so the caller can fix the call without reading the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def host_checks_apply(tensor: torch.Tensor) -> bool:
    """Whether a value check of ``tensor`` may read it back to the host: eager mode on the CPU.

    There a check costs no device synchronisation, so it runs in full and its message names the
    first bad position. On an accelerator, or while ``torch.compile`` traces, it may not.
    """
    return tensor.device.type == "cpu" and not torch.compiler.is_compiling()


def check_values(bad: torch.Tensor, message: Callable[[tuple[int, ...] | None], str]) -> None:
    """Raise if the bool tensor ``bad`` holds a ``True`` entry, without a host read off the CPU.

    Eager on the CPU: ``ValueError(message(position of the first bad entry))``. On an
    accelerator or under ``torch.compile``: ``torch._assert_async`` with ``message(None)``, a
    check that runs on the device without a synchronisation (on CUDA a failure is a device-side
    assert, as for an out-of-range label in ``torch.nn.functional.cross_entropy``; on the CPU a
    ``RuntimeError``).
    """
    if host_checks_apply(bad):
        if bool(bad.any()):
            raise ValueError(message(first_true(bad)))
    else:
        torch._assert_async(torch.logical_not(bad.any()), message(None))


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if ``tensor`` holds NaN or infinite values, naming the first bad position."""
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = first_true(~finite)
        raise ValueError(
            f"Expected `{name}` to be finite, but got {tensor[bad].item()} at {position(bad)} "
            f"({int((~finite).sum())} non-finite values in all)."
        )


def check_not_nan(tensor: torch.Tensor, name: str) -> None:
    """Raise if a 2-D ``tensor`` holds NaN (infinities are allowed), naming the first position."""
    if tensor.numel() and not bool(torch.isnan(tensor.sum())):
        return  # a NaN always makes the sum NaN; a NaN sum (also inf - inf) gets the full scan
    nan = torch.isnan(tensor)
    if bool(nan.any()):
        raise ValueError(
            f"Expected `{name}` without NaN, but got nan at {position(first_true(nan))}."
        )


def check_shape(tensor: torch.Tensor, name: str, expected: tuple[int, ...], meaning: str) -> None:
    """Check an exact shape; ``meaning`` spells the axes, e.g. ``"(N, C)"``."""
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(
            f"Expected `{name}` of shape {meaning} = {tuple(expected)}, "
            f"but got {tuple(tensor.shape)}."
        )


def check_rows(
    tensor: torch.Tensor,
    name: str,
    width: int,
    *,
    num_samples: int | None = None,
    axes: str = "(N, C)",
    meaning: str = "",
) -> None:
    """Check a 2-D ``(N, width)`` tensor (``N == num_samples`` when given).

    The message spells the axes and their sizes, e.g. ``"(N, G) = (8, 6) for 6 attribute
    groups"``; ``meaning`` is appended after the sizes.
    """
    if (
        tensor.ndim != 2
        or tensor.shape[1] != width
        or (num_samples is not None and tensor.shape[0] != num_samples)
    ):
        n = num_samples if num_samples is not None else (tensor.shape[0] if tensor.ndim else "N")
        raise ValueError(
            f"Expected `{name}` of shape {axes} = ({n}, {width}){meaning}, "
            f"but got {tuple(tensor.shape)}."
        )


def check_same_device(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Check that two tensors live on the same device."""
    if a.device != b.device:
        raise ValueError(
            f"Expected `{name_a}` and `{name_b}` on the same device, "
            f"but got {a.device} and {b.device}."
        )


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
            where = first_true(bad)
            allowed = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            raise ValueError(
                f"Expected `{name}` values in {{0, 1}}{allowed} (multi-hot labels), but got "
                f"{t[where].item():g} at {position(where)}."
            )
    return target
