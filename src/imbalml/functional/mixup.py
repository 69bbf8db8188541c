r"""Minority-aware mixup kernels: which attributes and images are minority, the draw, the mix.

The recipe (see :class:`imbalml.MixupCollator`): an attribute is *minority* when its training count
is at most a count threshold; an image is *minority* when any of its labels (plain multi-label: any
of its *positive* labels) is a minority attribute; per
batch, ``lam ~ Beta(alpha, beta)`` and a random partner ``pi(i)`` are drawn, and each selected
row becomes

.. math::
    x_i' = (1 - \lambda) x_i + \lambda x_{\pi(i)}, \qquad
    y_i' = (1 - \lambda) y_i + \lambda y_{\pi(i)},

so ``lam`` weights the **partner** (the convention of the fashion report). Rows that are not
selected pass through bit for bit.

The three steps are separate pure functions so that the CPU collator
(:class:`imbalml.MixupCollator`) and the on-device module (:class:`imbalml.BatchMixup`) share one
mechanism: :func:`minority_attributes` and :func:`minority_mask` decide who may be mixed,
:func:`mixup_plan` draws ``(lam, partner, mask)`` from a ``torch.Generator``, and :func:`mixup`
applies a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from imbalml._layout_checks import (
    check_counts,
    check_groups,
    check_hard_target,
    check_optional_groups,
    check_soft_target,
)
from imbalml._validation import (
    as_tensor,
    check_choice,
    check_finite,
    check_floating,
    check_multi_hot,
    check_number,
    check_same_device,
    check_shape,
    first_true,
)
from imbalml.groups import AttributeGroups

__all__ = [
    "MIXUP_MODES",
    "MixupPlan",
    "minority_attributes",
    "minority_mask",
    "mixup",
    "mixup_plan",
]

#: The mixup variants: mix minority images with any partner (the report's choice), mix every
#: image, mix minority images only with other minority images, or no mixing.
MIXUP_MODES = ("minority", "all", "minority_pairs", "none")


def minority_attributes(counts: Any, *, count_threshold: float | None = None) -> torch.Tensor:
    """Mark the attributes (labels) whose training count is at most ``count_threshold``.

    Args:
        counts: Per-attribute counts ``(C,)`` (tensor, array or list), e.g. from
            :func:`imbalml.label_counts`; for plain multi-label, the positives of each label.
        count_threshold: An attribute is minority when ``count <= count_threshold`` (a number of
            samples, not a frequency). Default: the mean count per attribute,
            ``counts.sum() / C`` (the fashion report's choice: 5000 images x 6 groups / 26
            attributes, about 1154).

    Returns:
        A bool tensor ``(C,)`` on the device of ``counts``.

    Raises:
        TypeError: If ``counts`` is not numeric or ``count_threshold`` not a real number.
        ValueError: If ``counts`` is not a non-empty 1-D array of finite non-negative values.

    Example:
        >>> from imbalml.functional import minority_attributes
        >>> fashion = [768, 853, 334, 422, 109, 2408, 106, 1523, 862, 2615, 488, 951, 3561,
        ...            2086, 826, 19, 2069, 310, 702, 3399, 105, 48, 436, 749, 279, 3972]
        >>> int(minority_attributes(fashion).sum())  # threshold 30000 / 26 = 1153.8
        18
        >>> minority_attributes([5, 1, 3], count_threshold=3)
        tensor([False,  True,  True])
    """
    counts = check_counts(counts)
    limit = (
        counts.mean()
        if count_threshold is None
        else check_number(count_threshold, "count_threshold")
    )
    return counts <= limit


def _rows(tensor: torch.Tensor) -> int:
    return tensor.shape[0] if tensor.ndim else 0


def check_minority(minority: Any, num_attributes: int | None) -> torch.Tensor:
    """Check a bool ``(C,)`` minority mask (``C`` free when ``num_attributes`` is None)."""
    minority = as_tensor(minority, "minority")
    if minority.dtype != torch.bool:
        raise TypeError(f"Expected `minority` to be a bool tensor, but got {minority.dtype}.")
    if num_attributes is None:
        if minority.ndim != 1 or minority.numel() == 0:
            raise ValueError(
                f"Expected `minority` of shape (C,) with C >= 1, but got {tuple(minority.shape)}."
            )
    else:
        check_shape(minority, "minority", (num_attributes,), "(C,)")
    return minority


def minority_mask(
    target: Any,
    groups: AttributeGroups | None = None,
    *,
    minority: Any,
    ignore_index: int = -100,
    validate_args: bool = True,
) -> torch.Tensor:
    """Mark the images that carry at least one minority attribute (plain: a minority positive).

    Args:
        target: Grouped: hard targets ``(N, G)`` (integer indices, ``ignore_index`` for a missing
            label) or soft targets ``(N, C)`` (an attribute counts where its value is nonzero, so
            a mixed image is minority when either source was). Plain multi-label
            (``groups=None``): multi-hot or mixed ``(N, C)``; only *positives* count (entries
            ``> 0``, not ``ignore_index``), so a frequent label's negatives never make an image
            minority.
        groups: The label layout, or ``None`` for plain multi-label.
        minority: Bool ``(C,)`` from :func:`minority_attributes`; moved to ``target``'s device.
        ignore_index: Label value marking a missing attribute (hard targets).
        validate_args: Check label ranges and soft-target sums (these checks read values back to
            the host; set ``False`` on a GPU hot path).

    Returns:
        A bool tensor ``(N,)`` on ``target``'s device.

    Raises:
        TypeError: If ``minority`` is not bool or ``target`` has an unsupported dtype.
        ValueError: If a shape does not match ``groups`` or a label is out of range.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import minority_mask
        >>> groups = AttributeGroups([2, 3])
        >>> minority = torch.tensor([False, True, False, False, True])
        >>> minority_mask(torch.tensor([[0, 0], [1, 0], [0, 2], [0, -100]]), groups, minority=minority)
        tensor([False,  True,  True, False])
        >>> minority_mask(torch.tensor([[1, 0, 0], [0, 0, 1], [1, 1, 0]]), minority=torch.tensor([False, True, True]))
        tensor([False,  True,  True])
    """
    groups = check_optional_groups(groups)
    target = as_tensor(target, "target")
    if groups is None:
        minority = check_minority(minority, None)
        if validate_args:
            check_shape(target, "target", (_rows(target), minority.numel()), "(N, C)")
            if not target.is_floating_point():
                check_multi_hot(target, ignore_index=ignore_index)
        else:
            check_shape(target, "target", (_rows(target), minority.numel()), "(N, C)")
        present = (target > 0) & (target != ignore_index)
        return (present & minority.to(target.device, non_blocking=True)).any(dim=1)
    minority = check_minority(minority, groups.num_attributes)
    if target.is_floating_point():
        if validate_args:
            check_soft_target(target, groups, "target")
        else:
            check_shape(target, "target", (_rows(target), groups.num_attributes), "(N, C)")
        present = target != 0
    else:
        if validate_args:
            check_hard_target(target, groups, "target", ignore_index=ignore_index)
        else:
            check_shape(target, "target", (_rows(target), groups.num_groups), "(N, G)")
        present = groups.to_one_hot(
            target, ignore_index=ignore_index, dtype=torch.bool, validate_args=False
        )
    return (present & minority.to(target.device, non_blocking=True)).any(dim=1)


def _check_options(
    mode: str, alpha: float, beta: float, p: float
) -> tuple[str, float, float, float]:
    """Check the mixup hyperparameters shared by :func:`mixup_plan` and the mixup classes."""
    check_choice(mode, "mode", MIXUP_MODES)
    alpha = check_number(alpha, "alpha", low=0.0, low_inclusive=False)
    beta = check_number(beta, "beta", low=0.0, low_inclusive=False)
    p = check_number(p, "p", low=0.0, high=1.0)
    return mode, alpha, beta, p


def _check_generator(generator: Any) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"Expected `generator` to be a torch.Generator, but got {type(generator).__name__}."
        )
    if generator.device.type != "cpu":
        raise ValueError(
            f"Expected `generator` on the CPU (mixup draws there and moves the draws), "
            f"but got one on {generator.device}."
        )
    return generator


class MixupPlan(NamedTuple):
    """The random draws for one batch, as returned by :func:`mixup_plan`.

    Attributes:
        lam: Partner weight, float32 on the CPU: shape ``()`` (one per batch) or ``(N,)``.
        partner: Long ``(N,)``: the row each row is mixed with (itself where ``mask`` is False).
        mask: Bool ``(N,)``: the rows that are mixed.

    Example:
        >>> import torch
        >>> from imbalml.functional import mixup_plan
        >>> plan = mixup_plan(torch.tensor([True, False, True, False]), mode="minority",
        ...                   generator=torch.Generator().manual_seed(0))
        >>> plan.mask
        tensor([ True, False,  True, False])
        >>> bool((plan.lam >= 0) & (plan.lam <= 1))
        True
    """

    lam: torch.Tensor
    partner: torch.Tensor
    mask: torch.Tensor


def mixup_plan(
    candidates: torch.Tensor,
    *,
    mode: str = "minority",
    alpha: float = 0.2,
    beta: float = 0.2,
    p: float = 1.0,
    per_sample_lam: bool = False,
    generator: torch.Generator,
) -> MixupPlan:
    r"""Draw which rows of a batch are mixed, with which partner, and by how much.

    Draws, in this order and always from ``generator`` (a CPU generator): one uniform number
    ``u`` (the batch is mixed when ``u < p``); a seed for ``numpy.random.Generator.beta``, which
    gives ``lam ~ Beta(alpha, beta)`` (one value, or ``N`` with ``per_sample_lam``); ``N`` float64
    sort keys, whose stable argsort is the random permutation of partners. The draws do not depend
    on ``candidates`` or on ``mode``, so the same seed gives the same ``lam`` and permutation in
    every mode and on every device. Only the keys travel to ``candidates``' device
    (non-blocking); nothing is read back, so the plan costs no device synchronisation.

    Modes:
        - ``"minority"``: rows with ``candidates`` True are mixed with a uniformly random
          permutation ``pi`` of the whole batch (the fashion report's choice);
        - ``"all"``: every row is mixed (``candidates`` only gives ``N`` and the device);
        - ``"minority_pairs"``: candidate rows are mixed with a random permutation *of the
          candidate rows*, so partners are candidates too (a single candidate is paired with
          itself and stays unchanged);
        - ``"none"``: nothing is mixed and nothing is drawn.

    A permutation may map a row to itself; such a row is "mixed" with itself and keeps its values
    (the report's behaviour, and mmpretrain's).

    Args:
        candidates: Bool ``(N,)``: the rows that may be mixed (e.g. from :func:`minority_mask`).
        mode: One of :data:`MIXUP_MODES`.
        alpha: First Beta parameter, > 0.
        beta: Second Beta parameter, > 0.
        p: Probability of mixing this batch at all.
        per_sample_lam: Draw one ``lam`` per row instead of one per batch.
        generator: A CPU ``torch.Generator``; the only source of randomness.

    Returns:
        A :class:`MixupPlan` ``(lam, partner, mask)``; ``partner`` and ``mask`` on ``candidates``'
        device, ``lam`` on the CPU.

    Raises:
        TypeError: If ``candidates`` is not bool or ``generator`` not a ``torch.Generator``.
        ValueError: If an option is out of range or ``generator`` is not on the CPU.

    Example:
        >>> import torch
        >>> from imbalml.functional import mixup_plan
        >>> g = torch.Generator().manual_seed(0)
        >>> candidates = torch.tensor([True, False, True, True])
        >>> plan = mixup_plan(candidates, mode="minority_pairs", generator=g)
        >>> plan.mask
        tensor([ True, False,  True,  True])
        >>> plan.partner  # candidates 0, 2, 3 permuted among themselves (0 drew itself)
        tensor([0, 1, 3, 2])
        >>> 0.0 <= float(plan.lam) <= 1.0
        True
    """
    mode, alpha, beta, p = _check_options(mode, alpha, beta, p)
    generator = _check_generator(generator)
    if not isinstance(candidates, torch.Tensor) or candidates.dtype != torch.bool:
        kind = (
            candidates.dtype if isinstance(candidates, torch.Tensor) else type(candidates).__name__
        )
        raise TypeError(f"Expected `candidates` to be a bool tensor, but got {kind}.")
    if candidates.ndim != 1:
        raise ValueError(f"Expected `candidates` of shape (N,), but got {tuple(candidates.shape)}.")
    n, device = candidates.shape[0], candidates.device
    identity = torch.arange(n, device=device)
    if mode == "none":
        lam0 = torch.zeros(n if per_sample_lam else (), dtype=torch.float32)
        return MixupPlan(lam0, identity, torch.zeros_like(candidates))

    apply = bool(torch.rand((), generator=generator) < p)
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    draws = np.random.default_rng(seed).beta(alpha, beta, size=n if per_sample_lam else None)
    lam = torch.as_tensor(np.asarray(draws, dtype=np.float32))
    keys = torch.rand(n, generator=generator, dtype=torch.float64)
    if device.type == "cuda":  # a copy from pageable memory would wait for the GPU's queue
        keys = keys.pin_memory()
    keys = keys.to(device, non_blocking=True)

    order = torch.argsort(keys, stable=True)  # a uniformly random permutation
    if mode == "minority_pairs":
        other = (~candidates).to(torch.uint8)
        # Candidates first: in index order (slots) and in random order (partners).
        slots = torch.argsort(other, stable=True)
        shuffled = order[torch.argsort(other[order], stable=True)]
        partner = torch.empty_like(order).scatter_(0, slots, shuffled)
    else:
        partner = order
    mask = torch.ones_like(candidates) if mode == "all" else candidates.clone()
    if not apply:
        mask.zero_()
    return MixupPlan(lam, torch.where(mask, partner, identity), mask)


def _check_plan(
    n: int, device: torch.device, lam: Any, partner: Any, mask: Any
) -> tuple[float | torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate ``(lam, partner, mask)`` for a batch of ``n`` rows on ``device``."""
    if not isinstance(partner, torch.Tensor) or partner.is_floating_point() or partner.is_complex():
        kind = partner.dtype if isinstance(partner, torch.Tensor) else type(partner).__name__
        raise TypeError(f"Expected `partner` to be an integer tensor, but got {kind}.")
    if partner.dtype == torch.bool:
        raise TypeError(f"Expected `partner` to be an integer tensor, but got {partner.dtype}.")
    check_shape(partner, "partner", (n,), "(N,)")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"Expected `mask` to be a bool tensor, but got {kind}.")
    check_shape(mask, "mask", (n,), "(N,)")
    if partner.device != device:
        raise ValueError(
            f"Expected `partner` on the device of `inputs` ({device}), but got {partner.device}."
        )
    if mask.device != device:
        raise ValueError(
            f"Expected `mask` on the device of `inputs` ({device}), but got {mask.device}."
        )
    outside = (partner < 0) | (partner >= n)
    if n and bool(outside.any()):
        (row,) = first_true(outside)
        raise ValueError(
            f"Expected `partner` indices in [0, {n - 1}], but got {int(partner[row])} at row {row}."
        )
    if isinstance(lam, torch.Tensor):
        check_floating(lam, "lam")
        if lam.ndim == 0:
            return check_number(float(lam), "lam", low=0.0, high=1.0), partner, mask
        check_shape(lam, "lam", (n,), "() or (N,)")
        check_finite(lam, "lam")
        outside = (lam < 0) | (lam > 1)
        if bool(outside.any()):
            (row,) = first_true(outside)
            raise ValueError(f"Expected `lam` in [0, 1], but got {float(lam[row]):g} at row {row}.")
        return lam, partner, mask
    return check_number(lam, "lam", low=0.0, high=1.0), partner, mask


