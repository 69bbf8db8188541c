"""Predict (and, on a labelled split, evaluate) with a checkpoint written by train.py.

python examples/fashion_attributes/predict.py runs/fashion/best_score.pt --split test
python examples/fashion_attributes/predict.py runs/fashion/best_score.pt --split val \
        --report val_report.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from imbalml import AttributeGroups, label_counts
from imbalml.data import AttributeImageDataset, write_predictions

from . import builders
from .checkpoint import load_checkpoint, load_model_state
from .engine import predict
from .outputs import metric_report
from .pipeline import read_groups, subset
from .prediction_cli import get_args_parser
from .runtime import resolve_device
from .selection import Selection

__all__ = ["get_args_parser", "main"]

log = logging.getLogger("fashion")


@torch.no_grad()
def main(args: argparse.Namespace) -> dict[str, Any]:
    """Write predictions for ``--split``; return (and optionally save) metrics when it is labelled."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    state = load_checkpoint(args.checkpoint)
    config = dict(state["config"], pretrained="none")
    groups = AttributeGroups.from_dict(state["groups"])
    root = args.data_root if args.data_root is not None else builders.dataset_root(config)
    data_groups = read_groups(Path(root))
    if data_groups.sizes != groups.sizes:
        raise ValueError(
            f"{args.checkpoint}: trained for groups of sizes {groups.sizes}, but {root} has {data_groups.sizes}."
        )
    device = resolve_device(args.device)
    model = builders.build_model(config, groups)
    load_model_state(model, state["model"], f"Checkpoint {args.checkpoint}")
    model.to(device).eval()
    if config.get("channels_last"):  # as the run trained: NHWC convolutions (faster on CPUs)
        model.to(memory_format=torch.channels_last)
    transform = builders.build_transforms(config, train=False)
    train = AttributeImageDataset(root, "train", groups=groups, check_files=False)
    train_targets = train.targets
    if args.split == "selection" and "refit" in state:
        raise ValueError(
            f"--split selection: expected a checkpoint that did not train on its selection split, but "
            f"{args.checkpoint} is a refit on all {state['refit']['train_images']} labelled training images "
            "(config refit: true), so its score there would be a training score; score the selection run's "
            "best_score_selection.pt instead (absent when selection_run was false)."
        )
    if args.split == "selection" or "selection" in state:
        if "selection" not in state:
            raise ValueError(f"--split selection: {args.checkpoint} selected on a labelled val split "
                             "and stores no selection split; use --split val.")
        sel = Selection.from_dict(state["selection"], f"Checkpoint {args.checkpoint}")
        if [train.paths[i] for i in sel.select.tolist()] != state["selection"]["select_paths"]:
            raise ValueError(f"{args.checkpoint}: its selection split names other images than "
                             f"{root}/split/train.txt lists at those lines; is this the same dataset?")
        if "refit" not in state:  # a refit trained on every labelled image
            train_targets = train.targets[sel.train]  # the counts the model was trained with
    if args.split == "selection":
        dataset = subset(train, sel.select, transform, "selection")
    else:
        dataset = AttributeImageDataset(root, args.split, groups=groups, transform=transform)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False, num_workers=args.workers)
    preds = predict(model, loader, groups, device)
    out = args.out or Path(args.checkpoint).with_name("prediction.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(out, preds)
    log.info("wrote %d predictions to %s", len(preds), out)
    result: dict[str, Any] = {"predictions": str(out), "num_images": len(preds)}
    if dataset.has_labels:
        target = dataset.targets
        train_counts = label_counts(train_targets, groups).positives
        result.update(metric_report(preds, target, groups, train_counts))
        log.info("%s: mean per-class accuracy %.4f (majority baseline %.4f)", args.split,
                 result["mean_class_accuracy"], result["majority_baseline_mean_class_accuracy"])
        if args.report is not None:
            args.report.write_text(json.dumps(result, indent=2))
    return result

