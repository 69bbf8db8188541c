"""Fine-tune a timm backbone on grouped clothing attributes: the fashion-attribute recipe.

With no argument it generates a small synthetic stand-in dataset (once) and trains a CPU-sized
run; ``--config configs/report.yaml`` is the report's full recipe. See README.md beside this file.

    python examples/fashion_attributes/train.py
    python examples/fashion_attributes/train.py --config examples/fashion_attributes/configs/report.yaml \
        --data-root /path/to/FashionDataset --pretrained van-tiny_8xb128_in1k_20220501-385941af.pth
    torchrun --nproc_per_node=2 examples/fashion_attributes/train.py --epochs 2
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from . import builders
from . import pipeline
from . import plots
from . import posthoc
from . import progress
from .checkpoint import (
    RESUME_KEYS,
    load_checkpoint,
    load_model_state,
    remove_stale_temporaries,
    require_keys,
    save_checkpoint,
)
from .config import get_args_parser, parse_cli, resolve_config, save_config
from .features import HeadOnly
from .report import metric_report
from .selection import write_selection

from imbalml import (
    AttributeGroups,
    GroupAccuracy,
    MeanClassAccuracy,
    label_counts,
)

log = logging.getLogger("fashion")


# ------------------------------------------------------------------------------------ set-up
class Runtime:
    """Device, process group and the autocast/scaler pair: one AMP path for every setting."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        requested = config["device"]
        if requested == "auto":
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(requested)
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError(f"--device {requested}: CUDA is not available on this machine.")
            if self.world_size > 1:
                device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        self.device = device
        configure_determinism(device, bool(config.get("deterministic", False)))
        self.distributed = self.world_size > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        amp = config["amp"]
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        # Value checks (NaN labels, target sums) read tensors back to the host: a GPU
        # synchronisation per call, so they are off on CUDA, where the pipeline is trusted.
        self.check_values = device.type != "cuda"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def all_sum(self, *values: float) -> list[float]:
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` is finite in every process (all processes skip a step, or none)."""
        finite = torch.isfinite(value).all()
        if not self.distributed:
            return bool(finite)
        flag = finite.to(torch.int32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate a CPU tensor's shards from every process (rank order)."""
        if not self.distributed:
            return tensor
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, tensor.cpu())
        return torch.cat(parts)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def configure_determinism(device: torch.device, deterministic: bool) -> None:
    """Let cuDNN autotune (fast; kernels may differ from run to run), or use deterministic kernels.

    ``deterministic`` (``--deterministic true``): cuDNN's benchmark mode off, its deterministic
    algorithms on, ``torch.use_deterministic_algorithms`` (warning where an operation has no
    deterministic implementation) and cuBLAS's fixed workspace, so that a GPU run, and a resumed
    one, repeats bit for bit. Otherwise cuDNN picks its fastest kernels for the fixed image size.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before the first cuBLAS call
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one process's epoch: every random draw of epoch ``e`` derives from it.

    Augmentation, mixup partners and factors, dropout and drop-path differ between processes
    (``rank``) and between epochs, and repeat exactly in a resumed run. Rank 0 keeps the seeds of a
    single-process run. torch's CPU generator keeps only the low 32 bits of a seed, so the ranks
    are spread over those: rank ``r`` adds ``r`` times an odd constant modulo 2**32, which no two
    ranks of one epoch can share.
    """
    base = seed * 100_003 + epoch
    return base if rank == 0 else (base + rank * 0x9E3779B9) % 2**32


# ------------------------------------------------------------------------------------ loops
def defer_nonfinite_check(runtime: Runtime, optimizer: torch.optim.Optimizer, mode: str = "auto") -> bool:
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


class _NonFiniteSteps:
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


def _nonfinite(config: dict[str, Any], epoch: int, step: int, detail: str, more: int = 0) -> None:
    """Stop the run (``on_nonfinite: stop``) or log the skipped step(s)."""
    message = (
        f"non-finite training loss at epoch {epoch + 1}, step {step + 1} ({detail}); "
        f"check the learning rate, --amp, or the input data"
    )
    if config["on_nonfinite"] == "stop":
        raise FloatingPointError(message + "; set --on-nonfinite skip to skip such steps")
    log.warning("skipping step: %s%s", message, f"; {more} later step(s) of this epoch too" if more else "")


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
) -> dict[str, float]:
    """One pass over the training batches ``(images, soft_targets)``; returns loss and score.

    ``step_scheduler``, when given, is stepped after every optimizer step (per-batch schedules).

    The training score compares predictions with the dominant attribute of each (mixed) target.
    A non-finite loss stops the run with the step named, or (``on_nonfinite: skip``) skips the step;
    on CUDA the check is deferred to the end of the epoch (:func:`defer_nonfinite_check`), so the
    loop has no host synchronisation.

    ``train_loss`` is the loss of the global batch (all processes together): with a summed loss
    each process's backward is scaled by the number of processes, so that the gradient DDP
    averages is the gradient of the global batch's sum, as in a single-process run.
    """
    model.train()
    deferred = defer_nonfinite_check(runtime, optimizer, config.get("nonfinite_check", "auto"))
    nonfinite = _NonFiniteSteps(runtime)
    metric = MeanClassAccuracy(groups, validate_args=False).to(runtime.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)
    batches_done, skipped = 0, 0
    scale = runtime.world_size if getattr(criterion, "reduction", "mean") == "sum" else 1
    shown = progress.progress(batches, desc=f"epoch {epoch + 1} train", mode=_progress_mode(config, runtime))
    for step, (images, targets) in enumerate(shown):
        images = images.to(runtime.device, non_blocking=True)
        targets = targets.to(runtime.device, non_blocking=True)
        if config["channels_last"] and images.ndim == 4:  # not the frozen protocol's features
            images = images.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            logits = model(images)
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
            _nonfinite(config, epoch, step, detail)
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
        batches_done += 1
        metric.update(logits.detach(), hard)
    if deferred and int(nonfinite.count):  # the epoch's one read of the flags
        skipped = int(nonfinite.count)
        batches_done -= skipped
        detail = f"loss {float(nonfinite.value)}"
        if runtime.distributed:  # the same words in every process: all of them stop or skip
            detail += f" in {int(nonfinite.processes)} of {runtime.world_size} processes"
        _nonfinite(config, epoch, int(nonfinite.first), detail, more=skipped - 1)
    total, count = runtime.all_sum(float(loss_sum), batches_done)
    return {  # an epoch whose every step was skipped has no loss and no score
        "train_loss": total / count if count else math.nan,
        "train_score": float(metric.compute()) if count else math.nan,
        "skipped_steps": skipped,
    }


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
        images = images.to(runtime.device, non_blocking=True)
        target = target.to(runtime.device, non_blocking=True)
        if config["channels_last"] and images.ndim == 4:  # not the frozen protocol's features
            images = images.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            logits = model(images)
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
def predict(model: nn.Module, loader: DataLoader, runtime: Runtime, groups: AttributeGroups) -> torch.Tensor:
    """Predicted attribute indices ``(N, G)`` for every image of ``loader``, in order."""
    model.eval()
    out = []
    for images, _ in loader:
        with runtime.autocast():
            logits = model(images.to(runtime.device))
        out.append(groups.argmax(logits.float()).cpu())
    return torch.cat(out)


def _progress_mode(config: dict[str, Any], runtime: Runtime) -> str:
    """``--progress`` in the main process; the others stay quiet."""
    return config.get("progress", "off") if runtime.is_main else "off"


# ------------------------------------------------------------------------------------ outputs
#: The first columns of ``history.csv``, in this order; any other key of a row follows them.
HISTORY_KEYS = ["epoch", "train_loss", "val_loss", "train_score", "val_score", "val_group_accuracy",
                "lr", "seconds", "skipped_steps"]


def history_columns(row: dict[str, Any], groups: AttributeGroups) -> dict[str, Any]:
    """One epoch's row as CSV columns, ``HISTORY_KEYS`` first and the row's other keys after.

    A per-group list ``<split>_group_accuracy`` becomes one column ``<split>_acc_<group>`` per group.
    """
    columns: dict[str, Any] = {}
    for key in [*(k for k in HISTORY_KEYS if k in row), *(k for k in row if k not in HISTORY_KEYS)]:
        value = row[key]
        if isinstance(value, (list, tuple)):
            if len(value) != groups.num_groups:
                raise ValueError(f"Expected `{key}` with one value per group ({groups.num_groups}), "
                                 f"but got {len(value)}.")
            prefix = key.removesuffix("_group_accuracy") + "_acc" if key.endswith("_group_accuracy") else key
            columns.update({f"{prefix}_{name}": v for name, v in zip(groups.names, value)})
        else:
            columns[key] = value
    return columns


def write_history(history: list[dict[str, Any]], path: Path, groups: AttributeGroups) -> None:
    """``history.csv``: one row per epoch, per-group validation accuracy in its own columns.

    The header is built from the rows it describes (:func:`history_columns`); rows with different
    keys are an error, not shifted columns.
    """
    rows = [history_columns(row, groups) for row in history]
    header = list(rows[0]) if rows else []
    for epoch, row in enumerate(rows, 1):
        if list(row) != header:
            raise ValueError(f"Expected every history row to have the columns {header}, "
                             f"but row {epoch} has {list(row)}.")
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row.values()])
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ main
def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train, keep the best-score and best-loss checkpoints, write figures, reports, predictions."""
    config = resolve_config(args)
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    runtime = Runtime(config)
    logging.basicConfig(
        level=logging.INFO if runtime.is_main else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    start = time.perf_counter()
    try:
        summary = _run(config, runtime)
    finally:
        runtime.close()
    summary["seconds"] = time.perf_counter() - start
    if runtime.is_main:
        (Path(config["out_dir"]) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _run(config: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    out_dir = Path(config["out_dir"])
    resume = load_checkpoint(config["resume"]) if config["resume"] else None
    if resume is not None:
        _check_resume(resume, config)
    if runtime.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        for tmp in remove_stale_temporaries(out_dir):
            log.info("removed %s, left by an interrupted checkpoint write", tmp)
        root = builders.dataset_root(config)
        save_config(config, out_dir / "config.yaml")
    runtime.barrier()
    root = builders.dataset_root(config)

    groups = pipeline.read_groups(root)
    if resume is not None and AttributeGroups.from_dict(resume["groups"]) != groups:
        raise ValueError(
            f"--resume {config['resume']}: the checkpoint was trained for "
            f"{AttributeGroups.from_dict(resume['groups'])!r}, but the data in {root} has {groups!r}."
        )
    torch.manual_seed(config["seed"])
    model = builders.build_model(config, groups).to(runtime.device)
    if config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    data = pipeline.build_data(config, root, runtime, model,
                               resume.get("selection") if resume is not None else None)
    counts = label_counts(data.train_targets, groups)
    if data.selection is not None and runtime.is_main:
        write_selection(data.selection, data.train_paths, out_dir / "selection_split.json")
    # the loop checks the loss itself (torch.isfinite), so a NaN is a named step, not a ValueError
    criterion = builders.build_loss(config, groups, counts, validate_args=False)
    criterion = criterion.to(runtime.device)
    optimizer = builders.build_optimizer(config, model, runtime.device)
    scheduler, per_step = builders.build_scheduler(config, optimizer, data.steps_per_epoch)
    deferred = defer_nonfinite_check(runtime, optimizer, config["nonfinite_check"])  # refused here, or fine
    log.info("non-finite losses: %s", "flagged on the device, read once per epoch" if deferred else "read every step")
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model: %s + grouped head, %s trainable parameters%s%s", config["backbone"], f"{n_params:,}",
             " (including the unused 1000-class head)" if config["keep_imagenet_head"] else "",
             " (frozen backbone: head only, on cached features)" if data.head_only else "")
    log.info("data: %s (%d train / %d %s images), groups %s", root, len(data.train_targets),
             data.num_val, "selection" if data.selection is not None else "val", groups)

    state = {"epoch": 0, "history": [], "best_score": -math.inf, "best_loss": math.inf,
             "best_score_epoch": 0, "best_loss_epoch": 0}
    if resume is not None:
        load_model_state(model, resume["model"], f"--resume {config['resume']}")
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        runtime.scaler.load_state_dict(resume["scaler"])
        state.update({k: resume[k] for k in state})
        log.info("resumed from %s after epoch %d", config["resume"], state["epoch"])
        _apply_epochs(scheduler, optimizer, config, state["epoch"], resume["config"].get("epochs"))

    train_model: nn.Module = HeadOnly(model) if data.head_only else model
    if runtime.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            train_model, find_unused_parameters=config["keep_imagenet_head"] and not data.head_only
        )
    if config["compile"]:
        train_model = torch.compile(train_model)  # type: ignore[assignment]

    if runtime.is_main:
        plots.plot_label_distribution(counts, groups, out_dir / "label_distribution.png")
    writer = _tensorboard(config, out_dir) if runtime.is_main else None

    for epoch in range(state["epoch"], config["epochs"]):
        start = time.perf_counter()
        batches = data.train_batches(epoch, seed_epoch(config["seed"], epoch, runtime.rank))
        lr = optimizer.param_groups[0]["lr"]
        train = train_one_epoch(train_model, criterion, batches, optimizer, runtime, groups, epoch, config,
                                scheduler if per_step else None)
        val = evaluate(train_model, criterion, data.val_loader, runtime, groups, config)
        if not per_step:
            scheduler.step()
        row = {"epoch": epoch + 1, **train, "val_loss": val["val_loss"], "val_score": val["val_score"],
               "val_group_accuracy": val["val_group_accuracy"], "lr": lr,
               "seconds": time.perf_counter() - start}
        state["history"].append(row)
        state["epoch"] = epoch + 1
        log.info("epoch %d/%d  train loss %.4f score %.4f | val loss %.4f score %.4f | %.1fs",
                 epoch + 1, config["epochs"], row["train_loss"], row["train_score"],
                 row["val_loss"], row["val_score"], row["seconds"])
        if not math.isfinite(val["val_score"]):
            log.warning("epoch %d: validation score %s, not a candidate for best_score.pt",
                        epoch + 1, val["val_score"])
        if not runtime.is_main:
            continue
        # No RNG state: every draw derives from (seed, epoch, rank) (seed_epoch), which a resume reuses.
        ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": runtime.scaler.state_dict(),
                "config": config, "groups": groups.to_dict()}
        if data.selection is not None:
            ckpt["selection"] = data.selection.to_dict(data.train_paths)
        if val["val_score"] > state["best_score"]:
            state.update(best_score=val["val_score"], best_score_epoch=epoch + 1)
            save_checkpoint(out_dir / "best_score.pt", {**ckpt, **state})
        if val["val_loss"] < state["best_loss"]:
            state.update(best_loss=val["val_loss"], best_loss_epoch=epoch + 1)
            save_checkpoint(out_dir / "best_loss.pt", {**ckpt, **state})
        save_checkpoint(out_dir / "last.pt", {**ckpt, **state})
        write_history(state["history"], out_dir / "history.csv", groups)
        if writer is not None:
            for key in ("train_loss", "val_loss", "train_score", "val_score", "lr"):
                writer.add_scalar(key, row[key], epoch + 1)

    return _finish(config, runtime, model, criterion, data, counts, state, out_dir)


def _finish(config: dict[str, Any], runtime: Runtime, model: nn.Module, criterion: nn.Module,
            data: Any, counts: torch.Tensor, state: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Reload the best-score weights; write figures, the validation report and test predictions."""
    from imbalml.data import write_predictions

    groups = data.groups
    runtime.barrier()
    if not any(math.isfinite(row["val_score"]) for row in state["history"]):  # (every process)
        scores = ", ".join(f"{row['val_score']}" for row in state["history"][-5:])
        raise FloatingPointError(
            f"no epoch of {out_dir} had a finite validation score (last scores: {scores or 'none'}), "
            f"so best_score.pt was not written and no report or predictions were made; the last "
            f"weights are in {out_dir / 'last.pt'}. Check the validation labels, the learning rate "
            f"and --amp."
        )
    best = load_checkpoint(out_dir / "best_score.pt", map_location=runtime.device)
    model.load_state_dict(best["model"])
    eval_model: nn.Module = HeadOnly(model) if data.head_only else model
    if config["posthoc"] == "tune":
        tau = posthoc.tune(eval_model, model, data.val_loader, runtime, groups, counts)
        best["posthoc_tau"] = tau
        best["model"] = model.state_dict()  # now with its logit offset
        if runtime.is_main:
            save_checkpoint(out_dir / "best_score.pt", best)
    val = evaluate(eval_model, criterion, data.val_loader, runtime, groups, config)
    val["preds"], val["targets"] = runtime.gather(val["preds"]), runtime.gather(val["targets"])
    summary: dict[str, Any] = {
        "epochs": state["epoch"],
        "final_score": val["val_score"], "posthoc_tau": best.get("posthoc_tau"),
        "best_score": state["best_score"], "best_score_epoch": state["best_score_epoch"],
        "best_loss": state["best_loss"], "best_loss_epoch": state["best_loss_epoch"],
        "out_dir": str(out_dir),
    }
    if runtime.is_main:
        history = state["history"]
        plots.plot_curves(history, ("train_loss", "val_loss"), "loss", out_dir / "loss.png")
        plots.plot_curves(history, ("train_score", "val_score"), "mean per-class accuracy",
                          out_dir / "score.png")
        report = {"checkpoint_epoch": best["best_score_epoch"],
                  "split": "selection" if data.selection is not None else "val",
                  "posthoc_tau": best.get("posthoc_tau"),
                  **metric_report(val["preds"], val["targets"], groups, counts)}
        (out_dir / "val_report.json").write_text(json.dumps(report, indent=2))
        summary["majority_baseline"] = report["majority_baseline_mean_class_accuracy"]
        if data.test_loader is not None:
            preds = predict(model, data.test_loader, runtime, groups)
            write_predictions(out_dir / "prediction.txt", preds)
            summary["test_predictions"] = len(preds)
        elif config["predict_test"]:
            log.warning("no test split (split/test.txt) in the dataset: prediction.txt not written")
        log.info("best validation score %.4f at epoch %d (majority baseline %.4f); outputs in %s",
                 state["best_score"], state["best_score_epoch"], summary["majority_baseline"], out_dir)
    return summary


def _apply_epochs(scheduler: Any, optimizer: torch.optim.Optimizer, config: dict[str, Any], done: int,
                  trained_for: int | None) -> None:
    """A resume with another ``--epochs``: anneal over the new number, from the epoch reached.

    The restored cosine schedule would keep the old ``T_max``; instead the learning rate is set
    to where a run started with the new ``--epochs`` would be after ``done`` epochs, and the
    schedule continues from there (stepped per epoch, as always). Logged, since the run then
    follows neither schedule from its start. Fewer epochs than already done is refused, and so is
    another length of a per-step one-cycle schedule (it cannot be stretched mid-cycle).
    """
    cosine = isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
    old, new = scheduler.T_max if cosine else trained_for, config["epochs"]
    if new == old:
        return
    if not cosine:
        raise ValueError(
            f"--resume {config['resume']}: expected --epochs {old}, the length of the checkpoint's "
            f"{config['scheduler']} schedule (it cannot be stretched mid-cycle), but got {new}."
        )
    if new < done:
        raise ValueError(
            f"--resume {config['resume']}: expected --epochs >= the {done} epochs the checkpoint has "
            f"trained, but got {new}."
        )
    scheduler.T_max = new
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * done / new)) / 2
    log.warning("--epochs %d, but the checkpoint's cosine schedule anneals over %d epochs: from epoch %d on "
                "the learning rate follows a %d-epoch schedule (lr now %.4g)", new, old, done + 1, new,
                optimizer.param_groups[0]["lr"])


def _check_resume(resume: dict[str, Any], config: dict[str, Any]) -> None:
    require_keys(resume, RESUME_KEYS, f"--resume {config['resume']}")
    for key in ("backbone", "head_hidden", "loss", "keep_imagenet_head", "protocol"):
        if resume["config"].get(key) != config[key]:
            raise ValueError(
                f"--resume {config['resume']}: the checkpoint was trained with {key}="
                f"{resume['config'].get(key)!r}, but this run has {key}={config[key]!r}."
            )


def _tensorboard(config: dict[str, Any], out_dir: Path) -> Any:
    if not config["tensorboard"]:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ImportError("--tensorboard true needs the tensorboard package: pip install tensorboard") from exc
    return SummaryWriter(str(out_dir / "tensorboard"))



def cli(argv: list[str] | None = None) -> dict[str, Any]:
    """``python train.py [options]``: parse the command line (a bad ``--config`` is a usage error), train."""
    return main(parse_cli(get_args_parser(), argv))
