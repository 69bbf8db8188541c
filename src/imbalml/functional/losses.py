r"""Losses for imbalanced multi-label and multi-attribute classification (pure functions).

Every loss takes flat logits ``(N, C)`` and computes in float32 (float64 for float64 input) from
log-probabilities, never from ``log(clamp(probability))`` of a low-precision probability, so
fp16/bf16 inputs, autocast and finite logits of any magnitude give finite values and gradients.
With ``validate_args=True`` (the default) a NaN or infinite logit is an error naming its position
(it is an upstream overflow, and would otherwise turn the loss into NaN); training loops that skip
validation on the hot path should check the loss with ``torch.isfinite``.

Two probability models are available wherever it makes sense (``groups=None`` or an
:class:`~imbalml.AttributeGroups`):

* **sigmoid** (``groups=None``): each of the ``C`` attributes is an independent binary label,
  :math:`p = \sigma(x)`; targets are multi-hot or soft ``(N, C)`` in ``[0, 1]``.
* **grouped softmax**: one softmax per attribute group; targets are hard ``(N, G)`` indices
  (``ignore_index`` marks a missing label) or soft ``(N, C)`` (each group segment sums to 1, or to
  0 for a missing label). Missing labels contribute nothing and are left out of means.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F

from imbalml._validation import (
    as_tensor,
    check_choice,
    check_finite,
    check_floating,
    check_groups,
    check_number,
    check_optional_groups,
    check_reduction,
    check_scores,
    check_shape,
    check_target,
)
from imbalml.functional.grouped import grouped_log_softmax
from imbalml.groups import AttributeGroups

__all__ = [
    "adjust_logits",
    "asymmetric_loss",
    "dice_loss",
    "focal_loss",
    "grouped_cross_entropy",
    "logit_adjusted_cross_entropy",
    "weighted_cross_entropy",
]

GROUP_REDUCTIONS = ("sum", "mean", "none")


# ---------------------------------------------------------------------------------------------
# private helpers


def _compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


@functools.lru_cache(maxsize=64)
def _padded_layout(
    sizes: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded per-group column index, its pad mask, and where the real entries sit.

    Returns the index ``(G, K)`` of each group's columns padded to ``K = max(sizes)``, the pad
    mask ``(G, K)``, and the positions ``(C,)`` of the real entries in the flat ``G * K`` layout.
    """
    k = max(sizes)
    index: list[list[int]] = []
    pad: list[list[bool]] = []
    keep: list[int] = []
    start = 0
    for g, size in enumerate(sizes):
        index.append([start + j if j < size else start for j in range(k)])
        pad.append([j >= size for j in range(k)])
        keep.extend(g * k + j for j in range(size))
        start += size
    return (
        torch.tensor(index, dtype=torch.long, device=device),
        torch.tensor(pad, dtype=torch.bool, device=device),
        torch.tensor(keep, dtype=torch.long, device=device),
    )


