"""Metric update and compute: imbalml against torchmetrics and scikit-learn, per fashion layout.

The fashion task scores mean per-class accuracy (MeanClassAccuracy) and per-group accuracy
(GroupAccuracy) over 6 attribute groups of sizes 7-3-3-4-6-3. Without imbalml a user would keep
one ``torchmetrics.classification.MulticlassAccuracy`` per group (``average=None`` for the
per-class recalls, ``average="micro"`` for the group accuracy), or call scikit-learn's
``recall_score`` / ``accuracy_score`` per group at the end. Measured on batches of N samples of
(N, 26) logits and (N, 6) labels:

1. ``update``: one batch into a running metric (the training-loop cost). Baseline: 6 torchmetrics
   ``MulticlassAccuracy(average=None)`` (what MeanClassAccuracy replaces).
2. ``update + compute``: a fresh metric over one batch of N (an evaluation), against the same
   torchmetrics metrics and scikit-learn from the logits (numpy argmax per group included).

Target: imbalml's update no slower than the torchmetrics baseline. Run:

    PYTHONPATH=src python benchmarks/bench_metrics.py                 # CPU, and CUDA when present
    PYTHONPATH=src python benchmarks/bench_metrics.py --sizes 64 100000 --device cpu --threads 2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from _results import (
    add_device_arguments,
    add_output_arguments,
    round_robin,
    selected_devices,
    synchronizer,
    table,
    write_section,
)
from sklearn.metrics import accuracy_score, recall_score
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from imbalml import AttributeGroups, GroupAccuracy, MeanClassAccuracy

GROUPS = AttributeGroups([7, 3, 3, 4, 6, 3])
BASELINE = "torchmetrics 6 x MulticlassAccuracy(average=None)"


def _per_group(average: str, device: torch.device, validate: bool) -> list[MulticlassAccuracy]:
    return [
        MulticlassAccuracy(num_classes=k, average=average, validate_args=validate).to(device)
        for k in GROUPS.sizes
    ]


def _problem(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n)
    logits = torch.randn(n, GROUPS.num_attributes, generator=g)
    target = torch.stack([torch.randint(0, k, (n,), generator=g) for k in GROUPS.sizes], 1)
    return logits.to(device), target.to(device)


def update_cases(n: int, device: torch.device) -> dict[str, Callable[[], object]]:
    """One batch into running metrics."""
    logits, target = _problem(n, device)
    pieces = list(zip(GROUPS.split(logits), target.unbind(1)))
    cases: dict[str, Callable[[], object]] = {}

    def torchmetrics_update(
        metrics: list[MulticlassAccuracy], inputs: list
    ) -> Callable[[], object]:
        def run() -> None:
            for metric, (scores, labels) in zip(metrics, inputs, strict=True):
                metric.update(scores, labels)

        return run

    cases[BASELINE] = torchmetrics_update(_per_group("none", device, True), pieces)
    cases["torchmetrics 6 x MulticlassAccuracy(average='macro')"] = torchmetrics_update(
        _per_group("macro", device, True), pieces
    )
    cases["torchmetrics 6 x (average=None), validate_args=False"] = torchmetrics_update(
        _per_group("none", device, False), pieces
    )
    both = _per_group("none", device, True) + _per_group("micro", device, True)
    cases["torchmetrics 12 (None + micro): both scores"] = torchmetrics_update(
        both, pieces + pieces
    )
    for validate in (True, False):
        mca = MeanClassAccuracy(GROUPS, validate_args=validate).to(device)
        cases[f"imbalml MeanClassAccuracy, validate_args={validate}"] = lambda m=mca: m.update(
            logits, target
        )
    both_ours = _collection(device)
    both_ours.update(logits, target)  # the first update finds the shared state (compute groups)
    cases["imbalml MetricCollection(MeanClassAccuracy, GroupAccuracy)"] = lambda: both_ours.update(
        logits, target
    )
    return cases


def _collection(device: torch.device) -> MetricCollection:
    """Both scores; torchmetrics' compute groups give them one shared update."""
    return MetricCollection(
        {"score": MeanClassAccuracy(GROUPS), "group_acc": GroupAccuracy(GROUPS)}
    ).to(device)


