"""Train an MLP tagger on a MULAN-format multi-label data set (sparse or dense ARFF).

With no ``--config`` it trains the best configuration (``configs/best.yaml``, chosen on the
selection split, see RESULTS.md) and writes ``OUT_DIR/best.pt``. See README.md beside this file.

    python examples/multilabel_tags/train.py --train ../shared/data/bibtex/bibtex-train.arff \
        --labels ../shared/data/bibtex/bibtex.xml --out-dir RUN
    python examples/multilabel_tags/train.py --train data.arff --num-labels 6 --out-dir RUN \
        --config examples/multilabel_tags/configs/bce.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from tags_recipe.mulan import read_arff, read_label_names, split_labels
from tags_recipe.training import carve_selection, fit, load_config, make_checkpoint

HERE = Path(__file__).resolve().parent
log = logging.getLogger("tags")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="training ARFF file (MULAN format)")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="MULAN XML file naming the label attributes")
    labels.add_argument("--num-labels", type=int, help="the last N attributes are the labels")
    parser.add_argument("--out-dir", required=True, help="where best.pt and the run record go")
    parser.add_argument("--config", default=str(HERE / "configs" / "best.yaml"),
                        help="YAML config (default: configs/best.yaml)")
    parser.add_argument("--seed", type=int, default=None, help="override the config's training seed")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    return parser


def load_training_data(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Features ``(N, F)``, labels ``(N, C)`` and their names from ``--train`` and the label option."""
    data = read_arff(args.train)
    names = read_label_names(args.labels) if args.labels else None
    return split_labels(data, names, None if names else args.num_labels)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train, select, tune; write ``best.pt``, ``config.yaml``, ``selection_split.json``, ``metrics.json``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.config)
    if args.seed is not None:
        config["seed"] = args.seed
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    features, labels, feature_names, label_names = load_training_data(args)
    log.info("%s: %d entries, %d features, %d labels", args.train, *features.shape, labels.shape[1])
    selection = carve_selection(labels, config["selection_fraction"], config["selection_seed"])
    result = fit(features, labels, config, selection)
    checkpoint = make_checkpoint(result, config, selection, feature_names, label_names, str(args.train))
    _atomic_save(checkpoint, out / "best.pt")
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    (out / "selection_split.json").write_text(json.dumps(selection))
    summary = {"epochs": result["epochs"], "seconds": result["seconds"],
               "global_threshold": result["global_threshold"], "threshold": config["threshold"],
               "selection_metrics": result["metrics"]}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    chosen = result["metrics"][config["threshold"]]
    log.info("best epoch(s) %s, %.1f s; selection split (%s threshold): %s", result["epochs"],
             result["seconds"], config["threshold"],
             ", ".join(f"{k} {v:.4f}" for k, v in chosen.items()))
    return summary


def cli() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        main(get_args_parser().parse_args())
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    cli()
