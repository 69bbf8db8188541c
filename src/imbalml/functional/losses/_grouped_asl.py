"""The grouped-softmax form of the asymmetric loss, computed in one pass over the padded layout.

Per group, with ``z = x - max(x)`` (the top attribute has ``z = 0``), ``e = exp(z)`` and ``R``
the sum of ``e`` over the other attributes: ``log p = z - log1p(R)``; ``1 - p`` is
``(1 + R - e) / (1 + R)`` off the top and ``R / (1 + R)`` at the top, and ``log(1 - p)`` is
``log1p(-p)`` off the top (where ``p <= 1/2``) and ``log(R) - log1p(R)`` at the top, so all keep
full relative precision however confident the group (no ``1 - p`` cancels). Tied maxima are
all "top" (``c`` of them: ``1 + R`` becomes ``c + R``). Only float masks and arithmetic are
used: on CPU, bool masks, ``where``, ``max`` with indices and ``log1p`` cost several times a
multiply. :class:`GroupedASLFunction`
computes the loss and, in the same pass, its gradient through the softmax by hand;
:func:`grouped_asl_autograd` is the plain statement (two-way log-softmax, autograd), used for a
target that needs a gradient, for ``pos_weight``, for higher derivatives, and in the tests.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from imbalml.functional.losses._asymmetric_math import (
    AsymmetricOptions,
    asymmetric_fused,
    asymmetric_reference,
)
from imbalml.functional.losses._padded import PaddedLayout, pad, real_mask, unpad


def padded_log_probs(
    xp: torch.Tensor, real: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``p``, ``1 - p``, ``log p``, ``log(1 - p)`` of each group's softmax over axis 0.

    ``xp`` holds the padded logits (the padding repeats a real logit) and ``real`` marks the
    attributes; differentiable. The top attribute of each group is a two-way softmax of its
    logit against the log-sum-exp ``r`` of the others: ``log p = logsigmoid(x_top - r)``,
    ``log(1 - p) = logsigmoid(r - x_top)``. Every other attribute has ``p <= 1/2``, where
    ``x - logsumexp(x)`` and ``log1p(-p)`` are accurate. On the padding ``p = 0`` and every
    value is finite.
    """
    top = xp.detach().argmax(0, keepdim=True)  # the first maximum: never the padding
    x_top = xp.gather(0, top)
    others = xp.masked_fill(real == 0, -torch.inf).scatter(0, top, -torch.inf)
    rest = torch.logsumexp(others, 0, keepdim=True)
    gap = x_top - rest
    log_p = (xp - torch.logaddexp(x_top, rest)).scatter(0, top, F.logsigmoid(gap))
    p = log_p.exp() * real
    log_1mp = torch.log1p(-p.scatter(0, top, 0.0)).scatter(0, top, F.logsigmoid(-gap))
    return p, log_1mp.exp(), log_p, log_1mp


def _finish(loss: torch.Tensor, layout: PaddedLayout, reduce: bool) -> torch.Tensor:
    return loss.sum() if reduce else unpad(loss, layout).contiguous()


