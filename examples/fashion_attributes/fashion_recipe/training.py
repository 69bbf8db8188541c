"""``train.py``'s ``main``: build a run from its configuration, train, keep the best checkpoints, report.

:func:`main` takes the parsed options (:func:`~fashion_recipe.config.get_args_parser`) and returns
the run's summary; :func:`cli` is the command line. The loops are in :mod:`.engine`, the process
set-up in :mod:`.runtime`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imbalml import AttributeGroups, LabelCounts, label_counts
from imbalml.data import write_predictions

from . import builders, pipeline, posthoc
from .checkpoint import (
    RESUME_KEYS,
    load_checkpoint,
    load_model_state,
    remove_stale_temporaries,
    require_keys,
)
from .config import DEFAULTS, get_args_parser, parse_cli, resolve_config, save_config
from .engine import WeightAverage, evaluate, predict, train_one_epoch
from .features import HeadOnly
from .nonfinite import defer_nonfinite_check
from .outputs import metric_report, plot_curves, plot_label_distribution, write_history
from .runtime import Runtime, seed_epoch
from .selection import write_selection

__all__ = ["cli", "get_args_parser", "main"]

log = logging.getLogger("fashion")


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
    if not config["selection_run"]:  # the refit alone, with the epochs and tau of an earlier selection run
        return {"refit": _refit_only(config, runtime, root, groups, out_dir)}
    if resume is not None and AttributeGroups.from_dict(resume["groups"]) != groups:
        raise ValueError(
            f"--resume {config['resume']}: the checkpoint was trained for "
            f"{AttributeGroups.from_dict(resume['groups'])!r}, but the data in {root} has {groups!r}."
        )
    model, data, counts, criterion, optimizer, scheduler, per_step = _build(
        config, runtime, root, groups, resume.get("selection") if resume is not None else None)
    if config["refit"] and data.selection is None:
        raise _no_selection_split("--refit true", root)
    if data.selection is not None and runtime.is_main:
        write_selection(data.selection, data.train_paths, out_dir / "selection_split.json")
    deferred = defer_nonfinite_check(runtime, optimizer, config["nonfinite_check"], per_step_schedule=per_step,
                                     on_nonfinite=config["on_nonfinite"])  # refused here, or fine
    log.info("non-finite losses: %s", "flagged on the device, read once per epoch" if deferred else "read every step")
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model: %s + grouped head, %s trainable parameters%s%s", config["backbone"], f"{n_params:,}",
             " (including the unused 1000-class head)" if config["keep_imagenet_head"] else "",
             " (frozen backbone: head only, on cached features)" if data.head_only else "")
    log.info("data: %s (%d train / %d %s images), groups %s", root, len(data.train_targets),
             data.num_val, "selection" if data.selection is not None else "val", groups)

    state = {"epoch": 0, "history": [], "best_score": -math.inf, "best_loss": math.inf,
             "best_score_epoch": 0, "best_loss_epoch": 0}
    if resume is not None:  # with a weight average, "model" holds the average, "train_model" the weights
        load_model_state(model, resume.get("train_model", resume["model"]), f"--resume {config['resume']}")
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        runtime.scaler.load_state_dict(resume["scaler"])
        state.update({k: resume[k] for k in state})
        log.info("resumed from %s after epoch %d", config["resume"], state["epoch"])
        _apply_epochs(scheduler, optimizer, config, state["epoch"], resume["config"].get("epochs"))

    ema = WeightAverage(model, config["ema_decay"]) if config["ema_decay"] else None
    if ema is not None and resume is not None:
        load_model_state(ema.module, resume["model"], f"--resume {config['resume']}")
        ema.steps = resume["ema_steps"]
    train_model = _training_model(model, data, config, runtime)
    # what is evaluated and kept: the weight average when there is one
    kept = ema.module if ema is not None else model
    eval_model = train_model if ema is None else HeadOnly(kept) if data.head_only else kept

    if runtime.is_main:
        plot_label_distribution(counts.positives, groups, out_dir / "label_distribution.png")
    writer = _tensorboard(config, out_dir) if runtime.is_main else None

    for epoch in range(state["epoch"], config["epochs"]):
        start = time.perf_counter()
        batches = data.train_batches(epoch, seed_epoch(config["seed"], epoch, runtime.rank))
        lr = optimizer.param_groups[0]["lr"]
        train = train_one_epoch(train_model, criterion, batches, optimizer, runtime, groups, epoch, config,
                                scheduler if per_step else None, ema)
        val = evaluate(eval_model, criterion, data.val_loader, runtime, groups, config)
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
        ckpt = {"model": kept.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": runtime.scaler.state_dict(),
                "config": config, "groups": groups.to_dict()}
        if ema is not None:
            ckpt.update(train_model=model.state_dict(), ema_steps=ema.steps)
        if data.selection is not None:
            ckpt["selection"] = data.selection.to_dict(data.train_paths)
        if val["val_score"] > state["best_score"]:
            state.update(best_score=val["val_score"], best_score_epoch=epoch + 1)
            runtime.save_checkpoint(out_dir / "best_score.pt", {**ckpt, **state})
        if val["val_loss"] < state["best_loss"]:
            state.update(best_loss=val["val_loss"], best_loss_epoch=epoch + 1)
            runtime.save_checkpoint(out_dir / "best_loss.pt", {**ckpt, **state})
        runtime.save_checkpoint(out_dir / "last.pt", {**ckpt, **state})
        write_history(state["history"], out_dir / "history.csv", groups)
        if writer is not None:
            for key in ("train_loss", "val_loss", "train_score", "val_score", "lr"):
                writer.add_scalar(key, row[key], epoch + 1)

    summary = _finish(config, runtime, model, criterion, data, counts, state, out_dir)
    if config["refit"]:
        record = data.selection.to_dict(data.train_paths)
        summary["refit"] = _refit(config, runtime, root, groups, record, state["best_score_epoch"],
                                  summary["posthoc_tau"], out_dir, state)
    return summary


def _refit_only(config: dict[str, Any], runtime: Runtime, root: Path, groups: AttributeGroups,
                out_dir: Path) -> dict[str, Any]:
    """``selection_run: false``: the refit of a selection run that is not run again.

    The selection split is carved as that run would (the refit trains on all of it, and the
    checkpoint records it); ``epochs`` and ``posthoc_tau`` are the values that run chose. The
    weights are those the refit of the full run would give, in the refit's time alone.
    """
    splits = pipeline.read_splits(config, root)
    if splits.selection is None:
        raise _no_selection_split("--selection-run false", root)
    record = splits.selection.to_dict(splits.all_train.paths)
    if runtime.is_main:
        write_selection(splits.selection, splits.all_train.paths, out_dir / "selection_split.json")
    tau = config["posthoc_tau"] if config["posthoc"] == "fixed" else None
    log.info("selection_run false: the refit alone, %d epochs and post-hoc tau %s as given", config["epochs"], tau)
    return _refit(config, runtime, root, groups, record, config["epochs"], tau, out_dir, None)


def _no_selection_split(option: str, root: Path) -> ValueError:
    """The error of a refit asked for on data whose labelled ``val`` selects (nothing carved to refit over)."""
    return ValueError(
        f"{option}: expected checkpoints selected on a selection split carved out of the training "
        f"images (--holdout), but {root} has validation labels (split/val_attr.txt), which select them; "
        "a refit would train on the same images again. Leave --refit (and --selection-run) out, or give "
        "--holdout 0.2."
    )


def _build(config: dict[str, Any], runtime: Runtime, root: Path, groups: AttributeGroups,
           selection: dict[str, Any] | None, train_on_all: bool = False) -> tuple[Any, ...]:
    """Model, data, training counts, loss, optimizer and schedule of a run (or of its refit).

    ``selection`` is a stored selection split record (a resume's, or the refit's own run's);
    ``train_on_all`` trains on it too (:func:`pipeline.read_splits`).
    """
    torch.manual_seed(config["seed"])
    model = builders.build_model(config, groups).to(runtime.device)
    if config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    data = pipeline.build_data(config, root, runtime, model, selection, train_on_all=train_on_all)
    counts = label_counts(data.train_targets, groups)
    # the loop checks the loss itself (torch.isfinite), so a NaN is a named step, not a ValueError
    criterion = builders.build_loss(config, groups, counts, validate_args=False).to(runtime.device)
    optimizer = builders.build_optimizer(config, model, runtime.device)
    scheduler, per_step = builders.build_scheduler(config, optimizer, data.steps_per_epoch)
    return model, data, counts, criterion, optimizer, scheduler, per_step


def _training_model(model: nn.Module, data: Any, config: dict[str, Any], runtime: Runtime) -> nn.Module:
    """``model`` as the loop trains it: the head alone on cached features, under DDP, compiled."""
    train_model: nn.Module = HeadOnly(model) if data.head_only else model  # type: ignore[arg-type]
    if runtime.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            train_model, find_unused_parameters=config["keep_imagenet_head"] and not data.head_only
        )
    if config["compile"]:
        train_model = torch.compile(train_model)  # type: ignore[assignment]
    return train_model


def _refit(config: dict[str, Any], runtime: Runtime, root: Path, groups: AttributeGroups,
           record: dict[str, Any], epochs: int, tau: float | list[float] | None, out_dir: Path,
           state: dict[str, Any] | None) -> dict[str, Any]:
    """Train a fresh model on every labelled training image for ``epochs`` (the selected count).

    Same configuration and seed as the selection run (``record``: its split; ``state``: its
    best scores and epochs, ``None`` without one); the schedule anneals over ``epochs``, and the
    post-hoc ``tau`` chosen there is applied with the priors of all the images. Nothing is left
    to select on, so each epoch only trains. The selection run's ``best_score.pt`` is kept as
    ``best_score_selection.pt``; ``best_score.pt`` and ``prediction.txt`` are written from the
    refit weights.
    """
    refit_config = {**config, "epochs": epochs}
    model, data, counts, criterion, optimizer, scheduler, per_step = _build(
        refit_config, runtime, root, groups, record, train_on_all=True)
    ema = WeightAverage(model, config["ema_decay"]) if config["ema_decay"] else None
    train_model = _training_model(model, data, refit_config, runtime)
    log.info("refit: %d epochs on all %d labelled training images (the selection run's best epoch count)",
             epochs, len(data.train_targets))
    history = []
    for epoch in range(epochs):
        start = time.perf_counter()
        batches = data.train_batches(epoch, seed_epoch(config["seed"], epoch, runtime.rank))
        train = train_one_epoch(train_model, criterion, batches, optimizer, runtime, groups, epoch,
                                refit_config, scheduler if per_step else None, ema)
        if not per_step:
            scheduler.step()
        history.append({"epoch": epoch + 1, **train, "seconds": time.perf_counter() - start})
        log.info("refit epoch %d/%d  train loss %.4f score %.4f | %.1fs", epoch + 1, epochs,
                 train["train_loss"], train["train_score"], history[-1]["seconds"])
    final = ema.module if ema is not None else model
    if tau is not None:
        posthoc.apply(final, counts, groups, tau)
    runtime.barrier()
    summary = {"epochs": epochs, "train_images": len(data.train_targets), "posthoc_tau": tau,
               "seconds": sum(row["seconds"] for row in history)}
    if not runtime.is_main:
        return summary
    if state is not None:
        (out_dir / "best_score.pt").replace(out_dir / "best_score_selection.pt")
    runtime.save_checkpoint(out_dir / "best_score.pt", {
        "model": final.state_dict(), "config": config, "groups": groups.to_dict(), "selection": record,
        "posthoc_tau": tau, "refit": {"epochs": epochs, "train_images": len(data.train_targets),
                                      "history": history},
        **{key: state[key] for key in ("best_score", "best_score_epoch", "best_loss", "best_loss_epoch")
           if state is not None},
    })
    if data.test_loader is not None:
        preds = predict(final, data.test_loader, groups, runtime.device, runtime.autocast)
        write_predictions(out_dir / "prediction.txt", preds)
        summary["test_predictions"] = len(preds)
    log.info("refit done: %s holds the weights trained on all %d images%s", out_dir / "best_score.pt",
             len(data.train_targets), f"; the selection run's are in {out_dir / 'best_score_selection.pt'}"
             if state is not None else "")
    return summary


def _finish(config: dict[str, Any], runtime: Runtime, model: nn.Module, criterion: nn.Module,
            data: Any, counts: LabelCounts, state: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Reload the best-score weights; write figures, the validation report and test predictions."""
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
    load_model_state(model, best["model"], f"Checkpoint {out_dir / 'best_score.pt'}")
    eval_model: nn.Module = HeadOnly(model) if data.head_only else model
    if config["posthoc"] != "off":
        if config["posthoc"] == "fixed":
            tau = config["posthoc_tau"]
            posthoc.apply(model, counts, groups, tau)
            log.info("post-hoc logit adjustment: tau %s, as given (posthoc: fixed)", tau)
        else:
            tau = posthoc.tune(eval_model, model, data.val_loader, runtime, groups, counts, config["posthoc"])
        best["posthoc_tau"] = tau
        best["model"] = model.state_dict()  # now with its logit offset
        if runtime.is_main:
            runtime.save_checkpoint(out_dir / "best_score.pt", best)
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
        plot_curves(history, ("train_loss", "val_loss"), "loss", out_dir / "loss.png")
        plot_curves(history, ("train_score", "val_score"), "mean per-class accuracy",
                          out_dir / "score.png")
        report = {"checkpoint_epoch": best["best_score_epoch"],
                  "split": "selection" if data.selection is not None else "val",
                  "posthoc_tau": best.get("posthoc_tau"),
                  **metric_report(val["preds"], val["targets"], groups, counts.positives)}
        (out_dir / "val_report.json").write_text(json.dumps(report, indent=2))
        summary["majority_baseline"] = report["majority_baseline_mean_class_accuracy"]
        if data.test_loader is not None and not config["refit"]:  # a refit predicts with its own weights
            preds = predict(model, data.test_loader, groups, runtime.device, runtime.autocast)
            write_predictions(out_dir / "prediction.txt", preds)
            summary["test_predictions"] = len(preds)
        elif config["predict_test"] and data.test_loader is None:
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
    for key in ("backbone", "head_hidden", "loss", "keep_imagenet_head", "protocol", "ema_decay"):
        if resume["config"].get(key, DEFAULTS[key]) != config[key]:
            raise ValueError(
                f"--resume {config['resume']}: the checkpoint was trained with {key}="
                f"{resume['config'].get(key, DEFAULTS[key])!r}, but this run has {key}={config[key]!r}."
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
