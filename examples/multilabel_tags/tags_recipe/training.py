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
INPUT_SCALINGS = ("none", "l2", "tfidf")

#: Every option and its default; a YAML config overrides some of them (unknown keys are errors).
DEFAULTS: dict[str, Any] = {
    "hidden": 1024,  # width of the MLP's hidden layer
    "input_scaling": "none",  # "l2": rows scaled to unit norm; "tfidf": features times idf, then l2
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
    "softmax_weight": 0.0,  # plus this times label_softmax_loss (a ranking term), 0: none
    "oversample": False,  # MinorityOversampler (repeat-factor) instead of shuffling
    "mixup": False,  # multi-hot minority mixup of the features (imbalml.BatchMixup)
    "mixup_alpha": 0.4,
    "threshold": "global",  # decisions: one tuned threshold, or one per label shrunk toward it
    "threshold_metric": "example",  # the F1 the thresholds are tuned for: example | micro | macro
    "shrinkage": 10.0,
    "selection_fraction": 0.2,
    "selection_seed": 0,
    "seed": 0,
    "ensemble": 1,  # members averaged in probability; member k trains with seed + k
    "refit": False,  # retrain each member on all entries for its chosen epochs; keep the thresholds
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
    if config["input_scaling"] not in INPUT_SCALINGS:
        raise ValueError(
            f"Expected `input_scaling` to be one of {INPUT_SCALINGS}, but got {config['input_scaling']!r}."
        )
    if isinstance(config["ensemble"], bool) or not isinstance(config["ensemble"], int) or config["ensemble"] < 1:
        raise ValueError(f"Expected `ensemble` to be an integer >= 1, but got {config['ensemble']!r}.")
    if not isinstance(config["refit"], bool):
        raise ValueError(f"Expected `refit` to be true or false, but got {config['refit']!r}.")
    if not 0.0 < float(config["selection_fraction"]) < 1.0:
        raise ValueError(
            f"Expected `selection_fraction` in (0, 1), but got {config['selection_fraction']}."
        )
    return config


class InputScaling(nn.Module):
    """Fixed feature weights (a buffer: the idf of the training part, or ones), then unit L2 rows.

    Part of the model, so a checkpoint's ``state_dict`` carries the weights to prediction.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x * self.weight, dim=1)


def inverse_document_frequency(features: torch.Tensor) -> torch.Tensor:
    """``log((1 + N) / (1 + df)) + 1`` per feature, ``df`` the entries where it is non-zero."""
    n = features.shape[0]
    df = (features != 0).sum(dim=0).float()
    return torch.log((1.0 + n) / (1.0 + df)) + 1.0


def build_model(num_features: int, num_labels: int, config: dict[str, Any]) -> nn.Sequential:
    """The MLP: (input scaling) - (dropout) - linear - ReLU - dropout - linear, one logit per label.

    With ``input_scaling`` other than ``"none"`` the first module is an :class:`InputScaling`.
    """
    scaling = [InputScaling(num_features)] if config["input_scaling"] != "none" else []
    return nn.Sequential(
        *scaling,
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


def label_softmax_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the softmax over labels against ``target`` normalised to sum 1 per entry.

    A ranking term (it raises each entry's positives above its negatives); entries without a
    positive add nothing; averaged over the whole batch.
    """
    mass = target.sum(dim=1)
    keep = mass > 0
    dist = target[keep] / mass[keep].unsqueeze(1)
    return -(dist * F.log_softmax(logits[keep], dim=1)).sum() / logits.shape[0]


@torch.no_grad()
def predict_probs(
    model: nn.Module | list[nn.Module], features: torch.Tensor, batch_size: int = 1024
) -> torch.Tensor:
    """Sigmoid probabilities ``(N, C)`` (float32) in evaluation mode.

    A list of models (an ensemble) gives the mean of its members' probabilities.
    """
    models = model if isinstance(model, list) else [model]
    total = None
    for member in models:
        member.eval()
        chunks = [torch.sigmoid(member(features[i : i + batch_size])) for i in range(0, len(features), batch_size)]
        probs = torch.cat(chunks) if chunks else torch.zeros(0)
        total = probs if total is None else total + probs
    return total / len(models)


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


def train_member(
    x_train: torch.Tensor, y_train: torch.Tensor, x_select: torch.Tensor | None,
    y_select: torch.Tensor | None, config: dict[str, Any], seed: int, fixed_epochs: int | None = None,
) -> dict[str, Any]:
    """Train one MLP with ``seed``; keep its epoch with the best selection example-F1.

    The selection example-F1 is taken at its tuned global threshold. With ``fixed_epochs``
    (a refit: no selection part, ``x_select`` and ``y_select`` are ``None``) it trains that
    many epochs of the same schedule and keeps the last. Returns ``model`` (eval mode, kept
    weights), ``state_dict``, ``epoch`` (0-based) and the selection ``probs`` (``None`` in a refit).
    """
    torch.manual_seed(seed)
    counts, n = training_counts(y_train)
    counts_f = counts.float()
    model = build_model(x_train.shape[1], y_train.shape[1], config)
    if config["input_scaling"] != "none":
        with torch.no_grad():
            model[0].weight.copy_(
                inverse_document_frequency(x_train) if config["input_scaling"] == "tfidf" else 1.0
            )
    if config["bias_init"] == "prior":
        prior = counts_f / n
        with torch.no_grad():
            model[-1].bias.copy_(torch.log(prior) - torch.log1p(-prior))
    loss_module = make_loss(config, counts, n)
    optimizer = torch.optim.AdamW(  # fused: one kernel per step, about 30 % faster on CPU
        model.parameters(), lr=float(config["lr"]), weight_decay=float(config["weight_decay"]), fused=True
    )
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    steps = epochs * math.ceil(len(x_train) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=float(config["lr"]), total_steps=steps, pct_start=max(0.1, 2.0 / steps)
    )
    generator = torch.Generator().manual_seed(seed)
    sampler = MinorityOversampler(y_train, None, seed=seed) if config["oversample"] else None
    mixup = None
    if config["mixup"]:
        minority = counts_f < counts_f.mean()
        mixup = BatchMixup(
            None, minority=minority, mode="minority", alpha=float(config["mixup_alpha"]),
            beta=float(config["mixup_alpha"]), seed=seed, validate_args=False,
        )
    best: dict[str, Any] = {"score": -1.0}
    stale = 0
    for epoch in range(epochs if fixed_epochs is None else min(int(fixed_epochs), epochs)):
        model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
            order = torch.tensor(list(iter(sampler)), dtype=torch.long)
        else:
            order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            if len(batch) < 2:
                continue
            x, y = x_train[batch], y_train[batch].float()
            if mixup is not None:
                x, y = mixup(x, y)
            logits = model(x)
            loss = loss_value(config["loss"], loss_module, logits, y, counts_f, n, float(config["logit_tau"]))
            if float(config["softmax_weight"]) > 0:
                loss = loss + float(config["softmax_weight"]) * label_softmax_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler.last_epoch < steps - 1:
                scheduler.step()
        if fixed_epochs is not None:
            best = {"epoch": epoch, "state_dict": model.state_dict()}
            continue
        probs = predict_probs(model, x_select)
        t = tune_global_threshold(probs, y_select, metric=config["threshold_metric"])
        score = float(example_f1_score(probs.double(), y_select, threshold=t))
        log.info("seed %d epoch %d: loss %.4f, selection example-F1 %.4f at threshold %.2f",
                 seed, epoch, float(loss.detach()), score, t)
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state_dict": copy.deepcopy(model.state_dict())}
            stale = 0
        else:
            stale += 1
            if stale >= int(config["patience"]):
                break
    model.load_state_dict(best["state_dict"])
    model.eval()
    return {"model": model, "state_dict": best["state_dict"], "epoch": best["epoch"],
            "probs": None if x_select is None else predict_probs(model, x_select)}


def fit(
    features: torch.Tensor, labels: torch.Tensor, config: dict[str, Any], selection: dict[str, Any]
) -> dict[str, Any]:
    """Train on the training part, choose the epoch and the thresholds on the selection part.

    ``config["ensemble"]`` members are trained (member ``k`` with seed ``config["seed"] + k``,
    each with its own best epoch) and averaged in probability; the thresholds are tuned on the
    averaged probabilities. With ``config["refit"]`` each member is then trained again, same
    seed, on all the entries (training and selection part) for its best epoch count, and the
    refit members replace it; the thresholds, ``probs`` and ``metrics`` stay those of the
    selection run (a refit model has no held-out part to be scored on).
    Returns a dict with the ``models`` (eval mode), their ``state_dicts`` and best ``epochs``,
    ``global_threshold``,
    ``label_thresholds``, the selection ``probs`` and ``select_labels``, per-threshold-rule
    ``metrics`` and ``seconds``.
    """
    start = time.perf_counter()
    train_idx = torch.tensor(selection["train"], dtype=torch.long)
    select_idx = torch.tensor(selection["select"], dtype=torch.long)
    x_train, y_train = features[train_idx], labels[train_idx]
    x_select, y_select = features[select_idx], labels[select_idx]
    members = [
        train_member(x_train, y_train, x_select, y_select, config, int(config["seed"]) + k)
        for k in range(int(config["ensemble"]))
    ]
    probs = torch.stack([m["probs"] for m in members]).mean(dim=0)
    metric = config["threshold_metric"]
    global_t = tune_global_threshold(probs, y_select, metric=metric)
    label_t = tune_label_thresholds(probs, y_select, metric=metric, shrinkage=float(config["shrinkage"]))
    epochs = [m["epoch"] for m in members]
    if config["refit"]:
        everything = torch.cat([train_idx, select_idx])
        members = [
            train_member(features[everything], labels[everything], None, None, config,
                         int(config["seed"]) + k, fixed_epochs=epoch + 1)
            for k, epoch in enumerate(epochs)
        ]
    seconds = time.perf_counter() - start
    return {
        "models": [m["model"] for m in members], "state_dicts": [m["state_dict"] for m in members],
        "epochs": epochs,
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
        "state_dicts": result["state_dicts"], "epochs": [int(e) for e in result["epochs"]],
        "config": dict(config), "selection": selection,
        "feature_names": list(feature_names), "label_names": list(label_names),
        "global_threshold": float(result["global_threshold"]),
        "label_thresholds": result["label_thresholds"],
        "selection_metrics": result["metrics"], "train_file": train_file,
        "imbalml_version": imbalml.__version__,
    }


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], list[nn.Module]]:
    """A run's checkpoint (``weights_only=True``) and its models, ready for :func:`predict_probs`.

    The models are the ensemble's members (one model without an ensemble).
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config = {**DEFAULTS, **checkpoint["config"]}  # a run written before an option existed
    models = []
    for state_dict in checkpoint.get("state_dicts") or [checkpoint["state_dict"]]:  # or an older run's
        model = build_model(len(checkpoint["feature_names"]), len(checkpoint["label_names"]), config)
        model.load_state_dict(state_dict)
        model.eval()
        models.append(model)
    return checkpoint, models


def as_numpy(value: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy."""
    return value.detach().cpu().numpy()
