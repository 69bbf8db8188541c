"""Asymmetric loss (ASL) and focal loss, in the sigmoid and the grouped-softmax form.

Both are written on log-probabilities in plain PyTorch (log-sigmoid, or one log-softmax per
attribute group), so autograd differentiates them and ``torch.compile(fullgraph=True)`` compiles
them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from imbalml._layout_checks import parse_target
from imbalml._validation import check_number
from imbalml.functional.losses._common import (
    check_input,
    check_loss_options,
    compute_dtype,
    label_vector,
    reduce,
)
from imbalml.groups import AttributeGroups

__all__ = ["asymmetric_loss", "focal_loss"]


def check_asymmetric_options(gamma_pos: Any, gamma_neg: Any, clip: Any, eps: Any) -> None:
    """Check the hyperparameters of the asymmetric loss."""
    check_number(gamma_pos, "gamma_pos", low=0.0)
    check_number(gamma_neg, "gamma_neg", low=0.0)
    check_number(clip, "clip", low=0.0, high=1.0, high_inclusive=False)
    check_number(eps, "eps", low=0.0, high=1.0, high_inclusive=False)


def sigmoid_log_probs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p`` and ``log(1 - p)`` of ``p = sigmoid(x)``, both accurate for any finite ``x``."""
    return F.logsigmoid(x), F.logsigmoid(-x)


