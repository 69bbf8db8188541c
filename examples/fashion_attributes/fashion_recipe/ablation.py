"""The ablation on real data, one command: every method of ``configs/`` in the frozen protocol.

Each method is ``configs/cpu_probe_report.yaml`` (the report's head, loss, mixup and optimiser on
frozen ImageNet EfficientNet-Lite0 features) with the keys of one ablation config laid over it
(``configs/ce.yaml``, ``weighted_ce.yaml``, ... minus their ``base``/``out_dir``), plus weighted CE per
weighting strategy and CE with the post-hoc adjustment. Every run of every seed shares one feature
cache, so the backbone runs once. Scores are on the selection split (never on ``val``, whose labels
are held out). Beside the table, ``--finetune`` adds the fine-tune protocol run once with the
report's loss and mixup and once with ``configs/cpu_finetune_select.yaml``, on the same budget.

    python examples/fashion_attributes/ablate.py --data-root ../shared/data/FashionDataset --seeds 0 1 2

Writes ``RESULTS.md`` beside this file (mean +- std over the seeds, seconds per run) and
``docs/_static/example/recall_report_vs_best.png`` (per-attribute recall of the report's recipe
against the best method), plus every run's outputs under ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from . import config as config_mod
from . import training as train

HERE = Path(__file__).resolve().parents[1]  # examples/fashion_attributes

log = logging.getLogger("fashion")

#: (name, description, overrides): the frozen-protocol methods, overrides on cpu_probe_report.yaml.
def methods() -> list[tuple[str, str, dict[str, Any]]]:
    """The ablation's methods; the ``configs/`` ablations are read from their files."""
    def from_file(name: str) -> dict[str, Any]:
        data = config_mod.load_yaml(HERE / "configs" / f"{name}.yaml")
        report = config_mod.load_yaml(HERE / "configs" / "report.yaml")
        # only what the ablation changes relative to the report (its base)
        return {k: v for k, v in data.items() if k != "out_dir" and report.get(k) != v}

    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("report", "grouped ASL 4/1/0.05 summed + minority mixup (the report)", {}),
        ("ce", "cross-entropy", from_file("ce")),
    ]
    for strategy in config_mod.CHOICES["class_weight_strategy"]:
        rows.append((f"weighted_ce_{strategy}", f"weighted CE, {strategy} weights",
                     {**from_file("weighted_ce"), "class_weight_strategy": strategy}))
    rows += [
        ("logit_adjusted", "logit-adjusted CE (tau 1)", from_file("logit_adjusted")),
        ("ce_posthoc", "CE + post-hoc adjustment, tau tuned on the selection split",
         {**from_file("ce"), "posthoc": "tune"}),
        ("dice", "dice loss", from_file("dice")),
        ("asl_sigmoid", "sigmoid ASL (summed)", from_file("asl_sigmoid")),
        ("mixup_all", "report, mixup between all images", from_file("mixup_all")),
        ("mixup_pairs", "report, mixup between minority images only", from_file("mixup_pairs")),
        ("mixup_off", "report, no mixup", from_file("mixup_off")),
        ("oversample", "report loss, repeat-factor oversampling, no mixup", from_file("oversample")),
    ]
    return rows


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="the dataset in the course layout")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds per method")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/ablate"), help="every run's outputs")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="feature cache shared by the runs (default: the user cache every train.py "
                        "run shares, $IMBALML_CACHE/features or ~/.cache/imbalml/features)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these methods")
    parser.add_argument("--base", type=Path, default=HERE / "configs" / "cpu_probe_report.yaml",
                        help="the frozen-protocol config every method starts from")
    parser.add_argument("--best", type=Path, default=HERE / "configs" / "cpu_probe_best.yaml",
                        help="the best frozen-protocol config, run with the same seeds")
    parser.add_argument("--finetune", action="store_true",
                        help="also run the fine-tune protocol: the report's loss and mixup vs "
                        "configs/cpu_finetune_select.yaml, both without its refit (same budget; about 2 x 30 minutes on 2 idle cores)")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help="the table")
    parser.add_argument("--figure", type=Path,
                        default=HERE.parents[1] / "docs" / "_static" / "example" / "recall_report_vs_best.png")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs in parallel (processes); the feature cache is built first, by one run")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads per run (a head on cached features trains fastest on one)")
    return parser


#: Options that change how a run executes, not what it computes: a finished run that differs from
#: the requested one only in these is reused.
EXECUTION_KEYS = ("out_dir", "cache_dir", "threads", "workers", "progress", "predict_test", "device",
                  "channels_last")


def _finished(out_dir: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a finished run in ``out_dir`` with the same configuration, else ``None``."""
    import yaml

    if not (out_dir / "summary.json").is_file() or not (out_dir / "config.yaml").is_file():
        return None
    done = yaml.safe_load((out_dir / "config.yaml").read_text())
    same = all(done.get(k) == v for k, v in config.items() if k not in EXECUTION_KEYS)
    return json.loads((out_dir / "summary.json").read_text()) if same else None


def run_one(config_file: Path, overrides: dict[str, Any], out_dir: Path, data_root: Path,
            device: str) -> dict[str, Any]:
    """One training run (or the finished one already in ``out_dir``): summary, seconds, recall."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")  # workers
    argv = ["--config", str(config_file), "--data-root", str(data_root), "--out-dir", str(out_dir),
            "--device", device, "--predict-test", "false"]
    args = train.get_args_parser().parse_args(argv)
    for key, value in overrides.items():  # typed values straight into the namespace
        setattr(args, key, value)
    summary = _finished(out_dir, config_mod.resolve_config(args))
    if summary is None:
        summary = train.main(args)
    else:
        log.info("reusing the finished run in %s", out_dir)
    report = json.loads((out_dir / "val_report.json").read_text())
    summary["recall"] = report["per_attribute_recall"]
    return summary


