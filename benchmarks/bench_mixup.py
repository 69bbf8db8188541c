"""Cost of minority-aware mixup.

1. Collate: MixupCollator vs torch.utils.data.default_collate on 64 images 3x224x224 (float32) with
   fashion-like labels (target: <= 1.2x for mode="minority").
2. On device: BatchMixup on the stacked batch (CPU; CUDA too when available), against a plain copy
   of the batch (``images.clone()``) measured in the same run.

Candidates run round-robin (so load drift on a shared machine hits them alike); medians are printed
with their ratio to the first line of each table. Collation runs with one torch thread by default,
as inside a DataLoader worker.

Run: PYTHONPATH=src python benchmarks/bench_mixup.py [--repeats 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from _results import add_output_arguments, table, write_section
from torch.utils.data import default_collate

from imbalml import AttributeGroups, BatchMixup, MixupCollator
from imbalml.functional import minority_attributes, minority_mask

GROUPS = AttributeGroups([7, 3, 3, 4, 6, 3])
COUNTS = [768, 853, 334, 422, 109, 2408, 106, 1523, 862, 2615, 488, 951, 3561,
          2086, 826, 19, 2069, 310, 702, 3399, 105, 48, 436, 749, 279, 3972]  # fmt: skip


def interleaved_ms(
    candidates: dict[str, Callable[[], object]],
    repeats: int,
    sync: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """Median milliseconds of each candidate, run round-robin so load drift hits all alike."""
    for fn in candidates.values():
        fn()
        fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def report(title: str, results: dict[str, float], rows: list[list[str]] | None = None) -> None:
    print(f"\n== {title} ==")
    base = next(iter(results.values()))
    for name, ms in results.items():
        print(f"{name:44} {ms:9.3f} ms   {ms / base:5.2f}x")
        if rows is not None:
            rows.append([title, name, f"{ms:.3f}", f"{ms / base:.2f}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: what a DataLoader worker runs with)",
    )
    add_output_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.batch_size
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    labels = torch.stack(
        [torch.multinomial(s, n, replacement=True, generator=g) for s in GROUPS.split(counts)], 1
    )
    images = [torch.randn(3, 224, 224, generator=g) for _ in range(n)]
    batch = list(zip(images, labels))
    share = (
        minority_mask(labels, GROUPS, minority=minority_attributes(COUNTS)).float().mean().item()
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {n}x3x224x224 float32"
    )
    print(f"minority images in the batch: {share:.0%}")

    collate: dict[str, Callable[[], object]] = {"default_collate": lambda: default_collate(batch)}
    for mode in ("none", "minority", "minority_pairs", "all"):
        c = MixupCollator(GROUPS, counts=COUNTS, mode=mode, seed=0)
        collate[f"MixupCollator(mode={mode!r})"] = lambda c=c: c(batch)
    rows: list[list[str]] = []
    report(
        "collate on the CPU (baseline: default_collate)",
        interleaved_ms(collate, args.repeats),
        rows,
    )

    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        x = torch.stack(images).to(device)
        y = labels.to(device)
        on_device: dict[str, Callable[[], object]] = {"images.clone()": lambda x=x: x.clone()}
        for mode in ("minority", "all"):
            for validate in (True, False):
                m = BatchMixup(GROUPS, counts=COUNTS, mode=mode, seed=0, validate_args=validate)
                m = m.to(device)
                name = f"BatchMixup({mode!r}, validate_args={validate})"
                on_device[name] = lambda m=m, x=x, y=y: m(x, y)
        report(
            f"BatchMixup on {device} (baseline: a copy of the batch)",
            interleaved_ms(on_device, args.repeats, sync),
            rows,
        )
    body = (
        f"Batch {n}x3x224x224 float32 with fashion-like labels ({share:.0%} minority images); medians "
        f"of {args.repeats} round-robin rounds, {torch.get_num_threads()} torch thread(s); ratio to the first "
        "line of each table (target: MixupCollator(mode='minority') <= 1.2x default_collate).\n\n"
        + table(["table", "candidate", "time (ms)", "ratio"], rows)
    )
    device = "cuda" if torch.cuda.is_available() else None
    write_section("bench_mixup", body, args, device=device)


if __name__ == "__main__":
    main()
