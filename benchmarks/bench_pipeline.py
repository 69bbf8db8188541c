"""Images per second of the example's two data pipelines on the synthetic dataset.

* ``pil``: the report's pipeline: ``DataLoader`` workers decode the JPEGs and augment them with
  PIL, ``MixupCollator`` mixes the batch (the baseline);
* ``tensor``: the images are decoded once into a uint8 tensor cache (on the device), then each
  epoch augments and mixes whole batches there (``augment.py`` and ``BatchMixup``).

One training epoch of batches (flip, rotation, colour jitter, resize/crop, normalisation, minority
mixup; batches moved to the device) is timed per pipeline and device, after a first epoch that
pays the start-up (worker processes, the tensor path's decode, CUDA kernels). Nothing trains: this
is the rate at which each pipeline can feed a model. Run:

    PYTHONPATH=src python benchmarks/bench_pipeline.py                     # CPU, and CUDA when present
    PYTHONPATH=src python benchmarks/bench_pipeline.py --num-train 5000 --device cuda --workers 16
"""

from __future__ import annotations

import argparse
import time

import torch
from _fashion import add_data_arguments, config_for, dataset_for, pipeline, train
from _results import add_output_arguments, synchronizer, table, write_section


def time_epoch(data: pipeline.Data, epoch: int, device: torch.device) -> tuple[float, int]:
    """Seconds to produce every training batch of one epoch on ``device``, and the image count."""
    sync = synchronizer(device)
    sync()
    start = time.perf_counter()
    images = 0
    for x, y in data.train_batches(epoch, 1000 + epoch):
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        images += x.shape[0]
    sync()
    return time.perf_counter() - start, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser, num_train=512, num_val=64)
    parser.add_argument(
        "--epochs", type=int, default=2, help="epochs per pipeline (the first is warm-up)"
    )
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    add_output_arguments(parser)
    args = parser.parse_args()
    root = dataset_for(args)
    devices = ["cpu"] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append("cuda")
    for device in devices:
        rows, rates = [], {}
        for kind in ("pil", "tensor"):
            config = config_for(args, root, device=device, pipeline=kind)
            runtime = train.Runtime(config)
            start = time.perf_counter()
            data = pipeline.build_data(config, root, runtime)
            setup = time.perf_counter() - start
            epochs = [time_epoch(data, e, runtime.device) for e in range(args.epochs)]
            seconds, images = epochs[-1]
            rates[kind] = images / seconds
            first = epochs[0][1] / epochs[0][0]
            print(
                f"{device} {kind:6s}: setup {setup:6.2f} s, first epoch {first:8.1f} img/s, "
                f"last epoch {rates[kind]:8.1f} img/s ({images} images in {seconds:.2f} s)"
            )
            rows.append(
                [
                    device,
                    kind,
                    f"{setup:.2f}",
                    f"{first:.1f}",
                    f"{rates[kind]:.1f}",
                    f"{rates[kind] / rates['pil']:.2f}",
                ]
            )
        body = (
            f"One training epoch of {args.num_train} synthetic images ({args.source_size} px JPEGs), "
            f"batches of {args.batch_size} at {args.image_size} px (resize {args.resize_size}), report "
            f"augmentation and minority mixup, {args.workers} DataLoader workers for `pil`. Setup: "
            "building the pipeline (the tensor path decodes every image once there). img/s of the last "
            "of the epochs; speed-up relative to `pil`.\n\n"
            + table(
                ["device", "pipeline", "setup (s)", "first epoch (img/s)", "img/s", "speed-up"],
                rows,
            )
        )
        write_section(f"bench_pipeline {device}", body, args, device=device)


if __name__ == "__main__":
    main()
