"""The asymmetric loss elementwise: its plain statement and a fused value-and-gradient pass.

Both take ``p``, ``1 - p`` and their logs (whatever the probability model) and the target ``y``;
:func:`asymmetric_fused` also returns the derivatives with respect to ``log p`` and
``log(1 - p)``, which the sigmoid and grouped autograd Functions chain to the logits. The tests
hold the two formulations together.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


class AsymmetricOptions(NamedTuple):
    """The hyperparameters of the asymmetric loss (already checked)."""

    gamma_pos: float
    gamma_neg: float
    clip: float
    eps: float
    detach_focal_weight: bool

    @property
    def focusing(self) -> bool:
        """Whether a focusing weight applies (either exponent > 0)."""
        return self.gamma_pos > 0 or self.gamma_neg > 0


def _step(value: torch.Tensor) -> torch.Tensor:
    """``1.0`` where ``value > 0``, else ``0.0``, in place on ``value`` (a scratch tensor).

    A float indicator built without a bool tensor: on CPU, bool masks and ``where`` are several
    times slower than ``sign`` and ``clamp``.
    """
    return value.sign_().clamp_(min=0.0)


def _log_weight_floor(dtype: torch.dtype) -> float:
    """Log of the smallest focusing weight: the square root of the smallest normal float.

    The weights below it (about 1e-19 in float32) would scale an element's loss and gradient to
    nothing visible in any sum; flooring them keeps every product away from subnormal floats,
    which are many times slower on CPU (and so is an ``exp`` that underflows).
    """
    return 0.5 * math.log(torch.finfo(dtype).tiny)


def asymmetric_reference(
    p: torch.Tensor,
    one_minus_p: torch.Tensor,
    log_p: torch.Tensor,
    log_1mp: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    options: AsymmetricOptions,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Elementwise ASL from ``p``, ``1 - p`` and their logs, differentiable by autograd.

    ``mask`` multiplies the elementwise loss (missing labels and ``weight``); ``pos_weight``
    multiplies the positive term, as in ``binary_cross_entropy_with_logits``.
    """
    gamma_pos, gamma_neg, clip, eps, detach = options
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
    if options.focusing:
        base = torch.lerp(p_m, one_minus_p, y)  # 1 - p_t = y (1 - p) + (1 - y) p_m
        if detach:
            base = base.detach()
        exponent = gamma_neg + (gamma_pos - gamma_neg) * y
        # base ** exponent as exp(exponent * log(base)), base floored at the smallest normal
        # number: 0 ** 0 stays 1, and wherever base == 0 the log term above is exactly 0.
        weight = base.clamp(min=torch.finfo(base.dtype).tiny).log() * exponent
        weight = weight.clamp(min=_log_weight_floor(base.dtype)).exp()
        loss = loss * weight
    return loss if mask is None else loss * mask


def asymmetric_fused(
    p: torch.Tensor,
    one_minus_p: torch.Tensor,
    log_p: torch.Tensor,
    log_1mp: torch.Tensor | None,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    options: AsymmetricOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """:func:`asymmetric_reference` and its derivatives in one pass, for the autograd Functions.

    Returns the masked elementwise loss and, if ``need_grad``, its derivatives with respect to
    ``log p`` and ``log(1 - p)``. Runs with autograd off: intermediates are updated in place
    (fewer allocations, the main cost on CPU); the inputs are only read. ``log_1mp`` is only
    read when ``clip == 0`` (it may be ``None`` otherwise); ``log_p`` and ``log_1mp`` may be
    ``-inf`` where the probability underflows, as long as the ``eps`` clamp covers it. ``mask``
    may broadcast against the other tensors.
    """
    gamma_pos, gamma_neg, clip, eps, detach = options
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
    focusing = options.focusing
    exponent: float | torch.Tensor = gamma_pos
    if focusing:
        base = (p - clip).clamp_(min=0.0) if clip > 0 else p.clone()  # p_m
        base.lerp_(one_minus_p, y).clamp_(min=torch.finfo(p.dtype).tiny)  # 1 - p_t, floored
        if gamma_pos != gamma_neg:
            exponent = (y * (gamma_pos - gamma_neg)).add_(gamma_neg)
        weight = base.log().mul_(exponent).clamp_(min=_log_weight_floor(p.dtype)).exp_()
        if mask is not None:  # the mask folded into the weight scales loss and gradient alike
            weight.mul_(mask)
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
    if focusing and not detach:
        # d w / d base = exponent * w / base (base floored, so finite; where the floor is
        # active, base_loss is 0). base = y (1 - p) + (1 - y) max(p - m, 0).
        grad_base = base_loss.mul_(weight).div_(base).mul_(exponent).neg_()
        grad_log_1mp.addcmul_(grad_base, y * one_minus_p)
        d_base = (1.0 - y).mul_(p)
        if active is not None:
            d_base.mul_(active)
        grad_log_p.addcmul_(grad_base, d_base)
    if mask is not None and not focusing:
        grad_log_p.mul_(mask)
        grad_log_1mp.mul_(mask)
    return loss, grad_log_p, grad_log_1mp
