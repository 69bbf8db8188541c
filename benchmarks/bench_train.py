"""End-to-end training time of the report's recipe on the synthetic dataset, with a breakdown.

The report trained 100 epochs of VAN-B0 (5000 training and 1000 validation images at 224 px,
batch 64, grouped-softmax ASL, minority mixup, Adam) in about 96 minutes on an RTX 4060 Ti; the
target on one H200 is 3 minutes. This script runs the example's own loop
(``train.train_one_epoch`` and ``train.evaluate`` on ``pipeline.build_data``) and reports:

* setup: building the data pipeline (the tensor path decodes every image once there) and the
  model; warm-up: the first steps (cuDNN autotuning, ``torch.compile``);
* data: producing one epoch of batches alone; step: forward + backward + optimiser on one batch
  repeated; evaluation: one pass over the validation set;
* end to end: whole epochs (training + evaluation), then the 100-epoch time.

When fewer than the full 5000/1000 images or fewer steps than an epoch are measured (``--max-steps``,
``--num-train``: for CPUs), the full-scale epoch is *extrapolated* linearly from the time per step
and per validation batch, and the table says so. The baseline is the report's own time
(96 min for 100 epochs on an RTX 4060 Ti, quoted, not measured here). Run:

    PYTHONPATH=src python benchmarks/bench_train.py --device cuda --compile       # full scale, GPU
    PYTHONPATH=src python benchmarks/bench_train.py --device cpu --num-train 128 --num-val 64 \\
        --epochs 2 --max-steps 2                                               # CPU, extrapolated
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
import warnings
from typing import Any

import torch
from _fashion import add_data_arguments, builders, config_for, dataset_for, pipeline, train
from _fashion import runtime as runtime_mod
from _results import add_output_arguments, synchronizer, table, write_section

from imbalml import label_counts

REPORT_MINUTES = 96.0  # the report: 100 epochs on one RTX 4060 Ti
FULL_TRAIN, FULL_VAL = 5000, 1000


def _capped(batches: Any, limit: int | None) -> Any:
    return batches if limit is None else itertools.islice(batches, limit)


class _FirstBatchClock:
    """Iterate ``batches``, noting when the first batch is ready (worker start-up excluded after)."""

    def __init__(self, batches: Any, sync: Any) -> None:
        self.batches, self.sync, self.ready = batches, sync, 0.0

    def __iter__(self) -> Any:
        iterator = iter(self.batches)
        first = next(iterator)
        self.sync()
        self.ready = time.perf_counter()
        yield first
        yield from iterator


def _count_syncs(run: Any) -> int:
    """CUDA synchronisations that torch reports while ``run()`` executes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_data_arguments(parser, num_train=FULL_TRAIN, num_val=FULL_VAL)
    parser.add_argument("--backbone", default="van_b0")
    parser.add_argument("--epochs", type=int, default=3, help="end-to-end epochs to measure")
    parser.add_argument("--target-epochs", type=int, default=100, help="epochs of the full run")
    parser.add_argument(
        "--max-steps", type=int, default=None, help="training steps per measured epoch"
    )
    parser.add_argument(
        "--max-val-batches", type=int, default=None, help="validation batches per evaluation"
    )
    parser.add_argument(
        "--step-repeats", type=int, default=10, help="steps of the compute-only timing"
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="stop measuring epochs after this many seconds (at least one is measured)",
    )
    parser.add_argument("--pipeline", choices=["auto", "pil", "tensor"], default="auto")
    parser.add_argument(
        "--amp",
        choices=["auto", "off", "bf16", "fp16"],
        default="auto",
        help="auto: bf16 on CUDA, off on CPU",
    )
    parser.add_argument(
        "--channels-last", choices=["auto", "on", "off"], default="auto", help="auto: on for CUDA"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    add_output_arguments(parser)
    args = parser.parse_args()
    device = runtime_mod.resolve_device(args.device)
    cuda = device.type == "cuda"
    amp = args.amp if args.amp != "auto" else ("bf16" if cuda else "off")
    channels_last = args.channels_last == "on" or (args.channels_last == "auto" and cuda)

    start = time.perf_counter()
    root = dataset_for(args)
    generate_s = time.perf_counter() - start
    config = config_for(
        args,
        root,
        device=str(device),
        pipeline=args.pipeline,
        amp=amp,
        channels_last=channels_last,
        compile=args.compile,
        backbone=args.backbone,
        epochs=args.target_epochs,
        out_dir="runs/bench",
    )
    runtime = train.Runtime(config)
    sync = synchronizer(runtime.device)
    start = time.perf_counter()
    data = pipeline.build_data(config, root, runtime)
    groups = data.groups
    counts = label_counts(data.train_targets, groups)
    torch.manual_seed(0)
    model = builders.build_model(config, groups).to(runtime.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    criterion = builders.build_loss(config, groups, counts, validate_args=runtime.check_values).to(
        runtime.device
    )
    optimizer = builders.build_optimizer(config, model, runtime.device)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    train_model: Any = torch.compile(model) if args.compile else model
    sync()
    setup_s = time.perf_counter() - start
    kind = config["pipeline"] if config["pipeline"] != "auto" else ("tensor" if cuda else "pil")
    steps_full = math.ceil(FULL_TRAIN / args.batch_size)
    val_full = math.ceil(FULL_VAL / args.batch_size)
    steps_epoch = min(math.ceil(args.num_train / args.batch_size), args.max_steps or 10**9)
    val_epoch = min(math.ceil(args.num_val / args.batch_size), args.max_val_batches or 10**9)
    print(
        f"{device}: {kind} pipeline, amp {amp}, channels_last {channels_last}, compile {args.compile}; "
        f"{steps_epoch} steps and {val_epoch} validation batches per measured epoch; "
        f"setup {setup_s:.1f} s (data generation {generate_s:.1f} s)"
    )

    def epoch_batches(epoch: int) -> Any:
        return _capped(data.train_batches(epoch, train.seed_epoch(0, epoch)), args.max_steps)

    def val_batches() -> Any:
        return (
            list(_capped(iter(data.val_loader), args.max_val_batches))
            if args.max_val_batches
            else data.val_loader
        )

    def timed(fn: Any) -> tuple[float, Any]:
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        return time.perf_counter() - t0, out

    # Warm-up: cuDNN autotuning and compilation (training and evaluation graphs).
    warm = list(itertools.islice(data.train_batches(0, 1), 2))
    warmup_s, _ = timed(
        lambda: (
            train.train_one_epoch(
                train_model, criterion, warm, optimizer, runtime, groups, 0, config
            ),
            train.evaluate(
                train_model,
                criterion,
                list(itertools.islice(iter(data.val_loader), 1)),
                runtime,
                groups,
                config,
            ),
        )
    )
    print(f"warm-up (2 steps + 1 validation batch, compilation included): {warmup_s:.1f} s")

    # Breakdown.
    data_s, n_batches = timed(lambda: sum(1 for _ in epoch_batches(0)))
    one = next(iter(data.train_batches(0, 2)))
    repeated = [one] * args.step_repeats
    step_s, _ = timed(
        lambda: train.train_one_epoch(
            train_model, criterion, repeated, optimizer, runtime, groups, 0, config
        )
    )
    step_s /= args.step_repeats
    eval_s, _ = timed(
        lambda: train.evaluate(train_model, criterion, val_batches(), runtime, groups, config)
    )
    syncs = None
    if (
        cuda
    ):  # synchronisations per step: the difference between 8 steps and 4 (epoch-end reads cancel)
        counts_4_8 = [
            _count_syncs(
                lambda k=k: train.train_one_epoch(
                    train_model, criterion, [one] * k, optimizer, runtime, groups, 0, config
                )
            )
            for k in (4, 8)
        ]
        syncs = (counts_4_8[1] - counts_4_8[0]) / 4
        print(
            f"CUDA synchronisations reported: {counts_4_8} in 4 and 8 training steps; {syncs:g} per step"
        )

    # End to end. Each pass is split into its start-up (until the first batch is ready: worker
    # processes, the epoch's sampler) and the rest, so a short measured epoch extrapolates honestly.
    epoch_times: list[tuple[float, float]] = []
    startups: list[tuple[float, float]] = []
    loop_start = time.perf_counter()
    for epoch in range(args.epochs):
        batches = _FirstBatchClock(epoch_batches(epoch), sync)
        sync()
        t0 = time.perf_counter()
        result = train.train_one_epoch(
            train_model, criterion, batches, optimizer, runtime, groups, epoch, config
        )
        sync()
        t1 = time.perf_counter()
        vals = _FirstBatchClock(val_batches(), sync)
        val = train.evaluate(train_model, criterion, vals, runtime, groups, config)
        sync()
        t2 = time.perf_counter()
        scheduler.step()
        epoch_times.append((t1 - batches.ready, t2 - vals.ready))
        startups.append((batches.ready - t0, vals.ready - t1))
        print(
            f"epoch {epoch + 1}: train {t1 - t0:.2f} s (start-up {batches.ready - t0:.2f} s), eval {t2 - t1:.2f} s "
            f"(start-up {vals.ready - t1:.2f} s), loss {result['train_loss']:.4g}, val score {val['val_score']:.4f}"
        )
        if args.time_budget is not None and time.perf_counter() - loop_start > args.time_budget:
            print(f"time budget of {args.time_budget:.0f} s reached after {epoch + 1} epochs")
            break

    steady = epoch_times[1:] or epoch_times  # the first epoch may still compile or autotune
    later = startups[1:] or startups
    train_step = sum(t for t, _ in steady) / len(steady) / steps_epoch
    val_batch = sum(v for _, v in steady) / len(steady) / val_epoch
    startup = sum(a + b for a, b in later) / len(later)
    full_epoch = startup + train_step * steps_full + val_batch * val_full
    measured_full = (
        args.num_train >= FULL_TRAIN
        and args.num_val >= FULL_VAL
        and args.max_steps is None
        and args.max_val_batches is None
        and args.batch_size == 64
    )
    label = (
        "measured"
        if measured_full
        else (f"EXTRAPOLATED from {steps_epoch} steps and {val_epoch} validation batches per epoch")
    )
    if args.image_size != 224 or args.backbone != "van_b0":
        label += f" ({args.backbone} at {args.image_size} px, not the report's van_b0 at 224 px)"
    total_s = args.target_epochs * full_epoch + warmup_s + setup_s
    train_img_s = args.batch_size / train_step
    rows = [
        [
            "setup: data pipeline + model (once)",
            f"{setup_s:.2f} s",
            "decode of every image for the tensor path",
        ],
        [
            "warm-up: 2 steps + 1 val batch (once)",
            f"{warmup_s:.2f} s",
            "cuDNN autotuning, torch.compile",
        ],
        [
            "data only, per step",
            f"{1e3 * data_s / max(n_batches, 1):.1f} ms",
            f"{args.batch_size * n_batches / data_s:.0f} img/s",
        ],
        [
            "forward + backward + step, per step",
            f"{1e3 * step_s:.1f} ms",
            f"{args.batch_size / step_s:.0f} img/s",
        ],
        [
            "evaluation, per validation batch",
            f"{1e3 * eval_s / val_epoch:.1f} ms",
            f"{args.batch_size * val_epoch / eval_s:.0f} img/s",
        ],
        [
            "epoch start-up (first batches ready)",
            f"{startup:.2f} s",
            "per epoch: train + validation",
        ],
        ["end to end training, per step", f"{1e3 * train_step:.1f} ms", f"{train_img_s:.0f} img/s"],
        [
            "end to end evaluation, per batch",
            f"{1e3 * val_batch:.1f} ms",
            f"{args.batch_size / val_batch:.0f} img/s",
        ],
        [f"full epoch ({FULL_TRAIN} + {FULL_VAL} images)", f"{full_epoch:.2f} s", label],
        [
            f"{args.target_epochs} epochs, training loop only",
            f"{args.target_epochs * full_epoch / 60:.2f} min",
            label,
        ],
        [f"{args.target_epochs} epochs incl. setup and warm-up", f"{total_s / 60:.2f} min", label],
        [
            "the report (RTX 4060 Ti, quoted)",
            f"{REPORT_MINUTES:.0f} min",
            f"speed-up over the report: {REPORT_MINUTES * 60 / total_s:.2g}x",
        ],
    ]
    if syncs is not None:
        rows.append(
            [
                "CUDA synchronisations per training step",
                f"{syncs:g}",
                "torch's sync debug mode, 8 vs 4 steps",
            ]
        )
    print()
    print(table(["measurement", "time", "note"], rows))
    epochs_text = ", ".join(
        f"{a + t:.2f}+{b + v:.2f}" for (t, v), (a, b) in zip(epoch_times, startups)
    )
    body = (
        f"The report's recipe ({args.backbone}, batch {args.batch_size}, {args.image_size} px, grouped ASL, minority "
        f"mixup, Adam) on the synthetic set with {args.num_train} training and {args.num_val} validation images; "
        f"`{kind}` pipeline, amp {amp}, channels_last {channels_last}, torch.compile {args.compile}. Measured "
        f"epochs (train + eval seconds): {epochs_text}. Steady epochs exclude the first.\n\n"
        + table(["measurement", "time", "note"], rows)
    )
    name = f"bench_train {device.type}" + (" compiled" if args.compile else "")
    write_section(name, body, args, device=device)


if __name__ == "__main__":
    main()
