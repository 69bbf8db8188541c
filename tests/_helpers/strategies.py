"""Hypothesis strategies for the label layout, logits and hard targets.

Arrays are drawn with ``hypothesis.extra.numpy`` so that failing examples shrink to small, readable
inputs (few groups, few rows, zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imbalml import AttributeGroups

#: Default for property tests: modest example count, no deadline (the machine is shared).
FAST = settings(max_examples=40, deadline=None)

#: The fashion-attribute layout: 6 groups, 26 attributes.
FASHION_SIZES = (7, 3, 3, 4, 6, 3)


@st.composite
def group_sizes(
    draw: st.DrawFn, *, min_groups: int = 1, max_groups: int = 4, max_size: int = 5
) -> tuple[int, ...]:
    """Draw a tuple of group sizes, each in ``[2, max_size]``."""
    return tuple(draw(st.lists(st.integers(2, max_size), min_size=min_groups, max_size=max_groups)))


@st.composite
def attribute_groups(
    draw: st.DrawFn,
    *,
    min_groups: int = 1,
    max_groups: int = 4,
    max_size: int = 5,
    named: bool | None = None,
) -> AttributeGroups:
    """Draw an :class:`AttributeGroups` with random sizes and (optionally) custom names."""
    sizes = draw(group_sizes(min_groups=min_groups, max_groups=max_groups, max_size=max_size))
    if named is None:
        named = draw(st.booleans())
    if not named:
        return AttributeGroups(sizes)
    names = [f"g{g}" for g in range(len(sizes))]
    attrs = [f"a{j}" for j in range(sum(sizes))]
    return AttributeGroups(sizes, names=names, attribute_names=attrs)


def logits(
    groups: AttributeGroups,
    num_samples: int,
    *,
    dtype: type | np.dtype = np.float64,
    low: float = -20.0,
    high: float = 20.0,
) -> st.SearchStrategy[np.ndarray]:
    """Finite logits ``(N, C)`` in ``[low, high]``."""
    return hnp.arrays(
        np.dtype(dtype),
        (num_samples, groups.num_attributes),
        elements=st.floats(low, high, allow_nan=False, allow_infinity=False, width=32),
    )


@st.composite
def hard_targets(
    draw: st.DrawFn,
    groups: AttributeGroups,
    num_samples: int,
    *,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Hard targets ``(N, G)`` (int64), each column in ``[0, K_g)``.

    With ``ignore_index`` given, a drawn boolean mask replaces some labels by it.
    """
    shape = (num_samples, groups.num_groups)
    raw = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, max(groups.sizes) - 1)))
    target = raw % np.asarray(groups.sizes, dtype=np.int64)
    if ignore_index is not None:
        missing = draw(hnp.arrays(np.bool_, shape))
        target = np.where(missing, ignore_index, target)
    return target


@dataclass(frozen=True)
class GroupedProblem:
    """One drawn example: layout, logits ``(N, C)``, hard target ``(N, G)``, predictions."""

    groups: AttributeGroups
    logits: np.ndarray
    target: np.ndarray
    ignore_index: int | None

    @property
    def num_samples(self) -> int:
        return int(self.target.shape[0])


@st.composite
def grouped_problems(
    draw: st.DrawFn,
    *,
    min_samples: int = 1,
    max_samples: int = 12,
    max_groups: int = 4,
    max_size: int = 5,
    ignore: bool | None = None,
    dtype: type | np.dtype = np.float64,
) -> GroupedProblem:
    """Draw groups, matching logits and hard targets (with ``ignore_index`` optionally)."""
    groups = draw(attribute_groups(max_groups=max_groups, max_size=max_size))
    n = draw(st.integers(min_samples, max_samples))
    if ignore is None:
        ignore = draw(st.booleans())
    ignore_index = draw(st.sampled_from([-100, -1, 255])) if ignore else None
    return GroupedProblem(
        groups=groups,
        logits=draw(logits(groups, n, dtype=dtype)),
        target=draw(hard_targets(groups, n, ignore_index=ignore_index)),
        ignore_index=ignore_index,
    )


@st.composite
def batch_splits(draw: st.DrawFn, num_samples: int, *, max_batches: int = 5) -> list[int]:
    """Draw sorted cut points splitting ``range(num_samples)`` into consecutive batches."""
    cuts = draw(st.lists(st.integers(0, num_samples), max_size=max_batches - 1))
    return [0, *sorted(cuts), num_samples]
