"""Asymmetric loss (ASL) and focal loss, in the sigmoid and the grouped-softmax form."""

from __future__ import annotations

from typing import Any

import torch

from imbalml._validation import (
    as_tensor,
    check_number,
)
from imbalml.functional.losses._asymmetric_math import AsymmetricOptions
from imbalml.functional.losses._common import (
    check_loss_options,
    compute_dtype,
    label_weights,
    reduce,
    sigmoid_args,
)
from imbalml.functional.losses._grouped_asl import (
    GroupedASLFunction,
    HardGroupedASLFunction,
    grouped_asl_autograd,
    hard_kernel_applies,
)
from imbalml.functional.losses._padded import (
    check_grouped_args,
    layout_of,
    pad,
    padded_targets,
)
from imbalml.functional.losses._sigmoid_asl import SigmoidASLFunction, sigmoid_asl_autograd
from imbalml.groups import AttributeGroups

__all__ = ["asymmetric_loss", "focal_loss"]


def asymmetric_options(
    gamma_pos: Any, gamma_neg: Any, clip: Any, eps: Any, detach_focal_weight: Any, validate: bool
) -> AsymmetricOptions:
    """The hyperparameters as :class:`AsymmetricOptions`, range-checked when ``validate``."""
    if validate:
        check_number(gamma_pos, "gamma_pos", low=0.0)
        check_number(gamma_neg, "gamma_neg", low=0.0)
        check_number(clip, "clip", low=0.0, high=1.0, high_inclusive=False)
        check_number(eps, "eps", low=0.0, high=1.0, high_inclusive=False)
    return AsymmetricOptions(
        float(gamma_pos), float(gamma_neg), float(clip), float(eps), bool(detach_focal_weight)
    )