def check_batch(value: Any, name: str, *, rows: bool = True) -> torch.Tensor:
    """Check a floating tensor; with ``rows``, one of shape ``(N, *)`` (at least one dimension)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(value).__name__}.")
    check_floating(value, name)
    if rows and value.ndim == 0:
        raise ValueError(f"Expected `{name}` of shape (N, *), but got a 0-d tensor.")
    return value


def _weight(lam: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """``lam`` as a ``torch.lerp`` weight for ``like``: a float, or ``(N, 1, ...)`` of its dtype."""
    if isinstance(lam, torch.Tensor):
        if lam.ndim == 0:
            return float(lam)
        shape = (lam.shape[0],) + (1,) * (like.ndim - 1)
        return lam.to(like.device, like.dtype, non_blocking=True).view(shape)
    return float(lam)


def _mix_targets(
    soft: torch.Tensor,
    lam: float | torch.Tensor,
    partner: torch.Tensor,
    mask: torch.Tensor,
    groups: AttributeGroups | None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Mix soft targets ``(N, C)``; with ``groups``, a segment missing on either side stays 0.

    Without ``groups``, an entry equal to ``ignore_index`` on either side stays ``ignore_index``.
    """
    mixed = torch.lerp(soft, soft[partner], _weight(lam, soft))
    if groups is not None:
        valid = torch.stack([s.sum(-1) for s in groups.split(soft)], -1) > 0
        both = (valid & valid[partner])[:, groups.group_index(soft.device)]
        mixed = torch.where(both, mixed, torch.zeros((), dtype=soft.dtype, device=soft.device))
    elif ignore_index is not None:
        ignored = soft == ignore_index
        mixed = torch.where(ignored | ignored[partner], float(ignore_index), mixed)
    return torch.where(mask[:, None], mixed, soft)


