"""The label layout: attribute groups, each with one active attribute per sample."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from imbalml._validation import (
    as_tensor,
    check_finite,
    check_floating,
    check_not_nan,
    check_rows,
    first_true,
)

__all__ = ["AttributeGroups"]


def _names(
    value: Iterable[str] | None, count: int, default: Sequence[str], what: str
) -> tuple[str, ...]:
    if value is None:
        return tuple(default)
    if isinstance(value, str):
        raise TypeError(
            f"Expected `{what}` to be a sequence of str, but got a single str {value!r}."
        )
    names = tuple(value)
    if len(names) != count:
        raise ValueError(f"Expected {count} `{what}`, but got {len(names)}: {list(names)}.")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise TypeError(f"Expected `{what}[{i}]` to be a non-empty str, but got {name!r}.")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(
                f"Expected unique `{what}`, but {name!r} appears at positions {seen[name]} and {i}."
            )
        seen[name] = i
    return names


class AttributeGroups:
    """Describe ``G`` attribute groups of ``sizes[g]`` mutually exclusive attributes each.

    Each sample carries exactly one attribute per group (or none, for a missing label). Scores for
    all ``C = sum(sizes)`` attributes live in one flat tensor ``(N, C)``, group after group; this
    object knows where each group starts, splits such tensors into per-group views, and converts
    between the two target forms used throughout imbalml:

    * **hard** targets ``(N, G)``: integer index of the attribute in each group, ``ignore_index``
      (default ``-100``) for a missing label;
    * **soft** targets ``(N, C)``: per-attribute probabilities, each group segment summing to 1
      (0 for a missing label).

    Args:
        sizes: Number of attributes in each group; each at least 2.
        names: Group names (default ``"group0"``, ``"group1"``, ...), unique.
        attribute_names: One name per attribute, in flat order (default ``"<group>/<index>"``),
            unique.

    Raises:
        ValueError: If a size is below 2, no group is given, or a names list has the wrong length
            or duplicates.
        TypeError: If sizes are not integers or names not strings.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> groups = AttributeGroups([3, 2], names=["colour", "size"])
        >>> groups.num_attributes, groups.offsets
        (5, (0, 3))
        >>> groups.to_one_hot(torch.tensor([[2, 0]]))
        tensor([[0., 0., 1., 1., 0.]])
        >>> groups.argmax(torch.tensor([[0.1, 0.7, 0.2, 0.4, 0.6]]))
        tensor([[1, 1]])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        names: Sequence[str] | None = None,
        attribute_names: Sequence[str] | None = None,
    ) -> None:
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
            raise TypeError(
                f"Expected `sizes` to be a sequence of int, but got {type(sizes).__name__}."
            )
        sizes = tuple(sizes)
        if not sizes:
            raise ValueError(
                "Expected `sizes` to list at least one group, but got an empty sequence."
            )
        for g, size in enumerate(sizes):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise TypeError(f"Expected `sizes[{g}]` to be an int, but got {size!r}.")
            if int(size) < 2:
                raise ValueError(
                    f"Expected every group to have at least 2 attributes, but `sizes[{g}]` is {size}."
                )
        self._sizes: tuple[int, ...] = tuple(int(s) for s in sizes)
        self._names = _names(names, len(sizes), [f"group{g}" for g in range(len(sizes))], "names")
        default_attrs = [f"{n}/{j}" for n, k in zip(self._names, self._sizes) for j in range(k)]
        self._attribute_names = _names(
            attribute_names, sum(self._sizes), default_attrs, "attribute_names"
        )
        offsets, start = [], 0
        for k in self._sizes:
            offsets.append(start)
            start += k
        self._offsets = tuple(offsets)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_assignments(
        cls,
        attribute_names: Sequence[str],
        group_ids: Sequence[int],
        *,
        names: Sequence[str] | None = None,
    ) -> AttributeGroups:
        """Build groups from one group id per attribute (ids consecutive, attributes in group order).

        This is the form of attribute lists such as ``list_attr_cloth.txt``: one line per attribute
        naming its group. Group ids may start at any integer (0 or 1 are common) but must be
        consecutive and non-decreasing.

        Example:
            >>> AttributeGroups.from_assignments(["a", "b", "c", "d"], [1, 1, 2, 2]).sizes
            (2, 2)
        """
        ids = list(group_ids)
        if len(ids) != len(attribute_names):
            raise ValueError(
                f"Expected one group id per attribute ({len(attribute_names)}), but got {len(ids)}."
            )
        if not ids:
            raise ValueError("Expected at least one attribute, but got none.")
        sizes: list[int] = []
        for i, gid in enumerate(ids):
            if i == 0 or gid == ids[i - 1] + 1:
                sizes.append(1)
            elif gid == ids[i - 1]:
                sizes[-1] += 1
            else:
                raise ValueError(
                    f"Expected group ids to be consecutive and non-decreasing, but attribute {i} "
                    f"({attribute_names[i]!r}) has group {gid} after group {ids[i - 1]}."
                )
        return cls(sizes, names=names, attribute_names=attribute_names)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dictionary (lists and strings) that :meth:`from_dict` restores.

        Safe to store in checkpoints loaded with ``torch.load(weights_only=True)``.
        """
        return {
            "sizes": list(self._sizes),
            "names": list(self._names),
            "attribute_names": list(self._attribute_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributeGroups:
        """Rebuild groups from :meth:`to_dict` output.

        Raises:
            TypeError: If ``data`` is not a dict.
            ValueError: If it has no ``"sizes"`` key (and as :class:`AttributeGroups` does).
        """
        if not isinstance(data, dict):
            raise TypeError(f"Expected `data` to be a dict, but got {type(data).__name__}.")
        if "sizes" not in data:
            raise ValueError(f"Expected a dict with key 'sizes', but got {data!r}.")
        return cls(
            data["sizes"], names=data.get("names"), attribute_names=data.get("attribute_names")
        )

    # ------------------------------------------------------------------ properties
    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of attributes in each group."""
        return self._sizes

    @property
    def num_groups(self) -> int:
        """Number of groups ``G``."""
        return len(self._sizes)

    @property
    def num_attributes(self) -> int:
        """Total number of attributes ``C = sum(sizes)``."""
        return sum(self._sizes)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start column of each group in the flat ``(N, C)`` layout."""
        return self._offsets

    @property
    def slices(self) -> tuple[slice, ...]:
        """Column slice of each group in the flat layout."""
        return tuple(slice(o, o + k) for o, k in zip(self._offsets, self._sizes))

    @property
    def names(self) -> tuple[str, ...]:
        """Group names."""
        return self._names

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Attribute names in flat order."""
        return self._attribute_names

    @property
    def attribute_group(self) -> tuple[int, ...]:
        """Group index of each attribute, in flat order (length ``C``)."""
        return tuple(g for g, k in enumerate(self._sizes) for _ in range(k))

    def group_index(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Group index of each attribute as a ``(C,)`` long tensor, built at each call.

        A new tensor every time (a few bytes): nothing is shared between calls, so a first
        call under ``torch.inference_mode()`` cannot hand an inference tensor to training.
        """
        return torch.tensor(self.attribute_group, dtype=torch.long, device=device)

    # ------------------------------------------------------------------ tensor operations
    def split(self, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Split ``tensor`` along its last dimension into per-group views.

        Args:
            tensor: Any tensor whose last dimension is ``C``.

        Returns:
            ``G`` views, the ``g``-th with last dimension ``sizes[g]``.

        Raises:
            ValueError: If the last dimension is not ``C``.
        """
        if not isinstance(tensor, torch.Tensor):
            tensor = as_tensor(tensor, "tensor")
        if tensor.ndim == 0 or tensor.shape[-1] != self.num_attributes:
            raise ValueError(
                f"Expected `tensor` with last dimension C = {self.num_attributes} "
                f"({self.num_groups} groups of sizes {self._sizes}), but got shape {tuple(tensor.shape)}."
            )
        return tuple(torch.split(tensor, list(self._sizes), dim=-1))

    def to_one_hot(
        self,
        indices: Any,
        *,
        ignore_index: int = -100,
        dtype: torch.dtype = torch.float32,
        validate_args: bool = True,
    ) -> torch.Tensor:
        """Turn hard targets ``(N, G)`` into concatenated one-hot targets ``(N, C)``.

        A group whose label equals ``ignore_index`` gets an all-zero segment.

        Raises:
            TypeError: If ``indices`` is not an integer tensor or array.
            ValueError: If its shape is not ``(N, G)`` or a label is out of range.
        """
        indices = as_tensor(indices, "indices")
        if validate_args:
            check_hard_target(indices, self, "indices", ignore_index=ignore_index)
        indices = indices.long()
        valid = indices != ignore_index
        offsets = torch.tensor(self._offsets, dtype=torch.long, device=indices.device)
        # A missing label writes its 0 into its own group's first column, so the G columns of a row
        # are always distinct and scatter_ never overwrites another group's 1.
        columns = torch.where(valid, indices + offsets, offsets.expand_as(indices))
        out = torch.zeros(indices.shape[0], self.num_attributes, dtype=dtype, device=indices.device)
        out.scatter_(1, columns, valid.to(dtype))
        return out

    def argmax(self, scores: Any, *, validate_args: bool = True) -> torch.Tensor:
        """Index of the highest-scoring attribute in each group: ``(N, C)`` scores to ``(N, G)``.

        Works on logits or probabilities alike (a per-group softmax keeps the order).
        ``validate_args=False`` skips the NaN check, which reads a value back to the host (a device
        synchronisation on a GPU); a group holding NaN then gets the index of a NaN.

        Raises:
            ValueError: If ``scores`` is not ``(N, C)`` or holds NaN.
        """
        scores = check_scores(scores, self, "scores", finite=False)
        return self._argmax(scores, nan_check="scores" if validate_args else None)

    def _argmax(self, scores: torch.Tensor, *, nan_check: str | None) -> torch.Tensor:
        """Per-group argmax of shape-checked ``(N, C)`` scores; ``nan_check``: raise on NaN, naming it."""
        if nan_check is not None:
            check_not_nan(scores, nan_check)
        # max(...).indices: the first maximum, like argmax, and faster on CPU for short groups.
        return torch.stack([segment.max(dim=-1).indices for segment in self.split(scores)], dim=-1)

    # ------------------------------------------------------------------ dunder
    def __len__(self) -> int:
        return self.num_groups

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AttributeGroups):
            return NotImplemented
        return (
            self._sizes == other._sizes
            and self._names == other._names
            and self._attribute_names == other._attribute_names
        )

    def __hash__(self) -> int:
        return hash((self._sizes, self._names, self._attribute_names))

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={k}" for n, k in zip(self._names, self._sizes))
        return f"AttributeGroups({parts}; C={self.num_attributes})"


