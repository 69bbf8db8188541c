"""The minority-aware mixup collator: stacks and mixes a batch on the CPU, in the workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import default_collate, get_worker_info

from imbalml._layout_checks import check_hard_target
from imbalml._validation import as_tensor, check_floating, check_multi_hot
from imbalml.functional.mixup.mix import _mix_targets, _stack_mixup
from imbalml.groups import AttributeGroups
from imbalml.mixup.options import _MixupOptions, _picklable, _unpickled

__all__ = ["MixupCollator"]


class MixupCollator(_MixupOptions):
    r"""A ``DataLoader`` ``collate_fn`` that stacks a batch and applies minority-aware mixup.

    Takes the list of ``(image, labels)`` samples a dataset returns (``image`` a floating tensor,
    ``labels`` the ``G`` attribute indices, ``ignore_index`` for a missing one) and returns
    ``(images (N, ...), soft_targets (N, C) float32)``, each group segment of the targets summing
    to 1 (0 for a missing label). Per batch, with probability ``p``:

    .. math::
        x_i' = (1 - \lambda) x_i + \lambda x_{\pi(i)}, \quad
        y_i' = (1 - \lambda) y_i + \lambda y_{\pi(i)}, \quad \lambda \sim \mathrm{Beta}(\alpha, \beta)

    for the rows chosen by ``mode`` (``lam`` weights the partner):

    - ``"minority"`` (the fashion report): images carrying at least one minority attribute, with
      ``pi`` a random permutation of the whole batch;
    - ``"all"``: every image;
    - ``"minority_pairs"``: minority images, partnered only with other minority images;
    - ``"none"``: plain one-hot targets (a baseline with the same output format).

    An attribute is minority when its count in ``counts`` is at most ``count_threshold`` (default:
    the mean count per attribute, which marks 18 of the 26 fashion attributes), or as an explicit
    bool ``minority`` mask says.

    **Plain multi-label** (``groups=None``): ``labels`` are multi-hot ``(C,)`` (0/1, or
    ``ignore_index``), the targets come back as float ``(N, C)``, an image is minority when one of
    its *positive* labels is minority (``counts`` are then positives per label), and mixed
    targets are the same linear interpolation (an ``ignore_index`` entry in either image stays
    ``ignore_index``). Rows that are not
    mixed are copied bit for bit; mixed rows take one ``torch.lerp`` fused with the stack, so the
    collator costs about one extra read of the mixed rows over ``default_collate``. A group label
    missing in either mixed image is missing in the result.

    The fashion report's training code (not published with the report) reportedly weighted the
    labels of the whole batch by the *first* sample's minority flag, so targets and images
    disagreed whenever sample 0 was not minority; here each row's target is mixed exactly when,
    and with the weight with which, its image is.

    Randomness comes only from the collator's own generator: same seed, same batches. In a
    ``DataLoader`` worker the collator switches to a per-worker generator seeded from its own seed
    and the worker's seed (``get_worker_info().seed``, which the loader derives from its
    ``generator``), so workers draw distinct streams that change each epoch and are reproducible
    when the ``DataLoader`` is given a seeded ``generator``. The collator pickles (spawn and
    forkserver start methods work).

    Args:
        groups: The label layout, or ``None`` for plain multi-label.
        counts: Training count of each attribute ``(C,)``, e.g. from :func:`imbalml.label_counts`
            (give this or ``minority``).
        minority: An explicit bool ``(C,)`` mask of the minority attributes (labels).
        mode: One of ``"minority"``, ``"all"``, ``"minority_pairs"``, ``"none"``.
        alpha: First Beta parameter (the report: 0.2).
        beta: Second Beta parameter (the report: 0.2).
        count_threshold: Minority threshold on ``counts``, a number of samples (default: their
            mean).
        p: Probability of mixing a batch.
        per_sample_lam: Draw one ``lam`` per image instead of one per batch (the report's
            choice).
        seed: Seed of the collator's generator (default: fresh OS entropy).
        generator: A CPU ``torch.Generator`` to draw from (and advance) instead of ``seed``.
        ignore_index: Label value marking a missing attribute.

    Raises:
        ValueError: If an option is out of range, ``counts`` does not have ``C`` entries, or both
            ``seed`` and ``generator`` are given.
        TypeError: If ``groups`` or ``generator`` has the wrong type, or not exactly one of
            ``counts`` and ``minority`` is given.

    Example:
        >>> import torch
        >>> from torch.utils.data import DataLoader
        >>> from imbalml import AttributeGroups, MixupCollator
        >>> groups = AttributeGroups([3, 2])
        >>> samples = [(torch.full((1, 2, 2), float(i)), [i % 3, 0]) for i in range(8)]
        >>> collate = MixupCollator(groups, counts=[4, 2, 2, 7, 1], seed=0)
        >>> images, targets = next(iter(DataLoader(samples, batch_size=8, collate_fn=collate)))
        >>> images.shape, targets.shape
        (torch.Size([8, 1, 2, 2]), torch.Size([8, 5]))
        >>> targets.sum(1)  # one distribution per group: 2 groups
        tensor([2., 2., 2., 2., 2., 2., 2., 2.])
        >>> bool((images[::3] == torch.tensor([0.0, 3.0, 6.0]).view(3, 1, 1, 1)).all())  # majority rows
        True
        >>> plain = MixupCollator(minority=torch.tensor([False, True, True]), mode="none")
        >>> plain([(torch.zeros(1), [1, 0, 1]), (torch.ones(1), [0, 0, 0])])[1]
        tensor([[1., 0., 1.],
                [0., 0., 0.]])
    """

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        counts: Any = None,
        minority: Any = None,
        mode: Literal["minority", "all", "minority_pairs", "none"] = "minority",
        alpha: float = 0.2,
        beta: float = 0.2,
        count_threshold: float | None = None,
        p: float = 1.0,
        per_sample_lam: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        ignore_index: int = -100,
    ) -> None:
        self._set_options(
            groups=groups, counts=counts, minority=minority, mode=mode, alpha=alpha, beta=beta,
            count_threshold=count_threshold, p=p, per_sample_lam=per_sample_lam, seed=seed,
            generator=generator, ignore_index=ignore_index,
        )  # fmt: skip
        self._seed = self.generator.initial_seed()
        self._worker_seed: int | None = None
        self._worker_generator: torch.Generator | None = None

    def _stream(self) -> torch.Generator:
        """The generator to draw from: the collator's own, or one per DataLoader worker."""
        info = get_worker_info()
        if info is None:
            return self.generator
        if self._worker_generator is None or self._worker_seed != info.seed:
            state = np.random.SeedSequence([self._seed, info.seed]).generate_state(1, np.uint64)
            self._worker_generator = torch.Generator().manual_seed(int(state[0]))
            self._worker_seed = info.seed
        return self._worker_generator

    def _unpack(self, batch: Sequence[Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
        if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)) or not batch:
            raise ValueError(
                f"Expected `batch` to be a non-empty list of (image, labels) pairs, "
                f"but got {type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}."
            )
        images: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        g = self.groups.num_groups if self.groups is not None else self.minority.numel()
        what = "attribute groups" if self.groups is not None else "labels (multi-hot)"
        axis = "(G,)" if self.groups is not None else "(C,)"
        for i, sample in enumerate(batch):
            if not isinstance(sample, (tuple, list)) or len(sample) != 2:
                raise ValueError(
                    f"Expected each sample to be a pair (image, labels), but sample {i} is "
                    f"{type(sample).__name__}"
                    + (f" of length {len(sample)}." if isinstance(sample, (tuple, list)) else ".")
                )
            image, label = sample
            if not isinstance(image, torch.Tensor):
                raise TypeError(
                    f"Expected the image of sample {i} to be a torch.Tensor, "
                    f"but got {type(image).__name__}."
                )
            label = as_tensor(label, f"labels of sample {i}")
            if tuple(label.shape) != (g,):
                raise ValueError(
                    f"Expected the labels of sample {i} of shape {axis} = ({g},) for {g} {what}, "
                    f"but got {tuple(label.shape)}."
                )
            if i and image.shape != images[0].shape:
                raise ValueError(
                    f"Expected every image of shape {tuple(images[0].shape)} like sample 0, "
                    f"but sample {i} has {tuple(image.shape)}."
                )
            images.append(image)
            labels.append(label)
        check_floating(images[0], "image")
        if self.groups is None:
            target = check_multi_hot(torch.stack(labels), "labels", ignore_index=self.ignore_index)
            return images, target
        target = check_hard_target(
            torch.stack(labels), self.groups, "labels", ignore_index=self.ignore_index
        )
        return images, target

    def __call__(self, batch: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Collate ``[(image, labels), ...]`` into ``(images (N, ...), soft_targets (N, C))``."""
        images, target = self._unpack(batch)
        if self.groups is None:
            soft = target.float()
        else:
            soft = self.groups.to_one_hot(
                target, ignore_index=self.ignore_index, validate_args=False
            )
        if self.mode == "none":
            return default_collate(images), soft
        plan = self._plan(soft, self._stream())
        if not bool(plan.mask.any()):
            return default_collate(images), soft
        out = _stack_mixup(images, plan, _empty_batch(images[0], len(images)))
        return out, _mix_targets(soft, plan.lam, plan.partner, plan.mask, self.groups, self.ignore_index)  # fmt: skip

    def __getstate__(self) -> dict[str, Any]:
        state = _picklable(self.__dict__)
        state["_worker_seed"] = state["_worker_generator"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(_unpickled(state))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._summary()})"


def _empty_batch(elem: torch.Tensor, n: int) -> torch.Tensor:
    """An uninitialised ``(n, *elem.shape)`` tensor, in shared memory inside a worker.

    As ``default_collate`` does: a batch built in a worker travels to the main process without an
    extra copy.
    """
    if get_worker_info() is not None and elem.device.type == "cpu":
        try:
            storage = elem.untyped_storage()._new_shared(n * elem.numel() * elem.element_size())
            return elem.new_empty(0).set_(storage).view(n, *elem.shape)
        except (AttributeError, RuntimeError):  # pragma: no cover - private API moved
            pass
    return elem.new_empty((n, *elem.shape))
