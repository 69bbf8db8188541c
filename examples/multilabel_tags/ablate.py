"""The imbalance ablation on a MULAN data set: every method, several seeds, one table and one figure.

    python examples/multilabel_tags/ablate.py --train ../shared/data/bibtex/bibtex-train.arff \
        --labels ../shared/data/bibtex/bibtex.xml --seeds 0 1 2 3 4 --jobs 1 \
        --out-dir runs/ablation --results examples/multilabel_tags/RESULTS.md

Each method is a config over the defaults of ``tags_recipe.training`` (the same MLP, optimiser and
selection split; only the imbalance method changes), trained once per seed; the ``best`` row is
``configs/best.yaml`` (an ensemble trains all its members; a refit is skipped: it changes no
selection figure). Each run is scored on the selection split with a global and with a per-label
threshold (both tuned there for example-F1). A run's record (``OUT_DIR/METHOD-seedS.json``) is reused when present, so an
interrupted ablation continues where it stopped. Every figure is on the selection split: the
test labels are never read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from sklearn.metrics import f1_score
from tags_recipe.mulan import read_arff, read_label_names, split_labels
from tags_recipe.training import carve_selection, fit, load_config

log = logging.getLogger("tags")

#: The methods: config overrides of the defaults (plain BCE is the baseline).
METHODS: dict[str, dict[str, Any]] = {
    "bce": {"loss": "bce"},
    "bce_pos_weight": {"loss": "bce_pos_weight"},
    "focal": {"loss": "focal"},
    "asl": {"loss": "asl"},
    "logit_adjusted": {"loss": "logit_adjusted"},
    "distribution_balanced": {"loss": "db"},
    "minority_mixup": {"loss": "bce", "mixup": True},
    "oversampling": {"loss": "bce", "oversample": True},
}
#: The extra row: the options of configs/best.yaml (over --base), trained like every method.
BEST = "best"
BEST_CONFIG = Path(__file__).resolve().parent / "configs" / "best.yaml"
METRICS = ("example_f1", "micro_f1", "macro_f1", "map", "p_at_1", "hamming")
NOTES_MARKER = "\n<!-- notes: kept when ablate.py rewrites the table -->\n"
HEADERS = ("example-F1", "micro-F1", "macro-F1", "mAP", "P@1", "Hamming")

_DATA: dict[str, Any] = {}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels")
    labels.add_argument("--num-labels", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--only", nargs="+", choices=[*METHODS, BEST], default=None,
                        help=f"methods to run (default: all, then {BEST!r}: configs/best.yaml)")
    parser.add_argument("--base", default=None, help="YAML config every method starts from")
    parser.add_argument("--out-dir", default="runs/ablation")
    parser.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    parser.add_argument("--figure", default=None, help="PNG path (default: beside --results)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: write the table from the run records present")
    return parser


def best_overrides() -> dict[str, Any]:
    """The options configs/best.yaml sets (checked by :func:`load_config`)."""
    load_config(BEST_CONFIG)
    return yaml.safe_load(BEST_CONFIG.read_text()) or {}


def _run_one(task: tuple[str, int, str, str | None]) -> dict[str, Any]:
    """Train one method with one seed (in a worker: one thread) and return its record."""
    method, seed, out_dir, base = task
    torch.set_num_threads(1)
    path = Path(out_dir) / f"{method}-seed{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    config = load_config(base)
    config.update(best_overrides() if method == BEST else METHODS[method])
    config["seed"] = seed
    config["refit"] = False  # a refit does not change the selection figures (they come from before it)
    features, labels, selection = _DATA["features"], _DATA["labels"], _DATA["selection"]
    result = fit(features, labels, config, selection)
    y = result["select_labels"].numpy()
    probs = result["probs"].double()
    per_label = {
        rule: f1_score(y, (probs > torch.as_tensor(t, dtype=torch.float64)).numpy().astype(int),
                       average=None, zero_division=0.0).tolist()
        for rule, t in (("global", result["global_threshold"]), ("label", result["label_thresholds"]))
    }
    record = {"method": method, "seed": seed, "epochs": result["epochs"], "seconds": result["seconds"],
              "metrics": result["metrics"], "per_label_f1": per_label}
    path.write_text(json.dumps(record))
    log.info("%s seed %d: %.1f s, example-F1 %.4f (global) %.4f (label)", method, seed, result["seconds"],
             result["metrics"]["global"]["example_f1"], result["metrics"]["label"]["example_f1"])
    return record


def _mean_std(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{a.mean():.4f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.4f}"


def write_results(records: list[dict[str, Any]], train_counts: np.ndarray, args: argparse.Namespace,
                  num_select: int, missing: list[str]) -> tuple[str, str]:
    """RESULTS.md and the figure; return the best (method, rule) by mean example-F1."""
    rows, means = [], {}
    methods = [m for m in [*METHODS, BEST] if any(r["method"] == m for r in records)]
    seeds = sorted({r["seed"] for r in records})
    for method in methods:
        runs = [r for r in records if r["method"] == method]
        for rule in ("global", "label"):
            cells = [_mean_std([r["metrics"][rule][k] for r in runs]) for k in METRICS]
            seconds = np.mean([r["seconds"] for r in runs])
            rows.append(f"| {method} | {rule} | {len(runs)} | " + " | ".join(cells) + f" | {seconds:.0f} |")
            means[(method, rule)] = float(np.mean([r["metrics"][rule]["example_f1"] for r in runs]))
    best = max(means, key=lambda key: means[key])
    figure = Path(args.figure) if args.figure else Path(args.results).with_name("per_label_f1.png")
    _figure(records, train_counts, best, figure)
    lines = [
        "# Ablation: imbalance methods on plain multi-label tags (selection split)",
        "",
        "Written by `ablate.py` (command in README.md). Every number is on the **selection split**",
        f"({num_select} training entries carved by iterative stratification, seed 0; the held-out test",
        "labels are never read). Each method trains the same MLP (defaults of `tags_recipe/training.py`)",
        f"with seeds {seeds}; mean ± standard deviation over seeds. `global`: one threshold, `label`: one",
        "per label shrunk toward it; both tuned for example-F1 on the same selection split that also",
        "picks the epoch, so the figures are optimistic for the test and serve to compare methods.",
        "Seconds: wall time of one run (training and selection), one thread per run (`--jobs` runs side by side).",
        *([f"The `{BEST}` row is `configs/best.yaml` ("
           + ", ".join(f"{k}: {v}" for k, v in best_overrides().items())
           + "); an ensemble's seed s trains its members with seeds s, s + 1, ...; its seconds cover all members"
           + ("; its refit (training again on all entries) changes no selection figure and is skipped here."
              if best_overrides().get("refit") else ".")]
          if BEST in methods else []),
        "",
        "| method | threshold | seeds | " + " | ".join(HEADERS) + " | seconds |",
        "|---|---|---|" + "---|" * len(HEADERS) + "---|",
        *rows,
        "",
        f"Best by mean example-F1: **{best[0]}** with the **{best[1]}** threshold ({means[best]:.4f}).",
        "",
        *([f"Runs asked for but not trained (left out): {', '.join(missing)}.", ""] if missing else []),
        f"![per-label F1 against training frequency]({figure.name})",
        "",
    ]
    results = Path(args.results)
    notes = ""  # hand-written notes below the marker survive a rewrite of the table
    if results.is_file() and NOTES_MARKER in results.read_text():
        notes = results.read_text().split(NOTES_MARKER, 1)[1]
    results.write_text("\n".join(lines) + NOTES_MARKER + notes)
    return best


def _figure(records: list[dict[str, Any]], train_counts: np.ndarray, best: tuple[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (method, rule), marker in ((("bce", "global"), "o"), (best, "^")):
        runs = [r for r in records if r["method"] == method]
        f1 = np.mean([r["per_label_f1"][rule] for r in runs], axis=0)
        ax.scatter(train_counts, f1, s=12, marker=marker, alpha=0.6, label=f"{method} ({rule} threshold)")
    ax.set_xscale("log")
    ax.set_xlabel("training positives of the label (log scale)")
    ax.set_ylabel("F1 on the selection split (mean over seeds)")
    ax.set_title("Per-label F1 against training frequency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace) -> dict[str, Any]:
    data = read_arff(args.train)
    names = read_label_names(args.labels) if args.labels else None
    features, labels, _, _ = split_labels(data, names, None if names else args.num_labels)
    config = load_config(args.base)
    selection = carve_selection(labels, config["selection_fraction"], config["selection_seed"])
    _DATA.update(features=features, labels=labels, selection=selection)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    methods = args.only or [*METHODS, BEST]
    tasks = [(m, s, str(out), args.base) for s in args.seeds for m in methods]
    missing: list[str] = []
    if args.report_only:
        present = [t for t in tasks if (out / f"{t[0]}-seed{t[1]}.json").is_file()]
        missing = [f"{t[0]}-seed{t[1]}" for t in tasks if t not in present]
        if missing:
            log.info("not trained (left out of the table): %s", ", ".join(missing))
        records = [json.loads((out / f"{m}-seed{s}.json").read_text()) for m, s, _, _ in present]
    elif args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("fork")) as pool:
            records = list(pool.map(_run_one, tasks))
    else:
        records = [_run_one(task) for task in tasks]
    train_counts = labels[torch.tensor(selection["train"])].sum(0).numpy()
    best = write_results(records, train_counts, args, len(selection["select"]), missing)
    log.info("best: %s with the %s threshold; %s written", best[0], best[1], args.results)
    return {"best": best, "runs": len(records)}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    main(get_args_parser().parse_args())
