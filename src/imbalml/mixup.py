"""Minority-aware mixup: a DataLoader collator (CPU, in the workers) and an on-device module.

Both apply the fashion report's recipe (see :mod:`imbalml.functional.mixup`) through the same
three functions, :func:`~imbalml.functional.minority_mask`, :func:`~imbalml.functional.mixup_plan`
and :func:`~imbalml.functional.mixup`, so for the same seed and batch they return the same tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import default_collate, get_worker_info

from imbalml._layout_checks import (
    check_counts,
    check_hard_target,
    check_optional_groups,
    check_target,
)
from imbalml._validation import (
    as_tensor,
    check_floating,
    check_int,
    check_multi_hot,
    check_same_device,
    check_shape,
)
from imbalml.functional.mixup import (
    _check_generator,
    _check_options,
    _mix_targets,
    _stack_mixup,
    check_minority,
    minority_attributes,
    minority_mask,
    mixup,
    mixup_plan,
)
from imbalml.groups import AttributeGroups

__all__ = ["BatchMixup", "MixupCollator"]


def _minority(
    groups: AttributeGroups | None,
    counts: Any,
    minority: Any,
    count_threshold: float | None,
) -> torch.Tensor:
    """The bool ``(C,)`` minority mask: given, or from ``counts`` and ``count_threshold``."""
    c = None if groups is None else groups.num_attributes
    if (counts is None) == (minority is None):
        raise TypeError(
            "Expected exactly one of `counts` (training counts, from which the minority "
            "attributes follow) and `minority` (an explicit bool (C,) mask), but got "
            + ("both." if counts is not None else "neither.")
        )
    if minority is not None:
        if count_threshold is not None:
            raise ValueError(
                "Expected `count_threshold=None` with an explicit `minority` mask, "
                f"but got {count_threshold!r}."
            )
        return check_minority(minority, c).cpu()
    counts = check_counts(counts, groups)
    return minority_attributes(counts, count_threshold=count_threshold).cpu()


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if seed is not None and generator is not None:
        raise ValueError("Expected at most one of `seed` and `generator`, but got both.")
    if generator is not None:
        return _check_generator(generator)
    made = torch.Generator()
    if seed is None:
        made.seed()  # fresh entropy from the OS, not from torch's global generator
    else:
        made.manual_seed(check_int(seed, "seed", low=0))
    return made


def _generator_bytes(generator: torch.Generator) -> bytes:
    return generator.get_state().numpy().tobytes()


def _restore_generator(state: bytes) -> torch.Generator:
    generator = torch.Generator()
    generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
    return generator


class MixupCollator:
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
        mode: str = "minority",
        alpha: float = 0.2,
        beta: float = 0.2,
        count_threshold: float | None = None,
        p: float = 1.0,
        per_sample_lam: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        ignore_index: int = -100,
    ) -> None:
        self.groups = check_optional_groups(groups)
        self.minority = _minority(self.groups, counts, minority, count_threshold)
        self.mode, self.alpha, self.beta, self.p = _check_options(mode, alpha, beta, p)
        self.per_sample_lam = bool(per_sample_lam)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        #: The CPU generator every draw comes from (save its state to resume).
        self.generator = _generator(seed, generator)
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
        candidates = minority_mask(
            soft, self.groups, minority=self.minority, ignore_index=self.ignore_index,
            validate_args=False,
        )  # fmt: skip
        plan = mixup_plan(
            candidates,
            mode=self.mode,
            alpha=self.alpha,
            beta=self.beta,
            p=self.p,
            per_sample_lam=self.per_sample_lam,
            generator=self._stream(),
        )
        if not bool(plan.mask.any()):
            return default_collate(images), soft
        out = _stack_mixup(images, plan, _empty_batch(images[0], len(images)))
        return out, _mix_targets(soft, plan.lam, plan.partner, plan.mask, self.groups, self.ignore_index)  # fmt: skip

    def __getstate__(self) -> dict[str, Any]:
        # A torch.Generator (or a temporary state tensor) fails to unpickle under the spawn and
        # forkserver start methods: torch shares tensors through shared memory, and a temporary's
        # segment is gone before the worker reads it. Its state travels as bytes instead.
        state = self.__dict__.copy()
        state["generator"] = _generator_bytes(self.generator)
        state["_worker_seed"] = state["_worker_generator"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state, generator=_restore_generator(state["generator"]))
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mode={self.mode!r}, alpha={self.alpha:g}, beta={self.beta:g}, "
            f"p={self.p:g}, minority={int(self.minority.sum())}/{self.minority.numel()} attributes)"
        )


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


class BatchMixup(nn.Module):
    r"""Minority-aware mixup applied to a batch already on its device (e.g. the GPU).

    ``forward(images, target)`` takes images ``(N, ...)`` and hard ``(N, G)`` or soft ``(N, C)``
    targets (plain multi-label, ``groups=None``: multi-hot or soft ``(N, C)``) and returns ``(images, soft_targets)`` on the same device, with the same modes,
    options and results as :class:`MixupCollator` (same seed and batch, same tensors). The random
    draws (one uniform, one Beta seed, ``N`` sort keys) come from a CPU generator and the keys are
    copied to the device without blocking; with ``validate_args=False`` nothing is read back, so a
    step costs no host-device synchronisation. Per batch:

    .. math::
        x_i' = (1 - \lambda) x_i + \lambda x_{\pi(i)}, \quad
        y_i' = (1 - \lambda) y_i + \lambda y_{\pi(i)}

    for the rows selected by ``mode``; other rows are returned bit for bit. With ``mode="none"``
    the images are returned as given (the same tensor) with one-hot targets.

    Under DDP, give each rank its own seed (e.g. ``seed=base + rank``) unless identical draws on
    every rank are wanted. The generator is in :attr:`generator`; save its ``get_state()`` in a
    checkpoint to resume the same stream.

    Args:
        groups: The label layout, or ``None`` for plain multi-label (see :class:`MixupCollator`).
        counts: Training count of each attribute ``(C,)`` (give this or ``minority``).
        minority: An explicit bool ``(C,)`` mask of the minority attributes (labels).
        mode: One of ``"minority"``, ``"all"``, ``"minority_pairs"``, ``"none"``.
        alpha: First Beta parameter.
        beta: Second Beta parameter.
        count_threshold: Minority threshold on ``counts``, a number of samples (default: their
            mean).
        p: Probability of mixing a batch.
        per_sample_lam: One ``lam`` per image instead of one per batch.
        seed: Seed of the generator (default: fresh OS entropy).
        generator: A CPU ``torch.Generator`` to draw from instead of ``seed``.
        ignore_index: Label value marking a missing attribute (hard targets).
        validate_args: Check the batch (reads values back to the host; ``False`` on hot paths).

    Shape:
        - images: ``(N, *)`` floating
        - target: ``(N, G)`` integer or ``(N, C)`` floating
        - output: ``(N, *)`` and ``(N, C)`` float32

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, BatchMixup
        >>> groups = AttributeGroups([3, 2])
        >>> mix = BatchMixup(groups, counts=[4, 2, 2, 7, 1], mode="all", seed=0)
        >>> images, target = torch.randn(6, 3, 4, 4), torch.tensor([[0, 0], [1, 0], [2, 1]] * 2)
        >>> mixed, soft = mix(images, target)
        >>> mixed.shape, soft.shape, soft.sum(1).allclose(torch.full((6,), 2.0))
        (torch.Size([6, 3, 4, 4]), torch.Size([6, 5]), True)
    """

    minority: torch.Tensor

    def __init__(
        self,
        groups: AttributeGroups | None = None,
        *,
        counts: Any = None,
        minority: Any = None,
        mode: str = "minority",
        alpha: float = 0.2,
        beta: float = 0.2,
        count_threshold: float | None = None,
        p: float = 1.0,
        per_sample_lam: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.groups = check_optional_groups(groups)
        self.register_buffer(
            "minority", _minority(self.groups, counts, minority, count_threshold), persistent=False
        )
        self.mode, self.alpha, self.beta, self.p = _check_options(mode, alpha, beta, p)
        self.per_sample_lam = bool(per_sample_lam)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.validate_args = bool(validate_args)
        #: The CPU generator every draw comes from (save its state to resume).
        self.generator = _generator(seed, generator)

    def forward(
        self, images: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix a batch; return ``(images, soft_targets)`` on the batch's device."""
        n = images.shape[0] if isinstance(images, torch.Tensor) and images.ndim else 0
        if self.validate_args:
            if not isinstance(images, torch.Tensor):
                raise TypeError(
                    f"Expected `images` to be a torch.Tensor, but got {type(images).__name__}."
                )
            check_floating(images, "images")
            if images.ndim == 0:
                raise ValueError("Expected `images` of shape (N, *), but got a 0-d tensor.")
            target = as_tensor(target, "target")
            check_same_device(images, target, "images", "target")
        if self.groups is None:
            target = as_tensor(target, "target")
            check_shape(target, "target", (n, self.minority.numel()), "(N, C)")
            if self.validate_args and not target.is_floating_point():
                check_multi_hot(target, ignore_index=self.ignore_index)
            soft = target.float()
        else:
            soft, _ = check_target(
                target,
                self.groups,
                "target",
                num_samples=n,
                ignore_index=self.ignore_index,
                validate_args=self.validate_args,
            )
        if self.mode == "none":
            return images, soft
        candidates = minority_mask(
            soft, self.groups, minority=self.minority, ignore_index=self.ignore_index,
            validate_args=False,
        )  # fmt: skip
        plan = mixup_plan(
            candidates,
            mode=self.mode,
            alpha=self.alpha,
            beta=self.beta,
            p=self.p,
            per_sample_lam=self.per_sample_lam,
            generator=self.generator,
        )
        return mixup(
            images,
            soft,
            self.groups,
            lam=plan.lam,
            partner=plan.partner,
            mask=plan.mask,
            ignore_index=self.ignore_index if self.groups is None else None,
            validate_args=False,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # see MixupCollator.__getstate__
        state["generator"] = _generator_bytes(self.generator)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(dict(state, generator=_restore_generator(state["generator"])))

    def extra_repr(self) -> str:
        """Summarise the options."""
        return (
            f"mode={self.mode!r}, alpha={self.alpha:g}, beta={self.beta:g}, p={self.p:g}, "
            f"minority={int(self.minority.sum())}/{self.minority.numel()} attributes"
        )
