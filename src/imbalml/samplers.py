r"""Minority oversampling: a DDP-aware sampler that repeats images carrying rare attributes.

Repeat-factor sampling (Gupta et al., LVIS, 2019), for attribute groups or plain multi-label
data: with ``f_c`` the fraction of the images labelled there that carry attribute (plain:
positive label) ``c`` (a missing label is unknown, never a negative) and
a frequency threshold ``t``,

.. math::
    r_c = \max\left(1, \left(\frac{t}{f_c}\right)^{q}\right), \qquad r_i = \max_{c \in i} r_c,

(``q = 1/2``, LVIS's square root; ``q = 1`` for ``strategy="inverse_frequency"``), where the
maximum runs over the attributes image ``i`` carries (plain: its positive labels), and image ``i``
appears ``r_i`` times per epoch on average. Every epoch has the same length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from imbalml._layout_checks import check_hard_target, check_optional_groups
from imbalml._validation import check_choice, check_int, check_multi_hot, check_number
from imbalml.data.stats import label_counts
from imbalml.groups import AttributeGroups

__all__ = ["MinorityOversampler"]

_POWERS = {"repeat_factor": 0.5, "inverse_frequency": 1.0}


def _fixed_size_rounding(
    repeat_factors: torch.Tensor, size: int, generator: torch.Generator
) -> torch.Tensor:
    """Copies per image, ``floor(r_i)`` or one more, summing to exactly ``size``.

    The ``size - sum(floor(r))`` extra copies go to distinct images, image ``i`` getting one with
    probability proportional to ``frac(r_i)`` (capped at 1): systematic sampling with a random
    start over a random order of the images, which draws exactly that many.
    """
    whole = repeat_factors.floor()
    extra = size - int(whole.sum())
    copies = whole.long()
    if extra <= 0:
        return copies
    frac = (repeat_factors - whole).clone()
    if float(frac.sum()) <= 0:  # every factor whole: spread the extras uniformly
        frac = torch.ones_like(frac)
    p = frac * (extra / float(frac.sum()))
    for _ in range(64):  # cap at 1 and hand the excess to the others
        over = p > 1
        if not bool(over.any()):
            break
        p[over] = 1.0
        rest = ~over & (p > 0)
        if not bool(rest.any()):
            break
        room = extra - float(p[over].sum())
        p[rest] *= room / float(p[rest].sum())
    order = torch.randperm(p.numel(), generator=generator)
    cumulative = p[order].cumsum(0).numpy()
    start = float(torch.rand((), generator=generator, dtype=torch.float64))
    points = np.arange(extra, dtype=np.float64) + start
    picks = np.minimum(np.searchsorted(cumulative, points, side="right"), p.numel() - 1)
    np.add.at(copies.numpy(), order.numpy()[picks], 1)
    return copies


class MinorityOversampler(Sampler[int]):
    r"""Sample images carrying rare attributes more often, sharded across DDP ranks.

    Each image gets a repeat factor ``r_i = max over its attributes c of max(1, (t / f_c) ** q)``,
    where ``f_c = positives / labelled`` of :func:`imbalml.label_counts` is the fraction of the
    images *labelled* in ``c``'s group (plain: whose label ``c`` is known) that carry ``c`` (a
    missing label is unknown: it is neither a positive nor a negative, and it never raises an
    image's factor), and ``q = 1/2`` (``strategy="repeat_factor"``, LVIS) or ``q = 1``
    (``"inverse_frequency"``). An image with only frequent attributes has ``r_i = 1``. Plain
    multi-label (``groups=None``, multi-hot targets): only the *positive* labels of an image count,
    as in LVIS, so a frequent label's negatives never make an image rare.

    The frequency threshold ``t`` is a fraction of images: attributes rarer than ``t`` are
    oversampled. The default is the mean attribute frequency, ``mean(f_c)`` (``G / C``
    with complete grouped labels: 6/26 = 0.23 for the fashion data), so exactly the attributes
    below the mean count (the minority attributes of :class:`imbalml.MixupCollator`'s default) are
    repeated; LVIS used ``t = 0.001`` for 1203 object classes.

    **Epochs have a fixed length** (the same in every epoch, so a learning-rate scheduler stepped
    per batch, e.g. ``OneCycleLR(total_steps=epochs * len(loader))``, and DDP's equal-length
    assumption hold):

    - default (``replacement=False``, ``num_indices=None``): ``M = round(sum(r_i))`` indices
      (:attr:`epoch_size`): every image appears ``floor(r_i)`` times, and the
      ``M - sum(floor(r_i))`` remaining places go to distinct images with probability
      proportional to the fractional parts (redrawn each epoch); the list is then shuffled.
      Every image is seen at least once per epoch, and image ``i`` about ``r_i`` times.
    - ``num_indices=M`` with ``replacement=False``: such rounds are concatenated and cut at ``M``.
    - ``replacement=True``: ``M`` (default ``round(sum(r_i))``) independent draws with
      probability proportional to ``r_i`` (weighted random sampling).

    Distributed: all ranks build the same epoch list from ``(seed, epoch)``; as in
    ``torch.utils.data.DistributedSampler`` it is padded with its own first entries to a multiple
    of ``num_replicas`` (or cut, with ``drop_last``) and rank ``k`` takes entries
    ``k, k + num_replicas, ...``: ``len(sampler)`` is the same on every rank and in every epoch.
    Call :meth:`set_epoch` before each epoch; the same ``(seed, epoch)`` gives the same order.

    The sampler takes the dataset's targets (it needs which image carries which attribute) and
    counts them itself with :func:`imbalml.label_counts` (kept as :attr:`counts`); it takes no
    separate counts.

    Args:
        target: Targets of the dataset, in dataset order: hard ``(N, G)`` indices (grouped) or
            multi-hot ``(N, C)`` (plain); a tensor, numpy array or list.
        groups: The label layout, or ``None`` for plain multi-label.
        strategy: ``"repeat_factor"`` (square root) or ``"inverse_frequency"``.
        frequency_threshold: The frequency ``t`` in (0, 1] (default: the mean attribute
            frequency).
        num_indices: Fixed number of indices per epoch (over all ranks; not the ``num_samples``
            of :class:`~imbalml.LabelCounts`, the dataset's size); default see above.
        replacement: Draw independently with probability proportional to ``r_i``.
        seed: Base seed; the epoch's order depends only on ``(seed, epoch)``.
        num_replicas: Number of ranks (default: the world size when ``torch.distributed`` is
            initialised, else 1).
        rank: This rank (default: the process's rank, else 0).
        drop_last: Cut the epoch list to a multiple of ``num_replicas`` instead of padding.
        ignore_index: Label value marking a missing attribute.

    Raises:
        ValueError: If an option is out of range or ``target`` does not match ``groups``.
        TypeError: If an option has the wrong type.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, MinorityOversampler
        >>> groups = AttributeGroups([2, 2])
        >>> target = torch.tensor([[0, 0]] * 9 + [[1, 0]])  # attribute 1 in 1 image of 10
        >>> sampler = MinorityOversampler(target, groups, frequency_threshold=0.4)
        >>> sampler.repeat_factors[-1].item()  # sqrt(0.4 / 0.1)
        2.0
        >>> sorted(sampler)  # image 9 twice
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
        >>> shard = MinorityOversampler(target, groups, frequency_threshold=0.4, num_replicas=2, rank=1)
        >>> len(shard)
        6
        >>> plain = MinorityOversampler(torch.tensor([[1, 0]] * 9 + [[1, 1]]), frequency_threshold=0.4)
        >>> plain.repeat_factors[-1].item()  # only positives count: label 1 in 1 image of 10
        2.0
    """

    def __init__(
        self,
        target: Any,
        groups: AttributeGroups | None = None,
        *,
        strategy: str = "repeat_factor",
        frequency_threshold: float | None = None,
        num_indices: int | None = None,
        replacement: bool = False,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        groups = check_optional_groups(groups)
        self.strategy = check_choice(strategy, "strategy", tuple(_POWERS))
        if groups is None:
            target = check_multi_hot(target, ignore_index=ignore_index).cpu()
            present = (target == 1) & (target != ignore_index)
        else:
            target = check_hard_target(target, groups, "target", ignore_index=ignore_index).cpu()
            present = groups.to_one_hot(
                target, ignore_index=ignore_index, dtype=torch.bool, validate_args=False
            )
        if target.shape[0] == 0:
            raise ValueError("Expected `target` with at least one sample, but got 0.")
        n = present.shape[0]
        #: The :class:`~imbalml.LabelCounts` of ``target`` the frequencies come from.
        self.counts = label_counts(target, groups, ignore_index=ignore_index, validate_args=False)
        # positives / labelled; an attribute never labelled has no frequency (factor 1).
        frequency = torch.nan_to_num(self.counts.frequencies(), nan=0.0)
        if frequency_threshold is None:
            mean = float(self.counts.frequencies().nanmean())  # over the attributes ever labelled
            self.frequency_threshold = mean if math.isfinite(mean) and mean > 0 else 1.0
        else:
            self.frequency_threshold = check_number(
                frequency_threshold, "frequency_threshold", low=0.0, high=1.0, low_inclusive=False
            )
        ratio = torch.where(
            frequency > 0, self.frequency_threshold / frequency, torch.ones_like(frequency)
        )
        #: Repeat factor of each attribute ``(C,)``, float64.
        self.attribute_repeat_factors = ratio.pow(_POWERS[self.strategy]).clamp(min=1.0)
        per_label = torch.where(present, self.attribute_repeat_factors, torch.ones_like(frequency))
        #: Repeat factor of each image ``(N,)``, float64 (1 for an image without labels).
        self.repeat_factors = per_label.amax(1) if per_label.shape[1] else torch.ones(n).double()

        self.replacement = bool(replacement)
        self.num_indices = (
            None if num_indices is None else check_int(num_indices, "num_indices", low=1)
        )
        self.seed = check_int(seed, "seed", low=0)
        self.drop_last = bool(drop_last)
        if num_replicas is None:
            num_replicas = (
                dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
            )
        self.num_replicas = check_int(num_replicas, "num_replicas", low=1)
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.rank = check_int(rank, "rank", low=0)
        if self.rank >= self.num_replicas:
            raise ValueError(
                f"Expected `rank` in [0, {self.num_replicas - 1}] for num_replicas="
                f"{self.num_replicas}, but got {self.rank}."
            )
        self.epoch = 0
        self._cache: tuple[int, torch.Tensor] | None = None

    @property
    def expected_epoch_size(self) -> float:
        """``sum(r_i)``: the sum of the repeat factors (the default epoch size before rounding)."""
        return float(self.repeat_factors.sum())

    @property
    def epoch_size(self) -> int:
        """Length of every epoch's list over all ranks, before padding and sharding."""
        if self.num_indices is not None:
            return self.num_indices
        return max(1, round(self.expected_epoch_size))

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch; the order depends only on ``(seed, epoch)``. Call before iterating."""
        self.epoch = check_int(epoch, "epoch", low=0)

    def _generator(self) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)
        return torch.Generator().manual_seed(int(state[0]))

    def _round(self, generator: torch.Generator, size: int) -> torch.Tensor:
        """One shuffled repeat-factor round of exactly ``size`` indices."""
        repeats = _fixed_size_rounding(self.repeat_factors, size, generator).numpy()
        # numpy's repeat: torch.repeat_interleave costs ~20 ms even for tiny inputs on some CPUs.
        indices = torch.from_numpy(np.repeat(np.arange(repeats.size, dtype=np.int64), repeats))
        return indices[torch.randperm(indices.numel(), generator=generator)]

    def epoch_indices(self) -> torch.Tensor:
        """The epoch's full index list over all ranks, before padding and sharding (cached)."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        generator = self._generator()
        size = self.epoch_size
        rounded = max(1, round(self.expected_epoch_size))
        if self.replacement:
            indices = torch.multinomial(
                self.repeat_factors, size, replacement=True, generator=generator
            )
        elif self.num_indices is None:
            indices = self._round(generator, size)
        else:
            parts, total = [], 0
            while total < self.num_indices:
                parts.append(self._round(generator, rounded))
                total += parts[-1].numel()
            indices = torch.cat(parts)[: self.num_indices]
        self._cache = (self.epoch, indices)
        return indices

    def _total_size(self, size: int) -> int:
        if self.drop_last:
            return (size // self.num_replicas) * self.num_replicas
        return math.ceil(size / self.num_replicas) * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices()
        total = self._total_size(indices.numel())
        if total > indices.numel():
            reps = math.ceil(total / indices.numel())
            indices = indices.repeat(reps)
        indices = indices[:total]
        return iter(indices[self.rank : total : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self._total_size(self.epoch_size) // self.num_replicas

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(strategy={self.strategy!r}, "
            f"frequency_threshold={self.frequency_threshold:g}, images={self.repeat_factors.numel()}, "
            f"epoch_size={self.epoch_size}, rank={self.rank}/{self.num_replicas})"
        )