def mixup(
    inputs: torch.Tensor,
    soft_targets: torch.Tensor,
    groups: AttributeGroups | None = None,
    *,
    lam: float | torch.Tensor,
    partner: torch.Tensor,
    mask: torch.Tensor,
    ignore_index: int | None = None,
    validate_args: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mix the rows selected by ``mask`` with their partners; leave the others bit for bit.

    .. math::
        x_i' = \begin{cases} (1 - \lambda_i) x_i + \lambda_i x_{\pi(i)} & \text{mask}_i \\
        x_i & \text{otherwise} \end{cases}

    and the same for the targets. ``lam`` weights the partner. The interpolation is
    ``torch.lerp``, so ``lam = 0`` returns ``x_i`` and ``lam = 1`` returns ``x_{pi(i)}`` exactly
    (up to the sign of zero). Out of place, on any device, without reading values back to the host
    (with ``validate_args=False`` and ``lam`` a float, a CPU tensor or an ``(N,)`` tensor).

    With ``groups``, a group whose label is missing (all-zero segment) in either source row is
    missing (all zero) in the mixed row, so every segment still sums to 1 or 0; without ``groups``
    the targets are mixed linearly (multi-hot labels become soft ones), except that an entry
    equal to ``ignore_index`` (when given) in either source row stays ``ignore_index``.

    Args:
        inputs: Floating batch ``(N, ...)`` of any shape (images ``(N, 3, H, W)``, features).
        soft_targets: Floating targets ``(N, C)``.
        lam: Partner weight in [0, 1]: a float, a 0-d tensor (read with ``float()``), or one per
            row ``(N,)``.
        partner: Integer ``(N,)`` with values in ``[0, N)``, on ``inputs``' device.
        mask: Bool ``(N,)``, on ``inputs``' device.
        groups: The label layout, to keep missing labels missing (optional).
        ignore_index: Without ``groups``: the target value marking a missing label, kept as it
            is (default ``None``: no value is special).
        validate_args: Check dtypes, shapes and ranges (the range checks read values back to the
            host; set ``False`` on a GPU hot path).

    Returns:
        ``(mixed_inputs, mixed_targets)``, new tensors with the dtypes and device of the inputs.

    Raises:
        TypeError: If a tensor has the wrong dtype.
        ValueError: If a shape, device or range is wrong.

    Shape:
        - inputs: ``(N, *)``
        - soft_targets: ``(N, C)``
        - lam: ``()`` or ``(N,)``
        - partner, mask: ``(N,)``

    Example:
        >>> import torch
        >>> from imbalml.functional import mixup
        >>> x = torch.tensor([[0.0, 0.0], [4.0, 8.0], [1.0, 1.0]])
        >>> y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        >>> xm, ym = mixup(x, y, lam=0.25, partner=torch.tensor([1, 0, 0]),
        ...                mask=torch.tensor([True, False, False]))
        >>> xm
        tensor([[1., 2.],
                [4., 8.],
                [1., 1.]])
        >>> ym[0]
        tensor([0.7500, 0.2500])
    """
    if validate_args:
        check_batch(inputs, "inputs")
        check_batch(soft_targets, "soft_targets", rows=False)
        n = inputs.shape[0]
        if soft_targets.ndim != 2 or soft_targets.shape[0] != n:
            width = soft_targets.shape[-1] if soft_targets.ndim else "C"
            raise ValueError(
                f"Expected `soft_targets` of shape (N, C) = ({n}, {width}) to match `inputs`, "
                f"but got {tuple(soft_targets.shape)}."
            )
        if groups is not None:
            check_groups(groups)
            check_soft_target(soft_targets, groups, "soft_targets", num_samples=n)
        check_same_device(inputs, soft_targets, "inputs", "soft_targets")
        lam, partner, mask = _check_plan(n, inputs.device, lam, partner, mask)
    partner = partner.long()
    view = (inputs.shape[0],) + (1,) * (inputs.ndim - 1)
    mixed = torch.lerp(inputs, inputs[partner], _weight(lam, inputs))
    out = torch.where(mask.view(view), mixed, inputs)
    return out, _mix_targets(soft_targets, lam, partner, mask, groups, ignore_index)


def _stack_mixup(rows: Sequence[torch.Tensor], plan: MixupPlan, out: torch.Tensor) -> torch.Tensor:
    """Stack ``rows`` into ``out`` while applying ``plan``: :func:`mixup` fused with the stack.

    The collator's path: one pass over the batch (a copy for plain rows, one ``torch.lerp`` with
    the same weight as :func:`mixup` for mixed rows) instead of a stack followed by a mix. The plan
    must be on the CPU and valid (from :func:`mixup_plan`).
    """
    lam = plan.lam.tolist()
    partner = plan.partner.tolist()
    for i, selected in enumerate(plan.mask.tolist()):
        if selected:
            weight = lam[i] if isinstance(lam, list) else lam
            torch.lerp(rows[i], rows[partner[i]], weight, out=out[i])
        else:
            out[i].copy_(rows[i])
    return out
