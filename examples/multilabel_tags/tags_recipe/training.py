"""Training an MLP on plain multi-label features with one of the imbalance methods.

One configuration (a YAML file over :data:`DEFAULTS`) names the method: the loss (``bce``,
``bce_pos_weight``, ``focal``, ``asl``, ``logit_adjusted``, ``db``), the sampling
(``oversample``), multi-hot minority ``mixup``, and the threshold rule (``global`` or ``label``).
The selection split (an iteratively stratified part of the training entries,
:func:`imbalml.stratified_split`) picks the best epoch and tunes the thresholds; nothing else is
looked at.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from sklearn.metrics import average_precision_score, f1_score
from torch import nn

import imbalml
from imbalml import (
    AsymmetricLoss,
    BatchMixup,
    DistributionBalancedLoss,
    FocalLoss,
    MinorityOversampler,
    stratified_split,
    tune_global_threshold,
    tune_label_thresholds,
)
from imbalml.functional import example_f1_score, hamming_loss, precision_at_k

log = logging.getLogger("tags")

LOSSES = ("bce", "bce_pos_weight", "focal", "asl", "logit_adjusted", "db")
THRESHOLDS = ("global", "label")

#: Every option and its default; a YAML config overrides some of them (unknown keys are errors).
DEFAULTS: dict[str, Any] = {
    "hidden": 1024,  # width of the MLP's hidden layer
    "input_dropout": 0.0,
    "dropout": 0.5,
    "lr": 1e-3,
    "weight_decay": 1e-2,
    "batch_size": 64,
    "epochs": 20,  # at most; the best epoch on the selection split is kept
    "patience": 5,  # stop after this many epochs without a better selection score
    "bias_init": "prior",  # "prior": output biases start at the training log-odds; or "zero"
    "loss": "bce",
    "focal_gamma": 2.0,
    "asl_gamma_neg": 4.0,
    "asl_clip": 0.05,
    "logit_tau": 1.0,  # logit-adjusted BCE: logits + tau * log-odds prior while training
    "oversample": False,  # MinorityOversampler (repeat-factor) instead of shuffling
    "mixup": False,  # multi-hot minority mixup of the features (imbalml.BatchMixup)
    "mixup_alpha": 0.4,
    "threshold": "global",  # decisions: one tuned threshold, or one per label shrunk toward it
    "threshold_metric": "example",  # the F1 the thresholds are tuned for: example | micro | macro
    "shrinkage": 10.0,
    "selection_fraction": 0.2,
    "selection_seed": 0,
    "seed": 0,
}


def load_config(path: str | Path | None) -> dict[str, Any]:
    """:data:`DEFAULTS` overridden by a YAML file; unknown keys and bad choices are errors."""
    config = dict(DEFAULTS)
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of options, but got {type(loaded).__name__}.")
        unknown = sorted(set(loaded) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"{path}: unknown option(s) {unknown}; known: {sorted(DEFAULTS)}.")
        config.update(loaded)
    if config["loss"] not in LOSSES:
        raise ValueError(f"Expected `loss` to be one of {LOSSES}, but got {config['loss']!r}.")
    if config["threshold"] not in THRESHOLDS:
        raise ValueError(f"Expected `threshold` to be one of {THRESHOLDS}, but got {config['threshold']!r}.")
    if not 0.0 < float(config["selection_fraction"]) < 1.0:
        raise ValueError(
            f"Expected `selection_fraction` in (0, 1), but got {config['selection_fraction']}."
        )
    return config


def build_model(num_features: int, num_labels: int, config: dict[str, Any]) -> nn.Sequential:
    """The MLP: (dropout) - linear - ReLU - dropout - linear, one logit per label."""
    return nn.Sequential(
        nn.Dropout(float(config["input_dropout"])),
        nn.Linear(num_features, int(config["hidden"])),
        nn.ReLU(),
        nn.Dropout(float(config["dropout"])),
        nn.Linear(int(config["hidden"]), num_labels),
    )


def training_counts(labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Positives per label ``(C,)`` of the training part (clamped to [1, N - 1]) and ``N``."""
    n = labels.shape[0]
    return labels.sum(dim=0).clamp(1, n - 1), n


