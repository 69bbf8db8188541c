"""Non-finite training losses: stop naming the step, or skip it, checked per step or on the device.

:func:`defer_nonfinite_check` decides where the check runs; :class:`NonFiniteSteps` keeps the
device-side record of a deferred epoch; :func:`report_nonfinite` stops or logs.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as dist

from .runtime import Runtime

log = logging.getLogger("fashion")


def defer_nonfinite_check(runtime: Runtime, optimizer: torch.optim.Optimizer, mode: str = "auto", *,
                          per_step_schedule: bool = False, on_nonfinite: str = "stop") -> bool:
    """Whether ``train_one_epoch`` checks losses on the device instead of at every step.

    ``mode`` is ``--nonfinite-check``: ``"step"`` reads the loss at every step; ``"deferred"``
    keeps the flags on the device (a ``ValueError`` where that cannot work); ``"auto"`` defers on
    CUDA with a fused optimizer and no fp16 scaler, where a step then never waits for the GPU.

    Deferred, a non-finite loss in any process (one all-reduce of a flag per step under DDP, on the
    device) sets the ``found_inf`` flag that fused optimizers read (the one ``torch.amp.GradScaler``
    sets), so every process's update leaves weights and moments untouched exactly as a skipped step
    does (:func:`skips_step_on_found_inf` checks that the optimizer honours it), and the flags are
    read once at the end of the epoch: ``stop`` raises there in every process, with the same message
    naming the first such step; ``skip`` logs it.

    A skipped step does not advance a per-batch learning-rate schedule (``per_step_schedule``): the
    host must then know at each step whether it was skipped, so ``skip`` with a per-batch schedule
    checks every step (``auto``) or is refused (``deferred``).
    """
    if mode == "step" or (mode == "auto" and runtime.device.type != "cuda"):
        return False
    reason = None
    if runtime.scaler.is_enabled():
        reason = "--amp fp16 (its GradScaler checks the gradients itself)"
    elif not skips_step_on_found_inf(optimizer):
        reason = f"a {type(optimizer).__name__} that does not skip its step on a device flag (not fused)"
    if mode == "deferred" and reason is not None:
        raise ValueError(
            f"Expected --nonfinite-check deferred with a fused optimizer and no fp16 scaler, but got "
            f"{reason}; use --nonfinite-check step or auto."
        )
    if per_step_schedule and on_nonfinite == "skip":  # the schedule steps only after a real step
        if mode == "deferred":
            raise ValueError(
                "Expected --nonfinite-check step or auto with --on-nonfinite skip and a per-batch "
                "schedule (a skipped step does not advance it, so each step's outcome is read on the "
                "host), but got --nonfinite-check deferred."
            )
        return False
    return reason is None


_SKIPS_ON_FOUND_INF: dict[tuple[type, str], bool] = {}


def skips_step_on_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` leaves weights and state alone while ``optimizer.found_inf`` is 1.

    The deferred check leans on one private hook of torch's fused optimizers: ``GradScaler`` hands
    them its inf flag as the attribute ``found_inf`` (with ``_step_supports_amp_scaling`` set), and
    they read it on the device. That assumption is tested here, once per optimizer class and
    device, on a throw-away two-element weight: a step with the flag at 1 must leave it unchanged
    and one with the flag at 0 must move it. An optimizer without the hook, or one that fails the
    test (a future torch), gets the per-step check.
    """
    if not getattr(optimizer, "_step_supports_amp_scaling", False):
        return False
    device = optimizer.param_groups[0]["params"][0].device
    key = (type(optimizer), str(device))
    if key not in _SKIPS_ON_FOUND_INF:
        _SKIPS_ON_FOUND_INF[key] = _probe_found_inf(type(optimizer), dict(optimizer.defaults), device)
    return _SKIPS_ON_FOUND_INF[key]


def _probe_found_inf(cls: type, defaults: dict[str, Any], device: torch.device) -> bool:
    try:
        weight = torch.ones(2, device=device, requires_grad=True)
        probe = cls([weight], **{**defaults, "lr": 0.1})
        moved = []
        for flag in (1.0, 0.0):
            weight.grad = torch.ones_like(weight)
            before = weight.detach().clone()
            probe.found_inf = torch.tensor(flag, device=device)
            probe.step()
            del probe.found_inf
            moved.append(not torch.equal(weight.detach(), before))
        return moved == [False, True]
    except Exception:  # an optimizer that cannot be rebuilt from its defaults: no deferral
        return False


class NonFiniteSteps:
    """Device-side record of the steps with a non-finite loss in any process.

    ``count`` such steps, the ``first``, the number of ``processes`` whose loss was non-finite
    there and that loss (``value``, summed over those processes: nan or inf). Identical in every
    process, so every process skips, stops and words its message alike.
    """

    def __init__(self, runtime: Runtime) -> None:
        device = runtime.device
        self.distributed = runtime.distributed
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.first = torch.full((), -1, dtype=torch.long, device=device)
        self.value = torch.zeros((), device=device)
        self.processes = torch.zeros((), dtype=torch.long, device=device)

    def record(self, loss: torch.Tensor, step: int) -> torch.Tensor:
        """Note one step's loss; returns the device flag "the loss is finite in every process".

        Under DDP this is one all-reduce per step, queued on the device like DDP's own (no host
        synchronisation), in the same order in every process.
        """
        bad = ~torch.isfinite(loss.detach())
        both = torch.stack([bad.float(), torch.where(bad, loss.detach().float(), 0.0)])
        if self.distributed:
            dist.all_reduce(both)  # sums: processes with a non-finite loss, and their losses
        finite = both[0] == 0
        new = ~finite & (self.first < 0)
        self.first = torch.where(new, step, self.first)
        self.value = torch.where(new, both[1], self.value)
        self.processes = torch.where(new, both[0].long(), self.processes)
        self.count += (~finite).long()
        return finite


def report_nonfinite(config: dict[str, Any], epoch: int, step: int, detail: str, more: int = 0) -> None:
    """Stop the run (``on_nonfinite: stop``) or log the skipped step(s)."""
    message = (
        f"non-finite training loss at epoch {epoch + 1}, step {step + 1} ({detail}); "
        f"check the learning rate, --amp, or the input data"
    )
    if config["on_nonfinite"] == "stop":
        raise FloatingPointError(message + "; set --on-nonfinite skip to skip such steps")
    log.warning("skipping step: %s%s", message, f"; {more} later step(s) of this epoch too" if more else "")