def evaluation_cases(n: int, device: torch.device) -> dict[str, Callable[[], object]]:
    """A fresh metric over one batch, then compute: an evaluation of N samples."""
    logits, target = _problem(n, device)
    pieces = list(zip(GROUPS.split(logits), target.unbind(1)))
    np_logits, np_target = logits.cpu().numpy(), target.cpu().numpy()
    slices = GROUPS.slices

    def torchmetrics_eval() -> object:
        out = []
        for metric, (scores, labels) in zip(_per_group("none", device, True), pieces):
            metric.update(scores, labels)
            out.append(metric.compute())
        return torch.cat(out).mean()

    def imbalml_eval() -> object:
        metric = MeanClassAccuracy(GROUPS).to(device)
        metric.update(logits, target)
        return metric.compute()

    def imbalml_both() -> object:
        metrics = _collection(device)
        metrics.update(logits, target)
        return metrics.compute()

    def sklearn_eval() -> object:
        recalls = [
            recall_score(
                np_target[:, g],
                np_logits[:, s].argmax(1),
                labels=range(k),
                average=None,
                zero_division=0,
            )
            for g, (s, k) in enumerate(zip(slices, GROUPS.sizes))
        ]
        return np.concatenate(recalls).mean()

    def sklearn_both() -> object:
        preds = [np_logits[:, s].argmax(1) for s in slices]
        recalls = [
            recall_score(np_target[:, g], p, labels=range(k), average=None, zero_division=0)
            for g, (p, k) in enumerate(zip(preds, GROUPS.sizes))
        ]
        return np.concatenate(recalls).mean(), [
            accuracy_score(np_target[:, g], p) for g, p in enumerate(preds)
        ]

    return {
        BASELINE: torchmetrics_eval,
        "scikit-learn recall_score per group (numpy)": sklearn_eval,
        "scikit-learn recall_score + accuracy_score": sklearn_both,
        "imbalml MeanClassAccuracy": imbalml_eval,
        "imbalml MetricCollection(MeanClassAccuracy, GroupAccuracy)": imbalml_both,
    }


def check_agreement(device: torch.device) -> None:
    """The candidates compute the same score (a benchmark of different numbers would be moot)."""
    logits, target = _problem(1000, device)
    metric = MeanClassAccuracy(GROUPS).to(device)
    metric.update(logits, target)
    ours = float(metric.compute())
    theirs = []
    for m, scores, labels in zip(
        _per_group("none", device, True), GROUPS.split(logits), target.unbind(1)
    ):
        m.update(scores, labels)
        theirs.append(m.compute())
    reference = float(torch.cat(theirs).mean())
    if abs(ours - reference) > 1e-6:
        raise SystemExit(
            f"imbalml {ours} and torchmetrics {reference} disagree: nothing to compare"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 1024, 16384, 100_000])
    add_device_arguments(parser)
    parser.add_argument("--repeats", type=int, default=7, help="round-robin rounds (median kept)")
    add_output_arguments(parser)
    args = parser.parse_args()
    for device in selected_devices(args):
        check_agreement(device)
        sync = synchronizer(device)
        rows = []
        for kind, make in (("update", update_cases), ("update + compute", evaluation_cases)):
            for n in args.sizes:
                times = round_robin(make(n, device), repeats=args.repeats, sync=sync)
                base = times[BASELINE]
                print(f"\n{device.type} {kind}, N={n}: median per call (ratio: / {BASELINE})")
                for name, t in times.items():
                    print(f"  {name:58s} {t * 1e6:11.1f} us {t / base:7.2f}x")
                    rows.append([kind, n, name, f"{t * 1e6:.1f}", f"{t / base:.2f}"])
        body = (
            f"Per call, median of {args.repeats} round-robin rounds; ratio to `{BASELINE}` "
            "(below 1: faster). Logits (N, 26) and labels (N, 6) on the device; scikit-learn "
            "gets numpy arrays (its argmax per group is timed).\n\n"
            + table(["what", "N", "candidate", "time (us)", "ratio"], rows)
        )
        write_section(f"bench_metrics {device.type}", body, args, device=device)


if __name__ == "__main__":
    main()