def grouped_asl_autograd(
    x: torch.Tensor,
    y: torch.Tensor,
    scale: torch.Tensor,
    options: AsymmetricOptions,
    layout: PaddedLayout,
    reduce: bool,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Grouped ASL through plain autograd: the sum, or the ``(N, C)`` elementwise loss.

    ``y``, ``scale`` (missing labels, label weights, 0 on the padding) and ``pos_weight`` are
    in the padded layout.
    """
    real = real_mask(layout.key, x.device, y.dtype)
    probs = padded_log_probs(pad(x, layout).to(y.dtype), real)
    loss = asymmetric_reference(*probs, y, scale, options, pos_weight)
    return _finish(loss, layout, reduce)


def _softmax_chain(
    u: torch.Tensor, v: torch.Tensor, saved: tuple[torch.Tensor, ...], in_place: bool
) -> torch.Tensor:
    """Gradient of the logits from ``u = dL/d log p`` and ``v = dL/d log(1 - p)``.

    With ``T`` the maximal attributes of a group (one unless tied), ``s`` the group's sum of
    ``e``, ``rest_j = s - e_j`` (``rho`` on ``T``) and ``q_j = v_j / rest_j`` off ``T`` (0 on
    ``T``)::

        dL/dx_i = u_i + e_i (sum_j q_j - sum_j (u_j + v_j) / s) - [i not in T] e_i q_i
                  + (e_i / rho) (sum_{j in T} v_j - [i in T] v_i)

    Every term is bounded (``rest_j >= 1`` off ``T``; ``e_i <= rho`` off ``T``; the last
    factor is exactly 0 on a lone maximum), so nothing large cancels however confident the
    group.
    """
    e, e_rest, s, rest, top, other, rho = saved
    uv = (u + v).sum(0, keepdim=True)
    q = (v * other).div_(rest)
    top_v = v * top
    common = q.sum(0, keepdim=True).sub_(uv.div_(s))
    share = e / rho
    grad = e.mul_(common) if in_place else e * common
    grad.addcmul_(e_rest, q, value=-1.0)
    top_sum = top_v.sum(0, keepdim=True)
    grad.addcmul_(share, top_v.neg_().add_(top_sum))
    return grad.add_(u)


class GroupedASLFunction(torch.autograd.Function):
    """Grouped ASL in one pass over the padded layout, gradient included.

    ``forward(x, y, scale, options, layout, reduce)``: ``x`` the ``(N, C)`` logits (any
    floating dtype), ``y`` and ``scale`` padded ``(K, G, N)`` (``scale`` may broadcast), in the
    compute dtype. Returns the sum (``reduce``) or the elementwise ``(N, C)`` loss. With
    ``reduce`` the gradient is computed in the forward pass and the backward is one multiply;
    without it the softmax chain runs in the backward pass. The target receives no gradient.
    Under ``create_graph=True`` the backward recomputes through :func:`grouped_asl_autograd`.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        scale: torch.Tensor,
        options: AsymmetricOptions,
        layout: PaddedLayout,
        reduce: bool,
    ) -> torch.Tensor:
        ctx.options, ctx.layout, ctx.reduce = options, layout, reduce
        tiny = torch.finfo(y.dtype).tiny
        real = real_mask(layout.key, x.device, y.dtype)
        z = pad(x, layout).to(y.dtype)  # a copy (the padding repeats a real logit)
        z.sub_(z.amax(0, keepdim=True))  # <= 0, and exactly 0 at each group's maximum
        top = z.sign().add_(1.0).mul_(real)  # 1 at the maximal attributes (ties: several)
        other = torch.rsub(top, 1.0)
        e = z.exp().mul_(real)  # 0 on the padding
        e_rest = e - top  # e off the maxima, exactly 0 at them (e = 1 there)
        big_r = e_rest.sum(0, keepdim=True)  # R, in units of the maximum's exp
        count = top.sum(0, keepdim=True)  # c
        s = big_r + count
        log_s = s.log().sub_((s - count).sub_(big_r).div_(s))  # log(R + c), as log1p for c = 1
        rho = (count - 1.0).add_(big_r).clamp_(min=tiny)  # rest of a maximum: exactly R if c = 1
        log_p = z.sub_(log_s)
        p = e / s
        rest = torch.sub(rho, e_rest).add_(other)  # s - e_j; rho at the maxima
        one_minus_p = rest / s
        log_1mp = None
        if options.clip == 0:
            # log(1 - p) = log(w) - (w - (1 - p)) / w to first order, for w = 1 - p rounded: off
            # the maxima (p <= 1/2) this recovers log1p(-p); at a lone maximum w = R / s is exact.
            log_1mp = one_minus_p.log()
            log_1mp.sub_((one_minus_p - 1.0).add_(p).div_(one_minus_p).mul_(other))
        need_grad = bool(ctx.needs_input_grad[0])
        loss, u, v = asymmetric_fused(p, one_minus_p, log_p, log_1mp, y, scale, options, need_grad)
        out = _finish(loss, layout, reduce)
        if u is not None and v is not None:
            saved = (e, e_rest, s, rest, top, other, rho)
            if reduce:
                grad = unpad(_softmax_chain(u, v, saved, in_place=True), layout)
                ctx.save_for_backward(x, y, scale, grad.to(x.dtype))
            else:
                ctx.save_for_backward(x, y, scale, u, v, *saved)
        return out

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, y, scale, *rest = ctx.saved_tensors
        none = (None,) * 5
        if torch.is_grad_enabled():  # create_graph=True: a differentiable recomputation
            loss = grouped_asl_autograd(x, y, scale, ctx.options, ctx.layout, ctx.reduce)
            (grad,) = torch.autograd.grad(loss, x, grad_output, create_graph=True)
            return (grad, *none)
        if ctx.reduce:
            return (grad_output * rest[0], *none)
        u, v, *saved = rest
        go = pad(grad_output, ctx.layout).to(u.dtype)
        grad = _softmax_chain(u * go, v * go, tuple(saved), in_place=False)
        return (unpad(grad, ctx.layout).to(x.dtype), *none)