def _group_sum(values: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Sum ``(N, C)`` values within each group: ``(N, G)``."""
    index, pad, _ = _padded_layout(groups.sizes, values.device)
    return values[:, index].masked_fill(pad, 0.0).sum(-1)


def _grouped_log_probs(input: torch.Tensor, groups: AttributeGroups) -> tuple[torch.Tensor, ...]:
    """Per-group ``log p`` and ``log(1 - p)``, both ``(N, C)``, accurate for any logit gap.

    The top attribute of each group is a two-way softmax of its logit against the log-sum-exp
    ``r`` of the others: ``log p = logsigmoid(x_top - r)`` and ``log(1 - p) = logsigmoid(r -
    x_top)``, exact however close ``p`` is to 1. Every other attribute has ``p <= 1/2``, where
    ``x - logsumexp(x)`` and ``log1p(-p)`` are accurate.
    """
    index, pad, keep = _padded_layout(groups.sizes, input.device)
    n = input.shape[0]
    x = input[:, index].masked_fill(pad, -math.inf)  # (N, G, K)
    top = x.argmax(-1, keepdim=True)
    x_top = x.gather(-1, top)
    rest = torch.logsumexp(x.scatter(-1, top, -math.inf), -1, keepdim=True)
    gap = x_top - rest
    log_p = (x - torch.logaddexp(x_top, rest)).scatter(-1, top, F.logsigmoid(gap))
    log_1mp = torch.log1p(-log_p.exp().scatter(-1, top, 0.0)).scatter(-1, top, F.logsigmoid(-gap))
    flat = x.shape[1] * x.shape[2]
    return log_p.reshape(n, flat)[:, keep], log_1mp.reshape(n, flat)[:, keep]


def _ignore_mask(y: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Float mask, 1 where ``y != ignore_index``, for targets in ``[0, 1] | {ignore_index}``."""
    if ignore_index < 0:  # sign(y - ignore_index) is 1 on [0, 1] and 0 on ignore_index;
        return torch.sign(y - ignore_index)  # much faster on CPU than a bool mask and a cast
    if ignore_index > 1:
        return torch.sign(ignore_index - y)
    return (y != ignore_index).to(y.dtype)


def _check_sigmoid_target_shape(input: torch.Tensor, target: torch.Tensor) -> None:
    """The sigmoid form's target is ``(N, C)`` like ``input``; name ``groups`` for ``(N, G)``."""
    if tuple(target.shape) == tuple(input.shape):
        return
    hint = ""
    if target.ndim == 2 and target.shape[0] == input.shape[0] and target.shape[1] < input.shape[1]:
        if not target.is_floating_point() and target.dtype != torch.bool:
            hint = (
                " This looks like hard (N, G) attribute indices: pass `groups` (an "
                "imbalml.AttributeGroups) for the grouped form; without `groups` the target is "
                "multi-hot (N, C)."
            )
    raise ValueError(
        f"Expected `target` of shape (N, C) like `input` = {tuple(input.shape)} (plain "
        f"multi-label, groups=None), but got {tuple(target.shape)}.{hint}"
    )


def _sigmoid_args(
    input: Any, target: Any, ignore_index: int, validate: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Check and convert the sigmoid form's arguments.

    Returns ``(x, y, mask)``: logits and targets in the compute dtype, and a float mask of the
    non-ignored entries (``None`` when validation found none ignored).
    """
    input = as_tensor(input, "input")
    target = as_tensor(target, "target")
    any_ignored = True
    if validate:
        check_floating(input, "input")
        if input.ndim != 2:
            raise ValueError(
                f"Expected `input` of shape (N, C) (one logit per attribute), "
                f"but got {tuple(input.shape)}."
            )
        check_finite(input, "input")
        _check_sigmoid_target_shape(input, target)
        if target.is_complex():
            raise TypeError(f"Expected `target` with real values, but got dtype {target.dtype}.")
        t = target.detach()
        ignored = t == ignore_index
        bad = ((t < 0) | (t > 1)) & ~ignored
        if target.is_floating_point():
            bad |= torch.isnan(t)
        if bool(bad.any()):
            row, col = (int(v) for v in bad.nonzero()[0].tolist())
            raise ValueError(
                f"Expected `target` values in [0, 1] or ignore_index={ignore_index}, "
                f"but got {t[row, col].item():g} at row {row}, column {col}."
            )
        any_ignored = bool(ignored.any())
    dtype = _compute_dtype(input)
    x, y = input.to(dtype), target.to(dtype)
    if not any_ignored:
        return x, y, None
    mask = _ignore_mask(y, ignore_index)
    return x, y * mask, mask


def _grouped_args(
    input: Any,
    target: Any,
    groups: AttributeGroups,
    ignore_index: int,
    validate: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check and convert the grouped form's arguments.

    Returns ``(x, y, valid)``: logits, soft ``(N, C)`` targets and the bool ``(N, G)`` mask of
    the groups that carry a label.
    """
    input = as_tensor(input, "input")
    if validate:
        check_scores(input, groups, "input")
    y, valid = check_target(
        target, groups, "target", num_samples=input.shape[0], ignore_index=ignore_index,
        validate_args=validate,
    )  # fmt: skip
    dtype = _compute_dtype(input)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        y = target  # keep a float64 (or differentiable) soft target as it is
    return input.to(dtype), y.to(dtype), valid


def _attribute_mask(
    valid: torch.Tensor, groups: AttributeGroups, dtype: torch.dtype, validate: bool
) -> torch.Tensor | None:
    """Expand a bool ``(N, G)`` group mask to a float ``(N, C)`` mask.

    ``None`` when every group is labelled and ``validate`` already pays for a host sync.
    """
    if validate and bool(valid.all()):
        return None
    return valid[:, groups.group_index(valid.device)].to(dtype)


def _reduce(loss: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Reduce an already masked elementwise loss; the mean runs over the unmasked elements."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if mask is None:
        return total / max(loss.numel(), 1)
    return total / mask.sum().clamp(min=1)


def _check_attribute_vector(
    value: Any, name: str, num_attributes: int, *, positive: bool, attribute_names: Any = None
) -> torch.Tensor:
    """Check a per-attribute ``(C,)`` float tensor: finite, ``>= 0`` (or ``> 0``)."""
    value = as_tensor(value, name)
    check_floating(value, name)
    check_shape(value, name, (num_attributes,), "(C,)")
    check_finite(value, name)
    bad = value <= 0 if positive else value < 0
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        label = f" (attribute {attribute_names[i]!r})" if attribute_names is not None else ""
        raise ValueError(
            f"Expected `{name}` {'> 0' if positive else '>= 0'} for every attribute, "
            f"but got {value[i].item():g} at index {i}{label}."
        )
    return value


def _check_asl_hyper(gamma_pos: float, gamma_neg: float, clip: float, eps: float) -> None:
    check_number(gamma_pos, "gamma_pos", low=0.0)
    check_number(gamma_neg, "gamma_neg", low=0.0)
    check_number(clip, "clip", low=0.0, high=1.0, high_inclusive=False)
    check_number(eps, "eps", low=0.0, high=1.0, high_inclusive=False)


# ---------------------------------------------------------------------------------------------
# asymmetric loss


def _step(value: torch.Tensor) -> torch.Tensor:
    """``1.0`` where ``value > 0``, else ``0.0``, in place on ``value`` (a scratch tensor).

    A float indicator built without a bool tensor: on CPU, bool masks and ``where`` are several
    times slower than ``sign`` and ``clamp``.
    """
    return value.sign_().clamp_(min=0.0)


def _asymmetric_reference(
    p: torch.Tensor,
    one_minus_p: torch.Tensor,
    log_p: torch.Tensor,
    log_1mp: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    eps: float,
    detach_focal_weight: bool,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Elementwise ASL from ``p``, ``1 - p`` and their logs, differentiable by autograd.

    ``mask`` multiplies the elementwise loss (missing labels and ``weight``); ``pos_weight``
    multiplies the positive term, as in ``binary_cross_entropy_with_logits``.

    The plain statement of the loss (any probability model). :func:`_asymmetric_fused` computes
    the same values, with the gradient, in one pass; the tests hold the two together.
    """
    log_eps = math.log(eps) if eps > 0 else -math.inf
    if clip > 0:
        # log(1 - p_m) = log(min(1 - p + m, 1)): 1 - p is accurate, and adding m cancels nothing.
        log_neg = torch.log(one_minus_p + clip).clamp(max=0.0)
        p_m = (p - clip).clamp(min=0.0)
    else:
        log_neg, p_m = log_1mp, p
    if eps > 0:
        # log(max(p, eps)) == max(log p, log eps), gradient included (zero where clamped).
        log_pos, log_neg = log_p.clamp(min=log_eps), log_neg.clamp(min=log_eps)
    else:
        log_pos = log_p
    if pos_weight is None:
        loss = -torch.lerp(log_neg, log_pos, y)  # -(y log p + (1 - y) log(1 - p_m))
    else:
        loss = -(pos_weight * y * log_pos + (1.0 - y) * log_neg)
    if gamma_pos > 0 or gamma_neg > 0:
        base = torch.lerp(p_m, one_minus_p, y)  # 1 - p_t = y (1 - p) + (1 - y) p_m
        if detach_focal_weight:
            base = base.detach()
        exponent = gamma_neg + (gamma_pos - gamma_neg) * y
        # base ** exponent as exp(exponent * log(base)), base floored at the smallest normal
        # number: 0 ** 0 stays 1, and wherever base == 0 the log term above is exactly 0.
        weight = (base.clamp(min=torch.finfo(base.dtype).tiny).log() * exponent).exp()
        loss = loss * weight
    return loss if mask is None else loss * mask


def _asymmetric_fused(
    p: torch.Tensor,
    one_minus_p: torch.Tensor,
    log_p: torch.Tensor,
    log_1mp: torch.Tensor | None,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    eps: float,
    detach_focal_weight: bool,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """:func:`_asymmetric_reference` and its derivatives in one pass, for the autograd Function.

    Returns the masked elementwise loss and, if ``need_grad``, its derivatives with respect to
    ``log_p`` and ``log(1 - p)``. Runs with autograd off: intermediates are updated in place
    (fewer allocations, the main cost on CPU); the inputs are only read. ``log_1mp`` is only
    read when ``clip == 0`` (it may be ``None`` otherwise); ``log_p`` and ``log_1mp`` may be
    ``-inf`` where the probability underflows, as long as the ``eps`` clamp covers it.
    """
    log_eps = math.log(eps) if eps > 0 else -math.inf
    if clip > 0:
        shifted = one_minus_p + clip  # 1 - p + m
        base_loss = shifted.log().clamp_(max=0.0)  # log(1 - p_m) for now
        if eps > clip:
            base_loss.clamp_(min=log_eps)
    else:
        if log_1mp is None:
            log_1mp = one_minus_p.log()
        base_loss = log_1mp.clamp(min=log_eps) if eps > 0 else log_1mp.clone()
    base_loss.lerp_(log_p.clamp(min=log_eps) if eps > 0 else log_p, y)  # y log p + (1-y) log(1-p_m)
    focusing = gamma_pos > 0 or gamma_neg > 0
    exponent: float | torch.Tensor = gamma_pos
    if focusing:
        base = (p - clip).clamp_(min=0.0) if clip > 0 else p.clone()  # p_m
        base.lerp_(one_minus_p, y).clamp_(min=torch.finfo(p.dtype).tiny)  # 1 - p_t, floored
        if gamma_pos != gamma_neg:
            exponent = (y * (gamma_pos - gamma_neg)).add_(gamma_neg)
        weight = base.log().mul_(exponent).exp_()
        loss = (base_loss * weight).neg_()
    else:
        loss = base_loss.neg()
    if mask is not None:
        loss.mul_(mask)
    if not need_grad:
        return loss, None, None

    # Derivatives with the focusing weight held constant: -y w for log p, -(1 - y) w for
    # log(1 - p_m), which moves with log(1 - p) by (1 - p) / (1 - p + m) where p > m.
    grad_log_p = y * weight if focusing else y.clone()
    grad_log_1mp = grad_log_p - (weight if focusing else 1.0)
    grad_log_p.neg_()
    if eps > 0:
        grad_log_p.mul_(_step(log_p - log_eps))
    active: torch.Tensor | None = None  # 1 where p > m (where p_m and log(1 - p_m) move)
    if clip > 0:
        active = _step(p - clip)
        grad_log_1mp.mul_(one_minus_p).div_(shifted).mul_(active)
        if eps > clip:
            grad_log_1mp.mul_(_step(shifted.log_().sub_(log_eps)))
    elif eps > 0 and log_1mp is not None:
        grad_log_1mp.mul_(_step(log_1mp - log_eps))
    if focusing and not detach_focal_weight:
        # d w / d base = exponent * w / base (base floored, so finite; where the floor is
        # active, base_loss is 0). base = y (1 - p) + (1 - y) max(p - m, 0).
        grad_base = base_loss.mul_(weight).div_(base).mul_(exponent).neg_()
        grad_log_1mp.addcmul_(grad_base, y * one_minus_p)
        d_base = (1.0 - y).mul_(p)
        if active is not None:
            d_base.mul_(active)
        grad_log_p.addcmul_(grad_base, d_base)
    if mask is not None:
        grad_log_p.mul_(mask)
        grad_log_1mp.mul_(mask)
    return loss, grad_log_p, grad_log_1mp


def _asymmetric_autograd(
    first: torch.Tensor,
    second: torch.Tensor | None,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    options: dict[str, Any],
) -> torch.Tensor:
    """The loss through plain autograd (differentiable in every input, to any order)."""
    if second is None:
        p, one_minus_p = torch.sigmoid(first), torch.sigmoid(-first)
        log_p, log_1mp = F.logsigmoid(first), F.logsigmoid(-first)
    else:
        p, one_minus_p, log_p, log_1mp = first.exp(), second.exp(), first, second
    return _asymmetric_reference(p, one_minus_p, log_p, log_1mp, y, mask, **options)


class _AsymmetricLossFunction(torch.autograd.Function):
    """ASL whose derivatives are computed in the forward pass (one fused pass, one multiply back).

    ``first`` is the logits (sigmoid form, ``second is None``) or ``log p`` (grouped form, with
    ``second = log(1 - p)``). The target receives no gradient: callers use
    :func:`_asymmetric_autograd` when it requires one. Under ``create_graph=True`` the backward
    recomputes the gradient with autograd, so higher derivatives are exact too.
    """

    @staticmethod
    def forward(
        ctx: Any,
        first: torch.Tensor,
        second: torch.Tensor | None,
        y: torch.Tensor,
        mask: torch.Tensor | None,
        options: dict[str, Any],
    ) -> torch.Tensor:
        need_grad = bool(ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        ctx.sigmoid = second is None
        ctx.options = options
        log_1mp: torch.Tensor | None
        if second is None:
            # sigmoid(x) = 1 / (1 + exp(-x)) and 1 - sigmoid(x) = 1 / (1 + exp(x)): both to full
            # relative precision (no 1 - p), overflow gives exactly 0, and faster on CPU.
            p = first.neg().exp_().add_(1.0).reciprocal_()
            one_minus_p = first.exp().add_(1.0).reciprocal_()
            eps = options["eps"]
            if eps > 0 and math.log(eps) > math.log(torch.finfo(first.dtype).tiny):
                # The eps clamp covers every logit whose probability is not a normal float, so
                # log(sigmoid) is as good as log-sigmoid there, and cheaper.
                log_p, log_1mp = p.log(), None
            else:
                log_p, log_1mp = F.logsigmoid(first), F.logsigmoid(-first)
        else:
            log_p, log_1mp = first, second
            p, one_minus_p = first.exp(), second.exp()
        loss, grad_log_p, grad_log_1mp = _asymmetric_fused(
            p, one_minus_p, log_p, log_1mp, y, mask, need_grad=need_grad, **options
        )
        if grad_log_p is not None and grad_log_1mp is not None:
            if second is None:  # d log p / dx = 1 - p,  d log(1 - p) / dx = -p
                grad_log_p.mul_(one_minus_p).sub_(grad_log_1mp.mul_(p))
            ctx.save_for_backward(grad_log_p, grad_log_1mp, first, second, y, mask)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_first, grad_second, first, second, y, mask = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a differentiable recomputation
            inputs = [first] if second is None else [first, second]
            loss = _asymmetric_autograd(first, second, y, mask, ctx.options)
            grads = torch.autograd.grad(loss, inputs, grad_output, create_graph=True)
            return grads[0], grads[1] if second is not None else None, None, None, None
        if ctx.sigmoid:
            return grad_output * grad_first, None, None, None, None
        return grad_output * grad_first, grad_output * grad_second, None, None, None


def _label_weights(
    weight: Any,
    pos_weight: Any,
    groups: AttributeGroups | None,
    x: torch.Tensor,
    validate: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Check ``weight`` and ``pos_weight`` (each ``(C,)``, ``>= 0``); return them as ``(1, C)``."""
    out: list[torch.Tensor | None] = []
    names = groups.attribute_names if groups is not None else None
    for value, name in ((weight, "weight"), (pos_weight, "pos_weight")):
        if value is None:
            out.append(None)
            continue
        if validate:
            value = _check_attribute_vector(
                value, name, x.shape[1], positive=False, attribute_names=names
            )
        out.append(as_tensor(value, name).to(device=x.device, dtype=x.dtype).reshape(1, -1))
    return out[0], out[1]


def _scale(mask: torch.Tensor | None, weight: torch.Tensor | None) -> torch.Tensor | None:
    """The elementwise factor of the loss: the missing-label mask times the label weights."""
    if weight is None:
        return mask
    return weight if mask is None else mask * weight


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
    stays finite for any :math:`\gamma \ge 0`.

    The gradient with respect to ``input`` is computed in the same pass as the loss (a custom
    autograd function, one multiply in the backward pass). Second derivatives
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
        validate_args: Check shapes and target values (set ``False`` on hot paths).

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
    _check_asl_hyper(gamma_pos, gamma_neg, clip, eps)
    check_reduction(reduction)
    options: dict[str, Any] = {
        "gamma_pos": float(gamma_pos),
        "gamma_neg": float(gamma_neg),
        "clip": float(clip),
        "eps": float(eps),
        "detach_focal_weight": bool(detach_focal_weight),
    }
    mask: torch.Tensor | None
    groups = check_optional_groups(groups)
    first: torch.Tensor
    second: torch.Tensor | None
    if groups is None:
        x, y, mask = _sigmoid_args(input, target, ignore_index, validate_args)
        first, second = x, None
    else:
        x, y, valid = _grouped_args(input, target, groups, ignore_index, validate_args)
        mask = _attribute_mask(valid, groups, x.dtype, validate_args)
        first, second = _grouped_log_probs(x, groups)
    w, pw = _label_weights(weight, pos_weight, groups, x, validate_args)
    scale = _scale(mask, w)
    if y.requires_grad or pw is not None:  # plain autograd (a target that needs a gradient)
        loss = _asymmetric_autograd(first, second, y, scale, {**options, "pos_weight": pw})
    else:
        loss = _AsymmetricLossFunction.apply(first, second, y, scale, options)
    return _reduce(loss, mask, reduction)


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
    return asymmetric_loss(input, target, groups, gamma_pos=gamma, gamma_neg=gamma, clip=0.0, eps=eps, weight=weight, pos_weight=pos_weight, detach_focal_weight=detach_focal_weight, ignore_index=ignore_index, reduction=reduction, validate_args=validate_args)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# dice loss


def dice_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups | None = None,
    *,
    smooth: float = 1.0,
    eps: float = 1e-7,
    ignore_index: int = -100,
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Soft Dice loss per attribute, aggregated over the batch (segmentation-models-pytorch style).

    With probabilities :math:`p` (sigmoid, or softmax per group when ``groups`` is given) and
    targets :math:`t`, summed over the batch for each attribute :math:`c`:

    .. math::
        I_c = \tfrac12 \Big(\sum_n p_{nc} + \sum_n t_{nc} - \sum_n |p_{nc} - t_{nc}|\Big), \qquad
        \ell_c = 1 - \frac{I_c + s}{\max\big(\tfrac12 (\sum_n p_{nc} + \sum_n t_{nc}) + s,\ \epsilon\big)}

    :math:`I_c = \sum_n p_{nc} t_{nc}` for hard targets; the L1 form makes it exact for soft
    targets too (mixup). Missing labels (``ignore_index``, or an all-zero soft segment) are left
    out of the sums.

    **Attributes absent from the batch** (:math:`\sum_n t_{nc} = 0`) get loss 0 and no gradient,
    and are *left out of the mean*: ``"mean"`` averages over the attributes present in the batch
    (0 if none is), so the loss scale does not drift with how many rare attributes a batch
    happens to contain. (smp keeps them in the mean as zeros; its mean over ``C`` equals this
    ``"sum"`` divided by ``C``.) Without this rule the smoothing term would push the probability
    of every absent, typically rare, attribute down.

    Args:
        input: Logits ``(N, C)``.
        target: Sigmoid form: multi-hot or soft ``(N, C)``. Grouped form: hard ``(N, G)`` or soft
            ``(N, C)``.
        groups: ``None`` for sigmoid probabilities, or the layout for grouped-softmax ones.
        smooth: Additive smoothing :math:`s \ge 0` of numerator and denominator.
        eps: Lower clamp :math:`\epsilon > 0` of the denominator.
        ignore_index: Target value marking a missing label.
        reduction: ``"none"`` (per-attribute ``(C,)``, absent attributes 0), ``"sum"``, or
            ``"mean"`` over the present attributes.
        validate_args: Check shapes and target values.

    Returns:
        The loss: scalar, or ``(C,)`` for ``"none"``.

    Raises:
        ValueError: For bad shapes, target values or hyperparameters, or (with
            ``validate_args``) a NaN or infinite logit.

    Shape:
        - input: ``(N, C)``
        - target: ``(N, C)``, or ``(N, G)`` integer indices when ``groups`` is given
        - output: scalar, or ``(C,)`` for ``reduction="none"``

    Example:
        >>> import torch
        >>> from imbalml.functional import dice_loss
        >>> x = torch.tensor([[0.0, 2.0, -1.0], [3.0, -2.0, 0.5]])
        >>> y = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
        >>> dice_loss(x, y, reduction="none")  # the middle attribute is absent
        tensor([0.1004, 0.0000, 0.1661])
        >>> dice_loss(x, y)  # mean over the 2 present attributes
        tensor(0.1333)
    """
    check_number(smooth, "smooth", low=0.0)
    check_number(eps, "eps", low=0.0, low_inclusive=False)
    check_reduction(reduction)
    mask: torch.Tensor | None
    groups = check_optional_groups(groups)
    if groups is None:
        x, y, mask = _sigmoid_args(input, target, ignore_index, validate_args)
        p = torch.sigmoid(x)
    else:
        x, y, valid = _grouped_args(input, target, groups, ignore_index, validate_args)
        mask = _attribute_mask(valid, groups, x.dtype, validate_args)
        p = grouped_log_softmax(x, groups, validate_args=False).exp()
    if mask is not None:  # missing labels are left out of the sums
        p, y = p * mask, y * mask
    sum_p, sum_t = p.sum(0), y.sum(0)
    intersection = 0.5 * (sum_p + sum_t - (p - y).abs().sum(0))
    denominator = (0.5 * (sum_p + sum_t) + smooth).clamp(min=eps)
    present = (sum_t > 0).to(x.dtype)
    loss = (1.0 - (intersection + smooth) / denominator) * present
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / present.sum().clamp(min=1)


# ---------------------------------------------------------------------------------------------
# cross-entropy family


def grouped_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    group_reduction: str = "sum",
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Cross-entropy of each attribute group's softmax (optionally with per-attribute weights).

    For group :math:`g` with :math:`K_g` attributes, log-probabilities :math:`\log p` from the
    group's softmax, weights :math:`w` and (smoothed) target :math:`\tilde t = (1 - \varepsilon) t
    + \varepsilon / K_g`, sample :math:`n` contributes

    .. math::
        \ell_{ng} = -\sum_{c \in g} w_c\, \tilde t_{nc} \log p_{nc}, \qquad
        L_g = \frac{\sum_n \ell_{ng}}{\sum_n \sum_{c \in g} w_c\, t_{nc}} \quad (\text{mean}).

    For hard targets each group's term equals
    ``F.cross_entropy(logits_g, target_g, weight=weight_g, label_smoothing=..., ignore_index=...,
    reduction=...)``: torch's weighted mean divides by the summed weight of the samples' labels,
    not by ``N``. Soft targets use the same formula with the expected label weight
    :math:`\sum_c w_c t_{nc}` in the denominator, so a one-hot soft target gives exactly the
    hard-target loss (torch's own probability-target mode divides by ``N`` instead). Missing labels
    contribute nothing. A group without any labelled sample (or of zero total weight) contributes
    0 to the mean, where torch would return NaN.

    The group terms are then combined by ``group_reduction``: ``"sum"`` (default; one
    cross-entropy per attribute group, added as in multi-task training), ``"mean"``, or
    ``"none"`` (keep a trailing group axis).

    Args:
        input: Logits ``(N, C)``.
        target: Hard ``(N, G)`` indices or soft ``(N, C)`` targets.
        groups: The label layout.
        weight: Per-attribute weights ``(C,)``, ``>= 0`` (e.g. from :func:`imbalml.class_weights`);
            ``None`` for the plain cross-entropy (:math:`w_c = 1`).
        label_smoothing: :math:`\varepsilon \in [0, 1]`, spread uniformly within each group.
        ignore_index: Hard-target value marking a missing label.
        group_reduction: ``"sum"``, ``"mean"`` or ``"none"`` over groups.
        reduction: ``"none"``, ``"sum"`` or ``"mean"`` over samples, as in torch.
        validate_args: Check shapes and values.

    Returns:
        Scalar; ``(G,)`` with ``group_reduction="none"``; ``(N,)`` with ``reduction="none"``;
        ``(N, G)`` with both ``"none"``.

    Raises:
        ValueError: For bad shapes, targets, weights or options, or (with ``validate_args``)
            a NaN or infinite logit.

    Shape:
        - input: ``(N, C)``
        - target: ``(N, G)`` integer or ``(N, C)`` float
        - weight: ``(C,)``

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import grouped_cross_entropy
        >>> groups = AttributeGroups([2, 3])
        >>> logits = torch.tensor([[2.0, 0.0, 0.1, -1.0, 3.0], [0.0, 1.0, 0.0, 0.0, 0.0]])
        >>> target = torch.tensor([[0, 2], [1, 0]])
        >>> grouped_cross_entropy(logits, target, groups, group_reduction="none")
        tensor([0.2201, 0.5847])
        >>> w = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0])
        >>> grouped_cross_entropy(logits, target, groups, weight=w)
        tensor(0.8514)
    """
    check_groups(groups)
    check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    check_choice(group_reduction, "group_reduction", GROUP_REDUCTIONS)
    check_reduction(reduction)
    x, y, valid = _grouped_args(input, target, groups, ignore_index, validate_args)
    log_p = grouped_log_softmax(x, groups, validate_args=False)
    if weight is not None:
        if validate_args:
            _check_attribute_vector(
                weight, "weight", groups.num_attributes, positive=False,
                attribute_names=groups.attribute_names,
            )  # fmt: skip
        w = as_tensor(weight, "weight").to(device=x.device, dtype=x.dtype)
        y_weighted = y * w
    else:
        y_weighted = y
    if label_smoothing > 0:
        sizes = torch.tensor(groups.sizes, dtype=x.dtype, device=x.device)
        uniform = (1.0 / sizes)[groups.group_index(x.device)]
        smoothed = torch.lerp(y, uniform.expand_as(y), label_smoothing)
        smoothed = smoothed * w if weight is not None else smoothed
    else:
        smoothed = y_weighted
    valid_groups = valid.to(x.dtype)
    per_sample = _group_sum(-smoothed * log_p, groups) * valid_groups  # (N, G)
    if reduction == "none":
        out = per_sample
    elif reduction == "sum":
        out = per_sample.sum(0)
    else:
        denominator = (_group_sum(y_weighted, groups) * valid_groups).sum(0)
        positive = denominator > 0
        out = torch.where(
            positive, per_sample.sum(0) / torch.where(positive, denominator, 1.0), 0.0
        )
    if group_reduction == "sum":
        return out.sum(-1)
    if group_reduction == "mean":
        return out.mean(-1)
    return out


def weighted_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    weight: torch.Tensor,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    group_reduction: str = "sum",
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    """:func:`grouped_cross_entropy` with required per-attribute weights ``(C,)``.

    The same kernel and arguments; ``weight`` (e.g. :func:`imbalml.class_weights`) is required
    here, so a configuration that meant to weight cannot silently train unweighted.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, class_weights
        >>> from imbalml.functional import weighted_cross_entropy
        >>> groups = AttributeGroups([2, 3])
        >>> w = class_weights(torch.tensor([30, 10, 5, 5, 10]), groups)
        >>> weighted_cross_entropy(torch.zeros(2, 5), torch.tensor([[0, 2], [1, 0]]), groups, weight=w)
        tensor(1.7918)
    """
    if weight is None:
        raise TypeError(
            "Expected `weight` to be a (C,) tensor of per-attribute weights, but got None "
            "(use grouped_cross_entropy for the unweighted loss)."
        )
    return grouped_cross_entropy(input, target, groups, weight=weight, label_smoothing=label_smoothing, ignore_index=ignore_index, group_reduction=group_reduction, reduction=reduction, validate_args=validate_args)  # fmt: skip


def _check_priors(priors: Any, groups: AttributeGroups) -> torch.Tensor:
    return _check_attribute_vector(
        priors, "priors", groups.num_attributes, positive=True,
        attribute_names=groups.attribute_names,
    )  # fmt: skip


def _check_tau(tau: Any, size: int) -> float | torch.Tensor:
    """``tau``: a number ``>= 0``, or a ``(size,)`` tensor of them (one per group or label)."""
    if isinstance(tau, (torch.Tensor, list, tuple)) or hasattr(tau, "__array__"):
        return _check_attribute_vector(tau, "tau", size, positive=False)
    return check_number(tau, "tau", low=0.0)


def adjust_logits(
    input: torch.Tensor,
    groups: AttributeGroups | None,
    *,
    priors: torch.Tensor,
    tau: float | torch.Tensor = 1.0,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Post-hoc logit adjustment (Menon et al. 2021), per group or per label.

    Grouped: :math:`z_c - \tau_g \log \pi_c` for attribute :math:`c` of group :math:`g`, so that
    the per-group argmax targets the balanced error. Because each group's softmax ignores
    constants, ``priors`` need not be normalised within a group (counts give the same result as
    frequencies). Plain multi-label (``groups=None``): :math:`z_c - \tau_c \log(\pi_c / (1 -
    \pi_c))` with :math:`\pi_c \in (0, 1)` the frequency of label :math:`c`'s positives, which
    moves each label's decision threshold from probability 1/2 to the prior (for :math:`\tau = 1`).

    Use it at evaluation on a model trained with a plain (unadjusted) loss. A model trained with
    :func:`logit_adjusted_cross_entropy` already has the adjustment built in: evaluate its raw
    logits. :func:`imbalml.tune_thresholds` chooses one :math:`\tau_g` per group on a validation
    split.

    Args:
        input: Logits ``(N, C)``.
        groups: The label layout, or ``None`` for plain multi-label.
        priors: Per-attribute prior ``(C,)`` (:func:`imbalml.class_priors`): strictly positive
            with ``groups``; in ``(0, 1)`` without.
        tau: Adjustment strength :math:`\tau \ge 0`: one number, or one per group ``(G,)``
            (``(C,)`` per label when ``groups`` is ``None``).
        validate_args: Check shapes and values.

    Returns:
        Adjusted logits ``(N, C)`` in the dtype of ``input``.

    Raises:
        ValueError: If ``priors`` or ``tau`` has the wrong shape or an out-of-range entry.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import adjust_logits
        >>> groups = AttributeGroups([2])
        >>> adjust_logits(torch.tensor([[1.0, 0.0]]), groups, priors=torch.tensor([0.9, 0.1]))
        tensor([[1.1054, 2.3026]])
        >>> adjust_logits(torch.tensor([[0.0, 0.0]]), None, priors=torch.tensor([0.5, 0.2]))
        tensor([[0.0000, 1.3863]])
    """
    groups = check_optional_groups(groups)
    input = as_tensor(input, "input")
    check_floating(input, "input")
    if input.ndim != 2:
        raise ValueError(f"Expected `input` of shape (N, C), but got {tuple(input.shape)}.")
    num_tau = input.shape[1] if groups is None else groups.num_groups
    tau = _check_tau(tau, num_tau)
    if groups is None:
        if validate_args:
            pri = _check_attribute_vector(priors, "priors", input.shape[1], positive=True)
            if bool((pri >= 1).any()):
                i = int((pri >= 1).nonzero()[0, 0])
                raise ValueError(
                    f"Expected `priors` in (0, 1) (the frequency of each label's positives) "
                    f"for groups=None, but got {pri[i].item():g} at index {i}."
                )
    elif validate_args:
        check_scores(input, groups, "input", finite=False)
        _check_priors(priors, groups)
    dtype = _compute_dtype(input)
    pri_t = as_tensor(priors, "priors").to(device=input.device, dtype=dtype)
    log_odds = pri_t.log() if groups is not None else pri_t.log() - torch.log1p(-pri_t)
    if isinstance(tau, torch.Tensor):
        tau_t = tau.to(device=input.device, dtype=dtype)
        if groups is not None:
            tau_t = tau_t[groups.group_index(input.device)]
        shift = tau_t * log_odds
    else:
        shift = tau * log_odds
    return (input.to(dtype) - shift).to(input.dtype)


def logit_adjusted_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    groups: AttributeGroups,
    *,
    priors: torch.Tensor,
    tau: float = 1.0,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    group_reduction: str = "sum",
    reduction: str = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al. 2021), one softmax per attribute group.

    .. math::
        \ell_{ng} = -\log \operatorname{softmax}_g\big(z_{n} + \tau \log \pi\big)_{y_{ng}}

    i.e. :func:`grouped_cross_entropy` of the logits shifted by :math:`\tau \log \pi` within
    each group. With :math:`\tau = 1` and ``priors`` set to the training counts this is the
    Balanced Softmax loss. Evaluate the trained model on its raw logits.

    Args:
        input: Logits ``(N, C)``.
        target: Hard ``(N, G)`` or soft ``(N, C)`` targets.
        groups: The label layout.
        priors: Per-attribute prior ``(C,)``, strictly positive (:func:`imbalml.class_priors`).
        tau: Adjustment strength :math:`\tau \ge 0` (0 gives plain cross-entropy).
        weight: Per-attribute weights ``(C,)``, as in :func:`grouped_cross_entropy`.
        label_smoothing: As in :func:`grouped_cross_entropy`.
        ignore_index: Hard-target value marking a missing label.
        group_reduction: ``"sum"``, ``"mean"`` or ``"none"`` over groups.
        reduction: ``"none"``, ``"sum"`` or ``"mean"`` over samples.
        validate_args: Check shapes and values.

    Returns:
        The loss, shaped as in :func:`grouped_cross_entropy`.

    Raises:
        ValueError: For bad shapes, targets, priors or options, or (with ``validate_args``)
            a NaN or infinite logit.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import logit_adjusted_cross_entropy
        >>> groups = AttributeGroups([2])
        >>> x, y = torch.zeros(1, 2), torch.tensor([[1]])
        >>> logit_adjusted_cross_entropy(x, y, groups, priors=torch.tensor([0.9, 0.1]))
        tensor(2.3026)
    """
    check_groups(groups)
    check_number(tau, "tau", low=0.0)
    input = as_tensor(input, "input")
    if validate_args:
        check_scores(input, groups, "input")
        _check_priors(priors, groups)
    dtype = _compute_dtype(input)
    log_priors = as_tensor(priors, "priors").to(device=input.device, dtype=dtype).log()
    shifted = input.to(dtype) + tau * log_priors
    return grouped_cross_entropy(
        shifted,
        target,
        groups,
        weight=weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        group_reduction=group_reduction,
        reduction=reduction,
        validate_args=validate_args,
    )