def make_loss(config: dict[str, Any], counts: torch.Tensor, n: int) -> nn.Module | None:
    """The loss module for ``config["loss"]`` (``None``: BCE, computed in :func:`loss_value`)."""
    name = config["loss"]
    if name == "focal":
        return FocalLoss(None, gamma=float(config["focal_gamma"]))
    if name == "asl":
        return AsymmetricLoss(
            None, gamma_pos=0.0, gamma_neg=float(config["asl_gamma_neg"]), clip=float(config["asl_clip"])
        )
    if name == "db":
        return DistributionBalancedLoss(counts, n)
    return None


def loss_value(
    name: str, module: nn.Module | None, logits: torch.Tensor, target: torch.Tensor,
    counts: torch.Tensor, n: int, tau: float,
) -> torch.Tensor:
    """The training loss, summed over labels and averaged over the batch (imbalml's "mean")."""
    if module is not None:
        return module(logits, target)
    batch = logits.shape[0]
    if name == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / batch
    if name == "bce_pos_weight":
        pos_weight = (n - counts) / counts
        return F.binary_cross_entropy_with_logits(
            logits, target, pos_weight=pos_weight, reduction="sum"
        ) / batch
    prior = counts / n  # logit-adjusted: train on logits shifted by the log-odds prior
    shifted = logits + tau * (torch.log(prior) - torch.log1p(-prior))
    return F.binary_cross_entropy_with_logits(shifted, target, reduction="sum") / batch