def asymmetric(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None,
    *,
    options: AsymmetricOptions,
    weight: torch.Tensor | None,
    pos_weight: torch.Tensor | None,
    ignore_index: int,
    reduction: str,
    validate_args: bool,
) -> torch.Tensor:
    """:func:`asymmetric_loss` with checked hyperparameters; ``validate_args`` checks tensors."""
    input = as_tensor(input, "input")
    device, dtype = input.device, compute_dtype(input)
    if groups is None:
        x, y, mask = sigmoid_args(input, target, ignore_index, validate_args)
        w, pw = label_weights(weight, pos_weight, None, x.shape[1], device, dtype, validate_args)
        scale = mask if w is None else (w if mask is None else mask * w)
        if y.requires_grad or pw is not None:  # plain autograd (a target that needs a gradient)
            loss = sigmoid_asl_autograd(x, y, scale, options, pw)
        else:
            loss = SigmoidASLFunction.apply(x, y, scale, options)
        return reduce(loss, mask, reduction)
    if validate_args:
        input, target = check_grouped_args(input, target, groups, ignore_index)
    w, pw = label_weights(
        weight, pos_weight, groups, groups.num_attributes, device, dtype, validate_args
    )
    layout = layout_of(groups, device)
    summed = reduction != "none"
    hard = summed and pw is None and not as_tensor(target, "target").is_floating_point()
    y, scale, count = padded_targets(
        input, target, groups, layout, dtype, ignore_index=ignore_index, weight=w,
        validate=validate_args, one_hot=not (hard and hard_kernel_applies(options)),
    )  # fmt: skip
    if y.ndim == 2:  # (G, N) hard labels: the kernel for hard targets
        loss = HardGroupedASLFunction.apply(input, y, scale, options, layout)
    elif y.requires_grad or pw is not None:
        pw_padded = None if pw is None else pad(pw.view(1, -1), layout)
        loss = grouped_asl_autograd(input, y, scale, options, layout, summed, pw_padded)
    else:
        loss = GroupedASLFunction.apply(input, y, scale, options, layout, summed)
    if reduction == "mean":
        return loss / (max(count, 1) if isinstance(count, int) else count.clamp(min=1))
    return loss


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
    form, equal to ``timm.loss.AsymmetricLossMultiLabel(reduction="sum")`` with
    ``reduction="sum"``), otherwise one softmax per attribute group (the fashion report's form).

    Label weights work as in ``torch.nn.functional.binary_cross_entropy_with_logits``:
    ``pos_weight`` :math:`w^+_c` multiplies the positive term and ``weight`` :math:`w_c` the whole
    elementwise loss,

    .. math::
        \ell_{nc} = -w_c \left(w^+_c\, y \log p\, (1 - p)^{\gamma_+}
        + (1 - y) \log(1 - p_m)\, p_m^{\gamma_-}\right)

    (for hard targets), so :func:`imbalml.class_weights` with ``groups=None`` (negatives /
    positives per label) gives BCE's usual ``pos_weight``. ``"mean"`` still divides by the number
    of non-ignored elements, as torch does. With ``pos_weight`` the loss is computed through plain
    autograd (same values, a slower backward pass).

    Numerics: the computation runs in float32 for half-precision input (float64 stays float64).
    :math:`p` and :math:`1 - p` are computed separately (:math:`1 / (1 + e^{\mp x})`, or for the
    grouped form a per-group log-softmax whose top attribute is a two-way softmax against the
    log-sum-exp of the others), never as ``1 - p``, so both keep full relative precision however
    confident the prediction; :math:`1 - p_m = \min(1 - p + m, 1)` then involves no cancellation.
    The reference's clamp of the log arguments at ``eps`` is kept exactly, in log space:
    :math:`\log \max(p, \epsilon) = \max(\log p, \log \epsilon)`, with zero gradient where it
    is active; ``eps=0`` disables it (log-sigmoid is used then). Consequences: with ``clip > 0``
    values equal the float32 reference to float32 precision; with ``clip = 0`` they are closer
    to a float64 evaluation than the reference, whose ``1 - sigmoid(x)`` loses digits as
    :math:`x` grows; and finite logits of any magnitude, in any dtype or under autocast, give finite
    values and gradients. The focusing power :math:`(1 - p_t)^\gamma` is evaluated as
    :math:`\exp(\gamma \log \max(1 - p_t, \text{tiny}))`, so :math:`0^0 = 1` and the gradient
    stays finite for any :math:`\gamma \ge 0`; weights below the square root of the smallest
    normal float (about :math:`10^{-19}` in float32) are raised to it, which changes no visible
    digit and keeps subnormal numbers (slow on CPU) out of the computation.

    The gradient with respect to ``input`` is computed in the same pass as the loss (a custom
    autograd function, one multiply in the backward pass; for the grouped form with
    ``reduction="none"`` the softmax chain rule runs in the backward pass). The grouped form
    works on all groups at once in a padded layout; summed hard targets with ``clip > 0``,
    ``eps <= clip`` and ``gamma_neg >= 1`` (the defaults) take a leaner kernel that treats the
    one positive of each group apart. Second derivatives
    (``create_graph=True``) and gradients with respect to a ``target`` that requires grad go
    through plain autograd instead, with identical values.

    Args:
        input: Logits ``(N, C)``, any floating dtype.
        target: Sigmoid form: multi-hot or soft ``(N, C)`` in ``[0, 1]`` (entries equal to
            ``ignore_index`` are ignored). Grouped form: hard ``(N, G)`` indices or soft ``(N, C)``.
        gamma_pos: Focusing exponent of positives, :math:`\gamma_+ \ge 0`.
        gamma_neg: Focusing exponent of negatives, :math:`\gamma_- \ge 0`.
        clip: Probability margin :math:`m \in [0, 1)` shifted off the negatives (0 disables it).
        eps: Lower clamp of the probabilities inside the logs, in ``[0, 1)`` (0 disables it).
        groups: ``None`` for the sigmoid form, or the label layout for the grouped-softmax form.
        weight: Per-label (per-attribute) weights ``(C,)``, ``>= 0``, multiplying the loss.
        pos_weight: Per-label weights ``(C,)``, ``>= 0``, of the positive term (sigmoid form:
            e.g. ``class_weights(label_counts(y), num_samples=len(y))``).
        detach_focal_weight: Treat the focusing weight as a constant (no gradient through it),
            like the reference's ``disable_torch_grad_focal_loss``; done with ``detach``, so the
            caller's grad mode is never changed.
        ignore_index: Target value marking a missing label.
        reduction: ``"none"`` (elementwise ``(N, C)``, ignored entries 0), ``"sum"`` or ``"mean"``
            (over the non-ignored elements, ``N * C`` when nothing is ignored; 0 if none).
        validate_args: Check the hyperparameters, shapes and target values (set ``False`` on
            hot paths: nothing is checked then).

    Returns:
        The loss: a float32 scalar (float64 for float64 input), or ``(N, C)`` for ``"none"``.

    Raises:
        ValueError: For bad shapes, target values or hyperparameters, or (with
            ``validate_args``) a NaN or infinite logit.
        TypeError: For non-floating ``input`` or a ``groups`` that is not an AttributeGroups.

    Shape:
        - input: ``(N, C)``
        - target: ``(N, C)``, or ``(N, G)`` integer indices when ``groups`` is given
        - output: scalar, or ``(N, C)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import asymmetric_loss
        >>> x = torch.tensor([[0.0, 2.0, -1.0], [3.0, -2.0, 0.5]])
        >>> y = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
        >>> asymmetric_loss(x, y, reduction="sum")  # the reference's sum
        tensor(1.3748)
        >>> groups = AttributeGroups([2, 3])
        >>> logits = torch.tensor([[2.0, 0.0, 0.1, -1.0, 3.0]])
        >>> asymmetric_loss(logits, torch.tensor([[0, 2]]), groups, gamma_pos=0.0)
        tensor(0.0395)
        >>> asymmetric_loss(x, y, pos_weight=torch.tensor([1.0, 3.0, 2.0]), reduction="sum")
        tensor(1.5538)
    """
    groups = check_loss_options(groups, ignore_index, reduction, validate_args)
    options = asymmetric_options(
        gamma_pos, gamma_neg, clip, eps, detach_focal_weight, validate_args
    )
    return asymmetric(
        input, target, groups, options=options, weight=weight, pos_weight=pos_weight,
        ignore_index=ignore_index, reduction=reduction, validate_args=validate_args,
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

    With the default ``eps=0`` and ``groups=None`` this equals
    ``torchvision.ops.sigmoid_focal_loss(input, target, alpha=-1, gamma=gamma)``; with ``gamma=0``
    it is ``binary_cross_entropy_with_logits``, ``weight`` and ``pos_weight`` included. Arguments,
    shapes and reductions are those of :func:`asymmetric_loss`.

    Example:
        >>> import torch
        >>> from imbalml.functional import focal_loss
        >>> focal_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]), gamma=2.0)
        tensor(0.9117)
    """
    if validate_args:
        check_number(gamma, "gamma", low=0.0)
    return asymmetric_loss(input, target, groups, gamma_pos=gamma, gamma_neg=gamma, clip=0.0, eps=eps, weight=weight, pos_weight=pos_weight, detach_focal_weight=detach_focal_weight, ignore_index=ignore_index, reduction=reduction, validate_args=validate_args)  # fmt: skip
