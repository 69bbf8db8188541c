"""The random draws of one batch: whether it is mixed, ``lam``, and each row's partner."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from imbalml._validation import check_choice, check_number

__all__ = ["MIXUP_MODES", "MixupPlan", "mixup_plan"]


#: The mixup variants: mix minority images with any partner (the report's choice), mix every
#: image, mix minority images only with other minority images, or no mixing.
MIXUP_MODES = ("minority", "all", "minority_pairs", "none")


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
