"""Predict tags for the entries of a features file with a trained run's ``best.pt``.

    python examples/multilabel_tags/predict.py RUN/best.pt \
        --features ../shared/data/bibtex/bibtex-test-features.arff --out DIR

writes ``DIR/decisions.txt`` (one line per entry in file order: the 0/1 decision of every label,
space-separated) and ``DIR/scores.txt`` (the same layout: the probabilities, 4 decimals; the
decisions are ``score > threshold`` on these rounded scores, with the run's thresholds). The
features file holds the training file's feature attributes, with or without the label attributes
after them. ``--selection-of TRAIN.arff`` predicts instead the run's selection-split entries of
its training file and prints their metrics (the split is read from the checkpoint).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tags_recipe.mulan import read_arff
from tags_recipe.training import (
    decision_thresholds,
    load_checkpoint,
    predict_probs,
    selection_metrics,
)

log = logging.getLogger("tags")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a run's best.pt")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", help="ARFF file of entries to tag (labels optional)")
    source.add_argument("--selection-of", help="the run's training ARFF: tag its selection split")
    parser.add_argument("--out", required=True, help="output directory")
    return parser


def feature_matrix(path: str, checkpoint: dict[str, Any]) -> torch.Tensor:
    """The checkpoint's feature attributes of an ARFF file, checked by name and order."""
    data = read_arff(path)
    features, labels = checkpoint["feature_names"], checkpoint["label_names"]
    f = len(features)
    if data.names[:f] != features or len(data.names) not in (f, f + len(labels)):
        raise ValueError(
            f"{path}: expected the run's {f} feature attributes (optionally followed by its "
            f"{len(labels)} label attributes), but the file has {len(data.names)} attributes "
            f"that {'match' if data.names[:f] == features else 'do not match'} the run's feature names."
        )
    return data.values[:, :f]


def write_outputs(out: Path, probs: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Write scores.txt and decisions.txt; return the 0/1 decisions."""
    out.mkdir(parents=True, exist_ok=True)
    rounded = np.round(probs.double().numpy(), 4)
    decisions = (rounded > thresholds.numpy()).astype(int)
    np.savetxt(out / "scores.txt", rounded, fmt="%.4f", delimiter=" ")
    np.savetxt(out / "decisions.txt", decisions, fmt="%d", delimiter=" ")
    return torch.from_numpy(decisions)


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Tag the entries; return ``{"entries": N}`` (plus the selection metrics with --selection-of)."""
    checkpoint, models = load_checkpoint(args.checkpoint)
    num_labels = len(checkpoint["label_names"])
    thresholds = decision_thresholds(checkpoint, num_labels)
    out = Path(args.out)
    if args.features:
        features = feature_matrix(args.features, checkpoint)
        probs = predict_probs(models, features)
        write_outputs(out, probs, thresholds)
        log.info("%d entries tagged: %s", len(features), out)
        return {"entries": len(features)}
    if checkpoint["config"].get("refit", False):
        raise ValueError(
            f"{args.checkpoint}: expected a run that did not train on its selection split, but this run "
            "was refit on all the training entries (config refit: true); its selection figures are the "
            "ones stored from its selection run (metrics.json, best.pt's selection_metrics)."
        )
    data = read_arff(args.selection_of)
    selection = checkpoint["selection"]
    needed = set(checkpoint["feature_names"]) | set(checkpoint["label_names"])
    if data.values.shape[0] != selection["num_entries"] or not needed <= set(data.names):
        raise ValueError(
            f"{args.selection_of}: expected the run's training file ({selection['num_entries']} entries "
            f"with its feature and label attributes), but got {data.values.shape[0]} entries."
        )
    index = {name: i for i, name in enumerate(data.names)}
    select = torch.tensor(selection["select"], dtype=torch.long)
    features = data.values[select][:, [index[n] for n in checkpoint["feature_names"]]]
    labels = data.values[select][:, [index[n] for n in checkpoint["label_names"]]].long()
    probs = predict_probs(models, features)
    write_outputs(out, probs, thresholds)
    metrics = selection_metrics(probs, labels, thresholds)
    (out / "selection_metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("selection split (%d entries): %s", len(select), ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return {"entries": len(select), "metrics": metrics}


def cli() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        main(get_args_parser().parse_args())
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    cli()
