"""Every loss under ``torch.compile(fullgraph=True)`` with its DEFAULT arguments.

The issue's target (issue 21, item 4): with default arguments no loss reads a device value back
to the host, so dynamo traces each one into a single graph. ``fullgraph=True`` turns any graph
break (a ``.item()``, ``bool(tensor)``, a data-dependent branch) into an error; that check is the
same for every backend, so the matrix uses ``backend="aot_eager"`` (which also traces the
backward pass, without the C++ compile time) and one representative case runs the default
inductor backend. Values and gradients are compared with eager execution.
"""

from __future__ import annotations

import pytest
import torch
from _integration_cases import LOSSES, LossCase, hard_target, logits, make_groups

import imbalml as im


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _value_and_grad(
    fn, x: torch.Tensor, *targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    losses = fn(x, *targets)
    (grad,) = torch.autograd.grad(losses.sum(), x)
    return losses.detach(), grad


def _check_compiled(fn, x: torch.Tensor, *targets: torch.Tensor, backend: str) -> None:
    """``fn(x, *targets)`` returns a stack of scalar losses; compiled == eager, values and grads."""
    eager_losses, eager_grad = _value_and_grad(fn, x, *targets)
    compiled = torch.compile(fn, fullgraph=True, backend=backend)
    losses, grad = _value_and_grad(compiled, x, *targets)
    assert bool(torch.isfinite(losses).all()) and bool(torch.isfinite(grad).all())
    assert grad.abs().sum() > 0
    torch.testing.assert_close(losses, eager_losses, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, eager_grad, rtol=1e-5, atol=1e-6)
    # A second batch of the same shapes runs the compiled graph again, with the same values.
    x2 = logits(x.shape[1], x.shape[0], seed=7)
    losses2, grad2 = _value_and_grad(compiled, x2, *targets)
    eager_losses2, eager_grad2 = _value_and_grad(fn, x2, *targets)
    torch.testing.assert_close(losses2, eager_losses2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad2, eager_grad2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", LOSSES, ids=repr)
def test_loss_compiles_fullgraph_with_default_arguments(case: LossCase) -> None:
    """The module on each target form it takes and the functional on the usual one, one graph.

    Grouped losses: hard ``(N, G)`` and soft ``(N, C)`` targets; plain (``groups=None``):
    multi-hot and soft ``(N, C)``. (One compiled function per loss, to keep the CPU time small.)
    """
    groups = make_groups()
    layout = groups if case.grouped else None
    criterion = case.make(layout)
    first, second = (case.target(form, groups) for form in case.forms)

    def losses(x: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        return torch.stack([criterion(x, y1), criterion(x, y2), case.function(x, y1, layout)])

    _check_compiled(losses, logits(groups.num_attributes), first, second, backend="aot_eager")


def test_grouped_asl_compiles_with_inductor() -> None:
    """The default backend, on the library's headline loss (the fashion report's setting)."""
    groups = make_groups()
    criterion = im.AsymmetricLoss(groups, gamma_pos=1.0, gamma_neg=4.0, clip=0.05)

    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return criterion(x, y).reshape(1)

    y = hard_target(groups)
    _check_compiled(loss, logits(groups.num_attributes), y, backend="inductor")