def softmax_log_probs(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p`` and ``log(1 - p)`` of one group's softmax over the last axis of ``z`` ``(N, K)``.

    ``1 - p`` is never formed by a subtraction from 1: for every attribute but the top one of
    a row, ``p <= 1/2`` and ``log1p(-p)`` is accurate; for the top one, ``1 - p`` is the sum of
    the others, a two-way softmax of the top logit against the log-sum-exp of the rest. So
    both stay finite and accurate however confident the group is.
    """
    top = z.argmax(-1, keepdim=True)
    z = z - z.gather(-1, top)  # the top logit becomes 0 (not detached: log p depends on it)
    is_top = torch.zeros_like(z, dtype=torch.bool).scatter(-1, top, True)
    rest = z.masked_fill(is_top, -math.inf).logsumexp(-1, keepdim=True)  # log sum of the others
    log_p = z - F.softplus(rest)  # log(1 + sum of the others) is the log-sum-exp of the group
    p_not_top = log_p.exp().masked_fill(is_top, 0.0)
    log_1mp = torch.where(is_top, F.logsigmoid(rest), torch.log1p(-p_not_top))
    return log_p, log_1mp


def asymmetric_elementwise(
    log_p: torch.Tensor,
    log_1mp: torch.Tensor,
    y: torch.Tensor,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    eps: float,
    detach_focal_weight: bool,
    pos_weight: torch.Tensor | None,
) -> torch.Tensor:
    """The asymmetric loss of each entry from ``log p``, ``log(1 - p)`` and targets ``y``."""
    p, one_minus_p = log_p.exp(), log_1mp.exp()
    if clip > 0:
        # log(1 - p_m) = log(min(1 - p + m, 1)): 1 - p is accurate, and adding m cancels nothing.
        log_neg = torch.log(one_minus_p + clip).clamp(max=0.0)
        p_m = (p - clip).clamp(min=0.0)
    else:
        log_neg, p_m = log_1mp, p
    log_pos = log_p
    if eps > 0:  # log(max(p, eps)) == max(log p, log eps), with zero gradient where clamped
        log_pos, log_neg = log_p.clamp(min=math.log(eps)), log_neg.clamp(min=math.log(eps))
    positive = y * log_pos if pos_weight is None else pos_weight * y * log_pos
    loss = -(positive + (1.0 - y) * log_neg)
    if gamma_pos > 0 or gamma_neg > 0:
        base = y * one_minus_p + (1.0 - y) * p_m  # 1 - p_t
        if detach_focal_weight:
            base = base.detach()
        exponent = gamma_neg + (gamma_pos - gamma_neg) * y
        # base ** exponent as exp(exponent * log(base)) with base floored at the smallest normal
        # float: 0 ** 0 stays 1 and the gradient is finite for any exponent >= 0. Weights below
        # the square root of that floor (about 1e-19 in float32) are raised to it: no visible
        # digit changes, and no subnormal float (slow on the CPU) enters the computation.
        tiny = torch.finfo(base.dtype).tiny
        log_weight = (base.clamp(min=tiny).log() * exponent).clamp(min=0.5 * math.log(tiny))
        loss = loss * log_weight.exp()
    return loss


def asymmetric(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    eps: float,
    detach_focal_weight: bool,
    weight: torch.Tensor | None,
    pos_weight: torch.Tensor | None,
    ignore_index: int,
    reduction: str,
    validate_args: bool,
    check_weights: bool = True,
) -> torch.Tensor:
    """:func:`asymmetric_loss` with checked hyperparameters.

    ``validate_args`` checks the values of ``input`` and ``target``; ``check_weights`` those of
    ``weight`` and ``pos_weight`` (a module checked its buffers once, when built).
    """
    input = check_input(input, groups, validate_args)
    n, c = input.shape
    x = input.to(compute_dtype(input))
    y, valid = parse_target(
        target, groups, num_samples=n, num_labels=c, ignore_index=ignore_index,
        dtype=x.dtype, validate_args=validate_args,
    )  # fmt: skip
    w = label_vector(weight, x, groups, "weight", check_weights)
    pw = label_vector(pos_weight, x, groups, "pos_weight", check_weights)
    if groups is None:
        log_p, log_1mp = sigmoid_log_probs(x)
    else:  # one log-softmax per group, concatenated back into (N, C)
        pairs = [softmax_log_probs(x_g) for x_g in groups.split(x)]
        log_p = torch.cat([lp for lp, _ in pairs], 1)
        log_1mp = torch.cat([lq for _, lq in pairs], 1)
    loss = asymmetric_elementwise(
        log_p, log_1mp, y, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, eps=eps,
        detach_focal_weight=detach_focal_weight, pos_weight=pw,
    )  # fmt: skip
    if w is not None:
        loss = loss * w
    if groups is not None:  # each sample's loss per group: (N, G)
        loss = torch.stack([segment.sum(1) for segment in groups.split(loss)], 1)
    count = valid.to(x.dtype)  # (N, C) labels present, or (N, G) groups labelled
    return reduce(loss * count, count, reduction)


def asymmetric_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None = None,
    *,
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    detach_focal_weight: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Asymmetric loss (ASL, Ben-Baruch et al. 2021) on sigmoid or grouped-softmax probabilities.

    With :math:`p` the probability of an attribute, :math:`p_m = \max(p - m, 0)` the shifted
    probability of a negative (``clip`` :math:`= m`) and :math:`y \in [0, 1]` the target:

    .. math::
        \ell = -\left(y \log p + (1 - y) \log(1 - p_m)\right)
               \left(1 - p_t\right)^{\gamma_+ y + \gamma_- (1 - y)},
        \qquad 1 - p_t = y (1 - p) + (1 - y)\, p_m .

    For hard targets this is :math:`-(1-p)^{\gamma_+} \log p` on positives and
    :math:`-p_m^{\gamma_-} \log(1 - p_m)` on negatives; soft targets interpolate exactly as the
    reference implementation does. ``p = sigmoid(input)`` when ``groups`` is ``None`` (the paper's
    form; ``reduction="sum"`` equals ``timm.loss.AsymmetricLossMultiLabel``, which sums),
    otherwise one softmax per attribute group (the fashion report's form).

    Label weights work as in ``torch.nn.functional.binary_cross_entropy_with_logits``:
    ``pos_weight`` :math:`w^+_c` multiplies the positive term and ``weight`` :math:`w_c` the whole
    elementwise loss, without renormalisation,

    .. math::
        \ell_{nc} = -w_c \left(w^+_c\, y \log p\, (1 - p)^{\gamma_+}
        + (1 - y) \log(1 - p_m)\, p_m^{\gamma_-}\right)

    (for hard targets), so :func:`imbalml.class_weights` with ``groups=None`` (negatives /
    positives per label) gives BCE's usual ``pos_weight``.

    Reduction (the same for every imbalml loss but Dice): ``"none"`` gives ``(N,)``, each
    sample's loss summed over its labels (``groups=None``) or attribute groups, missing labels
    contributing 0; ``"sum"`` the total; ``"mean"`` for each label (or group) the mean over the
    samples that carry a label there, summed over labels (or groups): ``loss.sum() / N`` when
    every label is present. (BCE's ``"mean"`` divides by ``N * C`` instead.)

    Numerics: the computation runs in float32 for half-precision input (float64 stays float64),
    on log-probabilities: log-sigmoid, or for the grouped form one log-softmax per group whose
    top attribute's :math:`\log(1 - p)` is the log-sum-exp of the others (never ``1 - p``), so
    :math:`\log p` and :math:`\log(1 - p)` keep full precision however confident the
    prediction; :math:`1 - p_m = \min(1 - p + m, 1)` involves no cancellation. The reference's
    clamp of the log arguments at ``eps`` is kept exactly, in log space:
    :math:`\log \max(p, \epsilon) = \max(\log p, \log \epsilon)`, with zero gradient where it is
    active; ``eps=0`` disables it. Finite logits of any magnitude, in any dtype or under
    autocast, give finite values and gradients. The focusing power :math:`(1 - p_t)^\gamma` is
    :math:`\exp(\gamma \log \max(1 - p_t, \text{tiny}))`, so :math:`0^0 = 1` and the gradient
    stays finite for any :math:`\gamma \ge 0`; weights below the square root of the smallest
    normal float (about :math:`10^{-19}` in float32) are raised to it. Autograd computes the
    gradient (with respect to ``target`` too, for a target that requires one).

    Checks: hyperparameters, shapes and dtypes are always checked (in Python, no device
    access). With ``validate_args=True`` (default) the values are checked too, without ever
    stalling a device: on the CPU in eager mode in full, each error naming the position of the
    first bad entry (a NaN or infinite logit, a label out of range, a negative weight); on an
    accelerator or under ``torch.compile`` a label or weight out of range is a device-side
    assertion (``torch._assert_async``, no synchronisation), and logits are not checked for
    finiteness (a non-finite logit gives a non-finite loss). With ``validate_args=False``
    nothing is checked; a label out of range then makes the loss NaN, never a different label.

    Args:
        input: Logits ``(N, C)``, any floating dtype.
        target: Sigmoid form: multi-hot or soft ``(N, C)`` in ``[0, 1]``, any real dtype
            (entries equal to ``ignore_index`` are missing). Grouped form: hard ``(N, G)``
            indices of any integer dtype, or soft ``(N, C)``.
        groups: ``None`` for the sigmoid form, or the label layout for the grouped-softmax form.
        gamma_pos: Focusing exponent of positives, :math:`\gamma_+ \ge 0`.
        gamma_neg: Focusing exponent of negatives, :math:`\gamma_- \ge 0`.
        clip: Probability margin :math:`m \in [0, 1)` shifted off the negatives (0 disables it).
        eps: Lower clamp of the probabilities inside the logs, in ``[0, 1)`` (0 disables it).
        weight: Per-label (per-attribute) weights ``(C,)``, ``>= 0``, multiplying the loss.
        pos_weight: Per-label weights ``(C,)``, ``>= 0``, of the positive term (sigmoid form:
            e.g. :func:`imbalml.class_weights` with ``groups=None``); integers are accepted.
        detach_focal_weight: Treat the focusing weight as a constant (no gradient through it),
            like the reference's ``disable_torch_grad_focal_loss``; done with ``detach``, so the
            caller's grad mode is never changed.
        ignore_index: Target value marking a missing label (-100, -1, 255, ...).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``, as described above.
        validate_args: Check the values of the tensors (see above).

    Returns:
        The loss: a float32 scalar (float64 for float64 input), or ``(N,)`` for ``"none"``.

    Raises:
        ValueError: For bad shapes or hyperparameters, or (``validate_args``, CPU) a bad target
            value, weight or non-finite logit.
        TypeError: For non-floating ``input`` or a ``groups`` that is not an AttributeGroups.

    Shape:
        - input: ``(N, C)``
        - target: ``(N, C)``, or ``(N, G)`` integer indices when ``groups`` is given
        - output: scalar, or ``(N,)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import asymmetric_loss
        >>> x = torch.tensor([[0.0, 2.0, -1.0], [3.0, -2.0, 0.5]])
        >>> y = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
        >>> asymmetric_loss(x, y, reduction="sum")  # the reference's sum
        tensor(1.3748)
        >>> asymmetric_loss(x, y)  # per sample, summed over labels: the sum / 2
        tensor(0.6874)
        >>> asymmetric_loss(x, y, reduction="none")
        tensor([1.1936, 0.1812])
        >>> groups = AttributeGroups([2, 3])
        >>> logits = torch.tensor([[2.0, 0.0, 0.1, -1.0, 3.0]])
        >>> asymmetric_loss(logits, torch.tensor([[0, 2]]), groups, gamma_pos=0.0)
        tensor(0.1977)
        >>> asymmetric_loss(x, y, pos_weight=[1, 3, 2], reduction="sum")
        tensor(1.5538)
    """
    groups = check_loss_options(groups, ignore_index, reduction)
    check_asymmetric_options(gamma_pos, gamma_neg, clip, eps)
    return asymmetric(
        input, target, groups, gamma_pos=float(gamma_pos), gamma_neg=float(gamma_neg),
        clip=float(clip), eps=float(eps), detach_focal_weight=bool(detach_focal_weight),
        weight=weight, pos_weight=pos_weight, ignore_index=ignore_index, reduction=reduction,
        validate_args=validate_args, check_weights=validate_args,
    )  # fmt: skip


def focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None = None,
    *,
    gamma: float = 2.0,
    eps: float = 0.0,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    detach_focal_weight: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Focal loss (Lin et al. 2017, without :math:`\alpha`), sigmoid or grouped.

    This is :func:`asymmetric_loss` with :math:`\gamma_+ = \gamma_- = \gamma` and no clip:

    .. math::
        \ell = -\left(y \log p + (1 - y) \log(1 - p)\right) \left(1 - p_t\right)^{\gamma}

    With the default ``eps=0`` and ``groups=None``, ``reduction="sum"`` equals
    ``torchvision.ops.sigmoid_focal_loss(input, target, alpha=-1, gamma=gamma, reduction="sum")``;
    with ``gamma=0`` it is ``binary_cross_entropy_with_logits``, ``weight`` and ``pos_weight``
    included. Arguments, shapes, reductions and checks are those of :func:`asymmetric_loss`.

    Example:
        >>> import torch
        >>> from imbalml.functional import focal_loss
        >>> focal_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]), gamma=2.0)
        tensor(1.8234)
    """
    check_number(gamma, "gamma", low=0.0)
    return asymmetric_loss(
        input, target, groups, gamma_pos=gamma, gamma_neg=gamma, clip=0.0, eps=eps,
        weight=weight, pos_weight=pos_weight, detach_focal_weight=detach_focal_weight,
        ignore_index=ignore_index, reduction=reduction, validate_args=validate_args,
    )  # fmt: skip
