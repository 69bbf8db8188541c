"""One epoch of training, evaluation on a labelled split, and prediction: the loops of the recipe."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from imbalml import AttributeGroups, GroupAccuracy, MeanClassAccuracy

from . import progress
from .nonfinite import NonFiniteSteps, defer_nonfinite_check, report_nonfinite
from .runtime import Runtime


def _forward(model: nn.Module, images: torch.Tensor, target: torch.Tensor, runtime: Runtime,
             channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch on the device (images channels-last where asked) through the model under autocast."""
    images = images.to(runtime.device, non_blocking=True)
    target = target.to(runtime.device, non_blocking=True)
    if channels_last and images.ndim == 4:  # not the frozen protocol's features
        images = images.contiguous(memory_format=torch.channels_last)
    with runtime.autocast():
        return model(images), target


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    batches: Any,
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    groups: AttributeGroups,
    epoch: int,
    config: dict[str, Any],
    step_scheduler: Any = None,
    ema: WeightAverage | None = None,
) -> dict[str, float]:
    """One pass over the training batches ``(images, soft_targets)``; returns loss and score.

    ``step_scheduler``, when given, is stepped after every optimizer step (per-batch schedules); a
    skipped step does not step it, and neither does it update ``ema`` (the weight average).

    The training score compares predictions with the dominant attribute of each (mixed) target.
    A non-finite loss stops the run with the step named, or (``on_nonfinite: skip``) skips the step;
    on CUDA the check is deferred to the end of the epoch (:func:`defer_nonfinite_check`), so the
    loop has no host synchronisation.

    ``train_loss`` is the loss of the global batch (all processes together): with a summed loss
    each process's backward is scaled by the number of processes, so that the gradient DDP
    averages is the gradient of the global batch's sum, as in a single-process run.
    """
    model.train()
    deferred = defer_nonfinite_check(runtime, optimizer, config.get("nonfinite_check", "auto"),
                                     per_step_schedule=step_scheduler is not None,
                                     on_nonfinite=config.get("on_nonfinite", "stop"))
    nonfinite = NonFiniteSteps(runtime)
    metric = MeanClassAccuracy(groups, validate_args=False).to(runtime.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)
    batches_done, skipped = 0, 0
    scale = runtime.world_size if getattr(criterion, "reduction", "mean") == "sum" else 1
    shown = progress.progress(batches, desc=f"epoch {epoch + 1} train", mode=_progress_mode(config, runtime))
    for step, (images, targets) in enumerate(shown):
        logits, targets = _forward(model, images, targets, runtime, config["channels_last"])
        loss = criterion(logits.float(), targets) * scale
        hard = groups.argmax(targets, validate_args=runtime.check_values)
        if deferred:  # no host read: the flag rides along on the device
            finite = nonfinite.record(loss, step)
            optimizer.found_inf = (~finite).float()  # type: ignore[attr-defined]
            loss_sum += torch.where(finite, loss.detach(), 0.0)
            hard = torch.where(finite, hard, metric.ignore_index)  # a skipped step is not scored
        elif not runtime.all_finite(loss):  # every process skips (or stops) together
            bad_logits = int((~torch.isfinite(logits)).sum())
            detail = f"loss {loss.item()}, {bad_logits} of {logits.numel()} logits non-finite"
            if runtime.distributed:
                detail = f"in one of {runtime.world_size} processes; process {runtime.rank}: {detail}"
            report_nonfinite(config, epoch, step, detail)
            skipped += 1
            optimizer.zero_grad(set_to_none=True)
            continue
        else:
            loss_sum += loss.detach()
        optimizer.zero_grad(set_to_none=True)
        runtime.scaler.scale(loss).backward()
        runtime.scaler.step(optimizer)
        runtime.scaler.update()
        if deferred:
            del optimizer.found_inf  # type: ignore[attr-defined]
        if step_scheduler is not None:
            step_scheduler.step()
        if ema is not None:
            ema.update()
        batches_done += 1
        metric.update(logits.detach(), hard)
    if deferred and int(nonfinite.count):  # the epoch's one read of the flags
        skipped = int(nonfinite.count)
        batches_done -= skipped
        detail = f"loss {float(nonfinite.value)}"
        if runtime.distributed:  # the same words in every process: all of them stop or skip
            detail += f" in {int(nonfinite.processes)} of {runtime.world_size} processes"
        report_nonfinite(config, epoch, int(nonfinite.first), detail, more=skipped - 1)
    total, count = runtime.all_sum(float(loss_sum), batches_done)
    return {  # an epoch whose every step was skipped has no loss and no score
        "train_loss": total / count if count else math.nan,
        "train_score": float(metric.compute()) if count else math.nan,
        "skipped_steps": skipped,
    }


