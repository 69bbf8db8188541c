r"""Minority oversampling: a DDP-aware sampler that repeats images carrying rare attributes.

Repeat-factor sampling (Gupta et al., LVIS, 2019) for attribute groups: with ``f_c`` the fraction
of images that carry attribute ``c`` and a threshold ``t``,

.. math::
    r_c = \max\left(1, \left(\frac{t}{f_c}\right)^{q}\right), \qquad r_i = \max_{c \in i} r_c,

(``q = 1/2``, LVIS's square root; ``q = 1`` for ``strategy="inverse_frequency"``), and image
``i`` appears ``r_i`` times per epoch on average.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from imbalml._validation import (
    check_choice,
    check_groups,
    check_hard_target,
    check_int,
    check_number,
)
from imbalml.groups import AttributeGroups

__all__ = ["MinorityOversampler"]

_POWERS = {"repeat_factor": 0.5, "inverse_frequency": 1.0}


class MinorityOversampler(Sampler[int]):
    r"""Sample images carrying rare attributes more often, sharded across DDP ranks.

    Each image gets a repeat factor ``r_i = max over its attributes c of max(1, (t / f_c) ** q)``,
    where ``f_c`` is the fraction of the images carrying ``c`` (missing labels count for nothing)
    and ``q = 1/2`` (``strategy="repeat_factor"``, LVIS) or ``q = 1``
    (``"inverse_frequency"``). An image with only frequent attributes has ``r_i = 1``.

    The threshold ``t`` is a fraction of images: attributes rarer than ``t`` are oversampled. The
    default is the mean attribute frequency, ``mean(counts) / N`` (``G / C`` with complete labels:
    6/26 = 0.23 for the fashion data), so exactly the attributes below the mean count (the
    minority attributes of :class:`imbalml.MixupCollator`'s default) are repeated; LVIS used
    ``t = 0.001`` for 1203 object classes.

    Epochs:

    - default (``replacement=False``, ``num_samples=None``): every image appears
      ``floor(r_i)`` times plus once more with probability ``frac(r_i)`` (stochastic rounding,
      redrawn each epoch), then the list is shuffled; the epoch length varies around
      ``sum(r_i)`` (:attr:`expected_epoch_size`). Every image is seen at least once per epoch.
    - ``num_samples=M`` with ``replacement=False``: such rounds are concatenated and cut at ``M``,
      for a fixed epoch length.
    - ``replacement=True``: ``M`` (default ``round(sum(r_i))``) independent draws with
      probability proportional to ``r_i`` (weighted random sampling).

    Distributed: all ranks build the same epoch list from ``(seed, epoch)``; as in
    ``torch.utils.data.DistributedSampler`` it is padded with its own first entries to a multiple
    of ``num_replicas`` (or cut, with ``drop_last``) and rank ``k`` takes entries
    ``k, k + num_replicas, ...``. Call :meth:`set_epoch` before each epoch; the same
    ``(seed, epoch)`` gives the same order.

    Args:
        target: Hard targets ``(N, G)`` of the dataset, in dataset order.
        groups: The label layout.
        strategy: ``"repeat_factor"`` (square root) or ``"inverse_frequency"``.
        threshold: The frequency ``t`` in (0, 1] (default: the mean attribute frequency).
        num_samples: Fixed number of indices per epoch (over all ranks); default see above.
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
        >>> from imbalml import AttributeGroups
        >>> from imbalml.samplers import MinorityOversampler
        >>> groups = AttributeGroups([2, 2])
        >>> target = torch.tensor([[0, 0]] * 9 + [[1, 0]])  # attribute 1 in 1 image of 10
        >>> sampler = MinorityOversampler(target, groups, threshold=0.4)
        >>> sampler.repeat_factors[-1].item()  # sqrt(0.4 / 0.1)
        2.0
        >>> sorted(sampler)  # image 9 twice
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
        >>> shard = MinorityOversampler(target, groups, threshold=0.4, num_replicas=2, rank=1)
        >>> len(shard)
        6
    """

    def __init__(
        self,
        target: Any,
        groups: AttributeGroups,
        *,
        strategy: str = "repeat_factor",
        threshold: float | None = None,
        num_samples: int | None = None,
        replacement: bool = False,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        check_groups(groups)
        self.strategy = check_choice(strategy, "strategy", tuple(_POWERS))
        target = check_hard_target(target, groups, "target", ignore_index=ignore_index)
        if target.shape[0] == 0:
            raise ValueError("Expected `target` with at least one sample, but got 0.")
        present = groups.to_one_hot(
            target.cpu(), ignore_index=ignore_index, dtype=torch.bool, validate=False
        )
        n = present.shape[0]
        frequency = present.sum(0).double() / n
        if threshold is None:
            self.threshold = float(frequency.mean())
        else:
            self.threshold = check_number(
                threshold, "threshold", low=0.0, high=1.0, low_inclusive=False
            )
        ratio = torch.where(frequency > 0, self.threshold / frequency, torch.ones_like(frequency))
        #: Repeat factor of each attribute ``(C,)``, float64.
        self.attribute_repeat_factors = ratio.pow(_POWERS[self.strategy]).clamp(min=1.0)
        per_label = torch.where(present, self.attribute_repeat_factors, torch.ones_like(frequency))
        #: Repeat factor of each image ``(N,)``, float64 (1 for an image without labels).
        self.repeat_factors = per_label.amax(1)

        self.replacement = bool(replacement)
        self.num_samples = (
            None if num_samples is None else check_int(num_samples, "num_samples", low=1)
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
        """Expected length of the default epoch list over all ranks: ``sum(r_i)``."""
        return float(self.repeat_factors.sum())

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch; the order depends only on ``(seed, epoch)``. Call before iterating."""
        self.epoch = check_int(epoch, "epoch", low=0)

    def _generator(self) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)
        return torch.Generator().manual_seed(int(state[0]))

    def _round(self, generator: torch.Generator) -> torch.Tensor:
        """One shuffled repeat-factor round: stochastic rounding of every ``r_i``."""
        r = self.repeat_factors
        whole = r.floor()
        extra = torch.rand(r.shape, generator=generator, dtype=torch.float64) < (r - whole)
        repeats = (whole.long() + extra.long()).numpy()
        # numpy's repeat: torch.repeat_interleave costs ~20 ms even for tiny inputs on some CPUs.
        indices = torch.from_numpy(np.repeat(np.arange(r.numel(), dtype=np.int64), repeats))
        return indices[torch.randperm(indices.numel(), generator=generator)]

    def epoch_indices(self) -> torch.Tensor:
        """The epoch's full index list over all ranks, before padding and sharding (cached)."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        generator = self._generator()
        if self.replacement:
            size = self.num_samples or max(1, round(self.expected_epoch_size))
            indices = torch.multinomial(
                self.repeat_factors, size, replacement=True, generator=generator
            )
        elif self.num_samples is None:
            indices = self._round(generator)
        else:
            parts, total = [], 0
            while total < self.num_samples:
                parts.append(self._round(generator))
                total += parts[-1].numel()
            indices = torch.cat(parts)[: self.num_samples]
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
        return self._total_size(self.epoch_indices().numel()) // self.num_replicas

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(strategy={self.strategy!r}, threshold={self.threshold:g}, "
            f"images={self.repeat_factors.numel()}, expected_epoch_size="
            f"{self.expected_epoch_size:.1f}, rank={self.rank}/{self.num_replicas})"
        )
