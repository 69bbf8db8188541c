"""The sigmoid form of the asymmetric loss: a fused autograd Function and its plain reference."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from imbalml.functional.losses._asymmetric_math import (
    AsymmetricOptions,
    asymmetric_fused,
    asymmetric_reference,
)


def sigmoid_asl_autograd(
    x: torch.Tensor,
    y: torch.Tensor,
    scale: torch.Tensor | None,
    options: AsymmetricOptions,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Elementwise ASL of ``p = sigmoid(x)`` through plain autograd (any order, any input)."""
    p, one_minus_p = torch.sigmoid(x), torch.sigmoid(-x)
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    return asymmetric_reference(p, one_minus_p, log_p, log_1mp, y, scale, options, pos_weight)


class SigmoidASLFunction(torch.autograd.Function):
    """Sigmoid ASL whose gradient is computed in the forward pass (one multiply backward).

    The target receives no gradient: callers use :func:`sigmoid_asl_autograd` when it requires
    one. Under ``create_graph=True`` the backward recomputes the gradient with autograd, so
    higher derivatives are exact too.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        scale: torch.Tensor | None,
        options: AsymmetricOptions,
    ) -> torch.Tensor:
        ctx.options = options
        # sigmoid(x) = 1 / (1 + exp(-x)) and 1 - sigmoid(x) = 1 / (1 + exp(x)): both to full
        # relative precision (no 1 - p), overflow gives exactly 0, and faster on CPU.
        p = x.neg().exp_().add_(1.0).reciprocal_()
        one_minus_p = x.exp().add_(1.0).reciprocal_()
        log_1mp: torch.Tensor | None
        if options.eps > 0 and math.log(options.eps) > math.log(torch.finfo(x.dtype).tiny):
            # The eps clamp covers every logit whose probability is not a normal float, so
            # log(sigmoid) is as good as log-sigmoid there, and cheaper.
            log_p, log_1mp = p.log(), None
        else:
            log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
        need_grad = bool(ctx.needs_input_grad[0])
        loss, grad_log_p, grad_log_1mp = asymmetric_fused(
            p, one_minus_p, log_p, log_1mp, y, scale, options, need_grad
        )
        if grad_log_p is not None and grad_log_1mp is not None:
            # d log p / dx = 1 - p,  d log(1 - p) / dx = -p
            grad = grad_log_p.mul_(one_minus_p).sub_(grad_log_1mp.mul_(p))
            ctx.save_for_backward(grad, x, y, scale)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad, x, y, scale = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a differentiable recomputation
            loss = sigmoid_asl_autograd(x, y, scale, ctx.options)
            (grad,) = torch.autograd.grad(loss, x, grad_output, create_graph=True)
            return grad, None, None, None
        return grad_output * grad, None, None, None