def _stats(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {statistics.stdev(values):.4f}"


def main(args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    cache = str(args.cache_dir) if args.cache_dir else None  # None: the user cache (features.py)
    rows = [(n, d, o, args.base) for n, d, o in methods() if args.only is None or n in args.only]
    if args.only is None or "best" in args.only:
        rows.append(("best", f"`{args.best.name}`", {}, args.best))
    jobs = [(name, base, {**overrides, "seed": seed, "cache_dir": cache, "threads": args.threads},
             args.out_dir / f"{name}-seed{seed}") for name, _, overrides, base in rows for seed in args.seeds]
    done: dict[Path, dict[str, Any]] = {}
    first = jobs[0]  # builds the feature cache alone, with every thread; the others then read it
    done[first[3]] = run_one(first[1], {**first[2], "threads": 0}, first[3], args.data_root, args.device)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, base, overrides, out, args.data_root, args.device): out
                   for _, base, overrides, out in jobs[1:]}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
    results: dict[str, Any] = {}
    for name, description, _, _ in rows:
        runs = [done[out] for n, _, _, out in jobs if n == name]
        results[name] = {"description": description, "runs": runs}
        log.info("ablation %s: %s", name, _stats([r["final_score"] for r in runs]))
    if args.finetune:
        for name, description, overrides, base in (
            # both without the refit: its weights train on the selection split, which scores the rows
            ("finetune_report", "fine-tune, the report's loss and mixup",
             {"loss": "asl", "loss_reduction": "sum", "mixup": "minority", "class_weight_strategy": "balanced",
              "posthoc": "off", "refit": False}, HERE / "configs" / "cpu_finetune_select.yaml"),
            ("finetune_best", "fine-tune, `cpu_finetune_select.yaml` without its refit", {"refit": False},
             HERE / "configs" / "cpu_finetune_select.yaml"),
        ):
            out = args.out_dir / name
            results[name] = {"description": description,
                             "runs": [run_one(base, dict(overrides), out, args.data_root, args.device)]}
    (args.out_dir / "ablation.json").write_text(json.dumps(results, indent=1))
    write_results(results, args)
    return results


def write_results(results: dict[str, Any], args: argparse.Namespace) -> None:
    """RESULTS.md (the table) and the recall figure (report vs the best frozen method)."""
    frozen = [n for n in results if not n.startswith("finetune")]
    best = max(frozen, key=lambda n: statistics.fmean(r["final_score"] for r in results[n]["runs"]))
    lines = [
        "# Results on the real course data (selection split)",
        "",
        "Written by `python examples/fashion_attributes/ablate.py --data-root ../shared/data/FashionDataset "
        f"--seeds {' '.join(map(str, args.seeds))}{' --finetune' if args.finetune else ''}`. Scores are the mean per-class accuracy "
        "(26 attributes) of the best-score checkpoint on the stratified selection split (1000 of the "
        "5000 training images, holdout seed 0), which no run trains on; the 1000 `val` images are the "
        "held-out test, scored outside the project. Majority baseline: 0.2308.",
        "",
        "Frozen protocol: ImageNet EfficientNet-Lite0 features (centre view + augmented views, cached once), "
        "the report's head (100-200-100, dropout 0.3), Adam 5e-4 / 3e-4, cosine, as "
        "`configs/cpu_probe_report.yaml`; each row changes what it says. Post-hoc rows are scored on the "
        "split their tau was chosen on (one parameter, slightly optimistic).",
        "",
        "| method | description | selection score (mean ± std) | seeds | seconds per run |",
        "|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        runs = entry["runs"]
        seconds = statistics.fmean(r["seconds"] for r in runs)
        mark = " **(best)**" if name == best else ""
        lines.append(f"| `{name}`{mark} | {entry['description']} | {_stats([r['final_score'] for r in runs])} "
                     f"| {len(runs)} | {seconds:.0f} |")
    first = next(iter(results.values()))["runs"][0]
    lines += ["", f"Seconds are wall-clock per run, {args.jobs} frozen runs in parallel on one thread each; "
              f"the first run (`{next(iter(results))}`, seed {args.seeds[0]}) also computed the feature cache "
              f"({first['seconds']:.0f} s with it). Fine-tune rows: one run each on the same budget "
              "(`configs/cpu_finetune_select.yaml` without its refit), the first with "
              "the report's grouped ASL (summed) and minority mixup instead of its loss, mixup and post-hoc "
              "adjustment.",
              "", f"Figure: `{args.figure.name}`, per-attribute recall of `report` against `{best}` "
              "(mean over seeds)."]
    args.results.write_text("\n".join(lines) + "\n")
    if "report" in results:
        _figure(results["report"]["runs"], results[best]["runs"],
                f"{best} ({results[best]['description'].strip('`')})", args.figure)


def _figure(report_runs: list[dict[str, Any]], best_runs: list[dict[str, Any]], best: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .task import FASHION_GROUPS

    names = list(FASHION_GROUPS.attribute_names)

    def mean_recall(runs: list[dict[str, Any]]) -> list[float]:
        """Per attribute, the mean recall over the runs (NaN where the split has none of it)."""
        values = [[r["recall"][n] for r in runs if r["recall"].get(n) is not None] for n in names]
        return [statistics.fmean(v) if v else math.nan for v in values]

    x = range(len(names))
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.bar([i - 0.2 for i in x], mean_recall(report_runs), width=0.4, label="report's recipe (frozen)")
    ax.bar([i + 0.2 for i in x], mean_recall(best_runs), width=0.4, label=f"best: {best}")
    ax.set_xticks(list(x), names, rotation=70, ha="right", fontsize=8)
    ax.set_ylabel("recall on the selection split")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

