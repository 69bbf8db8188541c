"""The grouped-softmax form of the asymmetric loss, computed in one pass over the padded layout.

Per group, with ``z = x - max(x)`` (the top attribute has ``z = 0``), ``e = exp(z)`` and ``R``
the sum of ``e`` over the other attributes: ``log p = z - log1p(R)``; ``1 - p`` is
``(1 + R - e) / (1 + R)`` off the top and ``R / (1 + R)`` at the top, and ``log(1 - p)`` is
``log1p(-p)`` off the top (where ``p <= 1/2``) and ``log(R) - log1p(R)`` at the top, so all keep
full relative precision however confident the group (no ``1 - p`` cancels). :class:`GroupedASLFunction`
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
from imbalml.functional.losses._padded import PaddedLayout, pad, pad_constants, unpad


def _padded_logits(x: torch.Tensor, layout: PaddedLayout, dtype: torch.dtype) -> torch.Tensor:
    """``(K, G, N)`` logits in ``dtype``, the padding far below every real logit."""
    fill, _ = pad_constants(layout.key, x.device, dtype)
    return pad(x, layout).to(dtype) + fill


def padded_log_probs(xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p`` and ``log(1 - p)`` of each group's softmax over axis 0, differentiable.

    The top attribute of each group is a two-way softmax of its logit against the log-sum-exp
    ``r`` of the others: ``log p = logsigmoid(x_top - r)``, ``log(1 - p) = logsigmoid(r -
    x_top)``. Every other attribute has ``p <= 1/2``, where ``x - logsumexp(x)`` and
    ``log1p(-p)`` are accurate.
    """
    top = xp.detach().argmax(0, keepdim=True)
    x_top = xp.gather(0, top)
    rest = torch.logsumexp(xp.scatter(0, top, -torch.inf), 0, keepdim=True)
    gap = x_top - rest
    log_p = (xp - torch.logaddexp(x_top, rest)).scatter(0, top, F.logsigmoid(gap))
    log_1mp = torch.log1p(-log_p.exp().scatter(0, top, 0.0)).scatter(0, top, F.logsigmoid(-gap))
    return log_p, log_1mp


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
    log_p, log_1mp = padded_log_probs(_padded_logits(x, layout, y.dtype))
    loss = asymmetric_reference(
        log_p.exp(), log_1mp.exp(), log_p, log_1mp, y, scale, options, pos_weight
    )
    return _finish(loss, layout, reduce)


def _softmax_chain(
    u: torch.Tensor, v: torch.Tensor, saved: tuple[torch.Tensor, ...], in_place: bool
) -> torch.Tensor:
    """Gradient of the logits from ``u = dL/d log p`` and ``v = dL/d log(1 - p)``.

    With ``s = 1 + R`` and ``rest_j = s - e_j`` (``R`` at the top ``t``)::

        dL/dx_i = u_i - p_i sum_j (u_j + v_j) + e_i sum_{j != i, t} v_j / rest_j
                  + [i != t] (e_i / R) v_t

    Every term is bounded (``rest_j >= 1`` off the top, ``e_i <= R`` off the top), so nothing
    large cancels however confident the group.
    """
    e, e_rest, p, rest, top_mask, top, big_r = saved
    uv = (u + v).sum(0)
    q = v.div(rest).masked_fill_(top_mask, 0.0)  # v_j / rest_j off the top
    grad = q.sum(0).sub(q).mul_(e)
    share = e_rest.div_(big_r) if in_place else e_rest / big_r  # e_i / R, 0 at the top
    grad.addcmul_(share, v.gather(0, top))
    grad.addcmul_(p, uv, value=-1.0)
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
        z = _padded_logits(x, layout, y.dtype)
        top_value, top = z.max(0, keepdim=True)
        z.sub_(top_value)
        top_mask = layout.slot == top
        e = z.exp()
        e_rest = e.masked_fill(top_mask, 0.0)
        big_r = e_rest.sum(0, keepdim=True)  # sum of the others, in units of the top's exp
        s = big_r + 1.0
        log_s = big_r.log1p()
        log_p = z.sub_(log_s)
        p = e / s
        rest = torch.where(top_mask, big_r, s - e)  # s - e_j, exactly R at the top
        one_minus_p = rest / s
        log_1mp = None
        if options.clip == 0:  # log1p(-p) off the top (p <= 1/2 there), log(R / s) at the top
            top_log = big_r.clamp(min=tiny).log_().sub_(log_s)
            log_1mp = torch.where(top_mask, top_log, p.neg().log1p_())
        need_grad = bool(ctx.needs_input_grad[0])
        loss, u, v = asymmetric_fused(p, one_minus_p, log_p, log_1mp, y, scale, options, need_grad)
        out = _finish(loss, layout, reduce)
        if u is not None and v is not None:
            saved = (e, e_rest, p, rest, top_mask, top, big_r.clamp_(min=tiny))
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