@torch.no_grad()
def predict_probs(model: nn.Module, features: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Sigmoid probabilities ``(N, C)`` (float32) in evaluation mode."""
    model.eval()
    out = [torch.sigmoid(model(features[i : i + batch_size])) for i in range(0, len(features), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def selection_metrics(probs: torch.Tensor, target: torch.Tensor, thresholds: Any) -> dict[str, float]:
    """Example/micro/macro F1, mAP, P@1 and Hamming loss of ``probs > thresholds``."""
    p = probs.double()
    decided = (p > torch.as_tensor(thresholds, dtype=torch.float64)).numpy().astype(int)
    y = target.numpy()
    present = y.sum(0) > 0
    return {
        "example_f1": float(example_f1_score(decided, target)),
        "micro_f1": float(f1_score(y, decided, average="micro", zero_division=0.0)),
        "macro_f1": float(f1_score(y, decided, average="macro", zero_division=0.0)),
        "map": float(average_precision_score(y[:, present], p.numpy()[:, present], average="macro")),
        "p_at_1": float(precision_at_k(p, target, k=1)),
        "hamming": float(hamming_loss(decided, target)),
    }


def carve_selection(labels: torch.Tensor, fraction: float, seed: int) -> dict[str, Any]:
    """The iteratively stratified selection split of the training entries (a JSON-able record)."""
    split = stratified_split(labels, test_size=float(fraction), seed=int(seed))
    return {"fraction": float(fraction), "seed": int(seed), "num_entries": int(labels.shape[0]),
            "train": split.train.tolist(), "select": split.test.tolist()}


def fit(
    features: torch.Tensor, labels: torch.Tensor, config: dict[str, Any], selection: dict[str, Any]
) -> dict[str, Any]:
    """Train on the training part, choose the epoch and the thresholds on the selection part.

    Returns a dict with the best ``model`` (in eval mode), its ``state_dict``, ``epoch``,
    ``global_threshold``, ``label_thresholds``, the selection ``probs``, per-threshold-rule
    ``metrics`` and ``seconds``.
    """
    start = time.perf_counter()
    torch.manual_seed(int(config["seed"]))
    train_idx = torch.tensor(selection["train"], dtype=torch.long)
    select_idx = torch.tensor(selection["select"], dtype=torch.long)
    x_train, y_train = features[train_idx], labels[train_idx]
    x_select, y_select = features[select_idx], labels[select_idx]
    counts, n = training_counts(y_train)
    counts_f = counts.float()
    model = build_model(features.shape[1], labels.shape[1], config)
    if config["bias_init"] == "prior":
        prior = counts_f / n
        with torch.no_grad():
            model[-1].bias.copy_(torch.log(prior) - torch.log1p(-prior))
    loss_module = make_loss(config, counts, n)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(config["lr"]), weight_decay=float(config["weight_decay"])
    )
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    steps = epochs * math.ceil(len(train_idx) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=float(config["lr"]), total_steps=steps, pct_start=max(0.1, 2.0 / steps)
    )
    generator = torch.Generator().manual_seed(int(config["seed"]))
    sampler = (
        MinorityOversampler(y_train, None, seed=int(config["seed"])) if config["oversample"] else None
    )
    mixup = None
    if config["mixup"]:
        minority = counts_f < counts_f.mean()
        mixup = BatchMixup(
            None, minority=minority, mode="minority", alpha=float(config["mixup_alpha"]),
            beta=float(config["mixup_alpha"]), seed=int(config["seed"]), validate_args=False,
        )
    best: dict[str, Any] = {"score": -1.0}
    stale = 0
    for epoch in range(epochs):
        model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
            order = torch.tensor(list(iter(sampler)), dtype=torch.long)
        else:
            order = torch.randperm(len(train_idx), generator=generator)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            if len(batch) < 2:
                continue
            x, y = x_train[batch], y_train[batch].float()
            if mixup is not None:
                x, y = mixup(x, y)
            logits = model(x)
            loss = loss_value(config["loss"], loss_module, logits, y, counts_f, n, float(config["logit_tau"]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler.last_epoch < steps - 1:
                scheduler.step()
        probs = predict_probs(model, x_select)
        t = tune_global_threshold(probs, y_select, metric=config["threshold_metric"])
        score = float(example_f1_score(probs.double(), y_select, threshold=t))
        log.info("epoch %d: loss %.4f, selection example-F1 %.4f at threshold %.2f", epoch, float(loss.detach()), score, t)
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state_dict": copy.deepcopy(model.state_dict())}
            stale = 0
        else:
            stale += 1
            if stale >= int(config["patience"]):
                break
    model.load_state_dict(best["state_dict"])
    model.eval()
    probs = predict_probs(model, x_select)
    metric = config["threshold_metric"]
    global_t = tune_global_threshold(probs, y_select, metric=metric)
    label_t = tune_label_thresholds(probs, y_select, metric=metric, shrinkage=float(config["shrinkage"]))
    seconds = time.perf_counter() - start
    return {
        "model": model, "state_dict": best["state_dict"], "epoch": best["epoch"],
        "global_threshold": global_t, "label_thresholds": label_t.float(), "probs": probs,
        "select_labels": y_select,
        "metrics": {"global": selection_metrics(probs, y_select, global_t),
                    "label": selection_metrics(probs, y_select, label_t)},
        "seconds": seconds,
    }


def decision_thresholds(checkpoint: dict[str, Any], num_labels: int) -> torch.Tensor:
    """The ``(C,)`` thresholds a run decides with (its config's ``threshold`` rule)."""
    if checkpoint["config"]["threshold"] == "label":
        return checkpoint["label_thresholds"].double()
    return torch.full((num_labels,), float(checkpoint["global_threshold"]), dtype=torch.float64)


def make_checkpoint(
    result: dict[str, Any], config: dict[str, Any], selection: dict[str, Any],
    feature_names: list[str], label_names: list[str], train_file: str,
) -> dict[str, Any]:
    """The run's self-describing checkpoint (tensors, numbers, strings and lists only)."""
    return {
        "state_dict": result["state_dict"], "config": dict(config), "selection": selection,
        "feature_names": list(feature_names), "label_names": list(label_names),
        "global_threshold": float(result["global_threshold"]),
        "label_thresholds": result["label_thresholds"], "epoch": int(result["epoch"]),
        "selection_metrics": result["metrics"], "train_file": train_file,
        "imbalml_version": imbalml.__version__,
    }


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], nn.Module]:
    """A run's checkpoint (``weights_only=True``) and its model, ready for inference."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(len(checkpoint["feature_names"]), len(checkpoint["label_names"]), checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return checkpoint, model


def as_numpy(value: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy."""
    return value.detach().cpu().numpy()