# ----------------------------------------------------------------------------------------------
# The two layout checks AttributeGroups itself needs; every other module takes them (and the
# other layout checks) from imbalml._layout_checks.


def check_scores(
    scores: Any, groups: AttributeGroups, name: str = "input", *, finite: bool = True
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
    groups: AttributeGroups,
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
    check_rows(
        target,
        name,
        g,
        num_samples=num_samples,
        axes="(N, G)",
        meaning=f" for {g} attribute groups",
    )
    if target.numel():
        sizes = torch.as_tensor(groups.sizes, device=target.device)
        bad = (target < 0) | (target >= sizes)
        if ignore_index is not None:
            bad &= target != ignore_index
        if bool(bad.any()):
            row, col = first_true(bad)
            allowed = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            raise ValueError(
                f"Expected `{name}[:, {col}]` (group {groups.names[col]!r}, "
                f"{groups.sizes[col]} attributes) in [0, {groups.sizes[col] - 1}]{allowed}, "
                f"but got {int(target[row, col])} at row {row}."
            )
    return target


def check_float_hard_labels(target: torch.Tensor, groups: AttributeGroups, name: str) -> None:
    """Raise ``TypeError`` for a floating ``(N, G)`` tensor: hard labels stored as floats."""
    g, c = groups.num_groups, groups.num_attributes
    if target.is_floating_point() and target.ndim == 2 and target.shape[1] == g != c:
        raise TypeError(
            f"Expected `{name}` as hard (N, G) = ({target.shape[0]}, {g}) integer attribute "
            f"indices or soft (N, C) = ({target.shape[0]}, {c}) probabilities, but got "
            f"{target.dtype} of shape {tuple(target.shape)}: hard labels must have an integer "
            f"dtype (use `{name}.long()`)."
        )