class WeightAverage:
    """An exponential moving average of ``model``'s weights: timm's ``ModelEmaV3`` and its step count.

    The decay is warmed up as ``1 - (1 + step)^(-3/4)`` (timm's schedule for short runs) and capped at
    ``decay``, so the freshly initialised head is forgotten within the first steps. ``module`` is the
    averaged copy (in eval mode), which evaluation, checkpoints and predictions use.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        from timm.utils import ModelEmaV3

        self.source = model
        self.average = ModelEmaV3(model, decay=decay, use_warmup=True, warmup_power=0.75)
        self.steps = 0

    @property
    def module(self) -> nn.Module:
        return self.average.module

    def update(self) -> None:
        """Fold the source's current weights in (after an optimizer step)."""
        self.steps += 1
        self.average.update(self.source, step=self.steps)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    runtime: Runtime,
    groups: AttributeGroups,
    config: dict[str, Any],
) -> dict[str, Any]:
    """Loss, mean per-class accuracy and per-group accuracy on a labelled split.

    Returns also the predictions and targets of this process's shard (for reports). ``val_loss``
    is averaged over images, so that it does not depend on the number of processes or on a short
    last batch: the loss per element for a mean-reduced loss, the loss of a ``batch_size`` batch
    for a summed one (the scale of ``train_loss``).
    """
    model.eval()
    check = runtime.check_values
    score = MeanClassAccuracy(groups, validate_args=check).to(runtime.device)
    group_acc = GroupAccuracy(groups, validate_args=check).to(runtime.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)
    images_seen = 0
    summed = getattr(criterion, "reduction", "mean") == "sum"
    preds, targets = [], []
    for images, target in progress.progress(loader, desc="validation", mode=_progress_mode(config, runtime)):
        logits, target = _forward(model, images, target, runtime, config["channels_last"])
        loss = criterion(logits.float(), groups.to_one_hot(target, validate_args=check))
        loss_sum += loss if summed else loss * len(target)  # the batch's total over its images
        images_seen += len(target)
        pred = groups.argmax(logits.float(), validate_args=check)
        score.update(pred, target)
        group_acc.update(pred, target)
        preds.append(pred)
        targets.append(target)
    total, count = runtime.all_sum(float(loss_sum), images_seen)
    per_group = group_acc.compute()
    empty = torch.zeros(0, groups.num_groups, dtype=torch.long)
    return {
        "val_loss": total / max(count, 1) * (config["batch_size"] if summed else 1),
        "val_score": float(score.compute()),
        "val_group_accuracy": [float(v) for v in per_group],
        "preds": torch.cat(preds).cpu() if preds else empty,
        "targets": torch.cat(targets).cpu() if targets else empty,
    }


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, groups: AttributeGroups, device: torch.device,
            autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext) -> torch.Tensor:
    """Predicted attribute indices ``(N, G)`` for every image of ``loader``, in order.

    The one prediction loop of ``train.py`` (test predictions) and ``predict.py``; ``autocast``
    is :meth:`Runtime.autocast` in a training run.
    """
    model.eval()
    out = []
    for images, _ in loader:
        with autocast():
            logits = model(images.to(device, non_blocking=True))
        out.append(groups.argmax(logits.float()).cpu())
    return torch.cat(out)


def _progress_mode(config: dict[str, Any], runtime: Runtime) -> str:
    """``--progress`` in the main process; the others stay quiet."""
    return config.get("progress", "off") if runtime.is_main else "off"