def hard_kernel_applies(options: AsymmetricOptions) -> bool:
    """Whether :class:`HardGroupedASLFunction` computes these options (else the general one).

    It needs ``clip > 0`` with ``eps <= clip`` (the negatives' loss then has a bounded
    derivative in ``p`` and no active ``eps`` clamp) and ``gamma_neg >= 1``.
    """
    return options.clip > 0 and options.eps <= options.clip and options.gamma_neg >= 1


class HardGroupedASLFunction(torch.autograd.Function):
    """The summed grouped ASL of hard targets: one positive per group, the rest negatives.

    ``forward(x, labels, scale, options, layout)``: ``labels`` the ``(G, N)`` indices,
    ``scale`` padded (missing labels, label weights, padding). The negatives' loss
    ``-log(1 - p + m) p_m^gamma`` has a bounded derivative ``g`` in ``p`` (``clip = m > 0``),
    so their share of the gradient is the plain softmax chain ``p_i (g_i - sum_j p_j g_j)``,
    accurate for any logits; the one positive per group is computed on ``(G, N)`` tensors by
    :func:`asymmetric_fused`, with ``1 - p`` as the exact sum ``S`` of the other attributes.
    About half the operations of :class:`GroupedASLFunction` (see :func:`hard_kernel_applies`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        labels: torch.Tensor,
        scale: torch.Tensor,
        options: AsymmetricOptions,
        layout: PaddedLayout,
    ) -> torch.Tensor:
        ctx.options, ctx.layout = options, layout
        gamma_neg, clip, detach = options.gamma_neg, options.clip, options.detach_focal_weight
        tiny = torch.finfo(scale.dtype).tiny
        real = real_mask(layout.key, x.device, scale.dtype)
        z = pad(x, layout).to(scale.dtype)  # a copy (the padding repeats a real logit)
        z.sub_(z.amax(0, keepdim=True))
        e = z.exp().mul_(real)  # 0 on the padding
        labels = labels.unsqueeze(0)
        index = labels.clamp(min=0)  # a missing label (scale 0) reads slot 0
        negative = (layout.slot != labels).to(scale.dtype)
        e_neg = e * negative
        big_s = e_neg.sum(0, keepdim=True)  # S = sum of the non-target attributes
        e_y, z_y = e.gather(0, index), z.gather(0, index)
        s = big_s + e_y
        log_s = s.log().sub_((s - e_y).sub_(big_s).div_(s))  # rounding of s corrected
        p = e / s
        # negatives: -log(1 - p_m) p_m^gamma, 1 - p_m = min(1 - p + m, 1) >= m
        neg_scale = scale * negative
        shifted = torch.rsub(p, 1.0 + clip)
        log_neg = shifted.log().clamp_(max=0.0)
        p_m = (p - clip).clamp_(min=0.0)
        w_1 = p_m.pow(gamma_neg - 1.0)
        w = w_1 * p_m
        loss_neg = (log_neg * w).mul_(neg_scale).sum()
        # the positive of each group, on (1, G, N)
        pos_scale = scale.expand_as(e).gather(0, index)
        loss_pos, u, v = asymmetric_fused(
            e_y / s, big_s / s, z_y - log_s, None, torch.ones_like(e_y), pos_scale, options, True
        )
        ctx.save_for_backward(x, labels, scale)
        if ctx.needs_input_grad[0]:
            assert u is not None and v is not None
            g = w.div_(shifted)  # d loss_neg / dp (0 where p <= m: p_m = 0 and log_neg = 0)
            if not detach:
                g.addcmul_(log_neg, w_1, value=-gamma_neg)
            g.mul_(neg_scale)
            total = (p * g).sum(0, keepdim=True).add_(u).add_(v)
            grad = g.sub_(total).mul_(p)
            grad.addcmul_(torch.rsub(negative, 1.0), u)
            grad.addcmul_(e_neg, v.div_(big_s.clamp_(min=tiny)))
            ctx.grad = unpad(grad, layout).to(x.dtype)
        return loss_pos.sum() - loss_neg

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, labels, scale = ctx.saved_tensors
        none = (None,) * 4
        if torch.is_grad_enabled():  # create_graph=True: a differentiable recomputation
            y = (ctx.layout.slot == labels).to(scale.dtype)
            loss = grouped_asl_autograd(x, y, scale, ctx.options, ctx.layout, True)
            (grad,) = torch.autograd.grad(loss, x, grad_output, create_graph=True)
            return (grad, *none)
        return (grad_output * ctx.grad, *none)
