"""The tensor pipeline's per-sample augmentation: ``augment.py`` (the baseline) against ``kornia.augmentation``.

Both take the uint8 canvases the tensor pipeline decodes (``pipeline.decode_transform``: short side
resized, a square canvas large enough for the rotated crop's corners) and return normalised crops
after the report's training augmentation: flip p=0.5, rotation uniform in [-20, 20] degrees
(nearest neighbour, black fill), centre crop, colour jitter 0.1/0.1/0.1/0.05.

* speed: seconds per batch, the candidates timed round-robin in the same run (median of
  ``--rounds``), and the ratio against the baseline;
* distributions: per augmented image, its mean grey level, its contrast (std of the grey image),
  its saturation (mean spread between channels) and its fraction of black (fill) pixels, over
  ``--draws`` augmentations of every image; each candidate's sample is compared with the PIL
  pipeline's (``builders.build_transforms``, the report's) by the two-sample Kolmogorov-Smirnov
  statistic D (0: identical distributions) and its p-value. Run:

    PYTHONPATH=src python benchmarks/bench_augment.py --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from _fashion import add_data_arguments, augment, builders, config_for, dataset_for, pipeline
from _results import add_output_arguments, synchronizer, table, write_section
from scipy.stats import ks_2samp

from imbalml.data import AttributeImageDataset


def kornia_augmentation(crop: int) -> Any:
    """The report's augmentation with ``kornia.augmentation`` (global RNG; no generator argument)."""
    try:
        import kornia.augmentation as K
    except ImportError as exc:
        raise SystemExit("bench_augment.py compares with kornia: pip install kornia==0.9.0") from exc

    return K.AugmentationSequential(
        K.RandomHorizontalFlip(p=0.5),
        K.RandomRotation(degrees=20.0, resample="nearest", p=1.0),
        K.CenterCrop(crop),
        K.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.05, p=1.0),
    )


def candidates(crop: int, mean: tuple[float, ...], std: tuple[float, ...],
               device: torch.device) -> dict[str, Callable[[torch.Tensor, int], torch.Tensor]]:
    """name -> ``f(uint8 canvases, seed)`` giving normalised augmented crops."""
    kornia_aug = kornia_augmentation(crop).to(device)
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)

    def ours(x: torch.Tensor, seed: int) -> torch.Tensor:
        gen = torch.Generator(device=device).manual_seed(seed)
        return augment.preprocess(x, crop=crop, mean=mean, std=std, gen=gen,
                                  order_gen=torch.Generator().manual_seed(seed), augment=True)

    def kornia(x: torch.Tensor, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return (kornia_aug(x.float().div_(255)).clamp_(0, 1) - m) / s

    return {"augment.py": ours, "kornia": kornia}


def image_statistics(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> dict[str, torch.Tensor]:
    """Per image of normalised crops ``x``: grey mean, contrast, saturation, black fraction."""
    raw = x.cpu() * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    grey = (raw * torch.tensor([0.2989, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    return {
        "grey mean": grey.mean((1, 2)),
        "contrast": grey.std((1, 2)),
        "saturation": (raw.amax(1) - raw.amin(1)).mean((1, 2)),
        "black fraction": (raw.amax(1) < 0.02).float().mean((1, 2)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser, num_train=64, num_val=8)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per candidate (median)")
    parser.add_argument("--draws", type=int, default=8, help="augmentations per image for the statistics")
    parser.add_argument("--stats-size", type=int, default=64, help="crop of the distribution comparison")
    add_output_arguments(parser)
    args = parser.parse_args()
    root = dataset_for(args)
    device = torch.device(args.device)
    sync = synchronizer(device)

    # ---- speed: batches at the configured crop
    config = config_for(args, root)
    mean, std = builders.NORMALIZATION[config["normalization"]]
    canvas = pipeline.train_canvas(config)
    dataset = AttributeImageDataset(root, "train", transform=pipeline.decode_transform(config["resize_size"], canvas))
    images = torch.stack([dataset[i][0] for i in range(min(len(dataset), args.batch_size))]).to(device)
    funcs = candidates(config["image_size"], mean, std, device)
    for f in funcs.values():  # warm-up
        f(images, 0)
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for r in range(args.rounds):
        for name, f in funcs.items():
            sync()
            start = time.perf_counter()
            f(images, r)
            sync()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["augment.py"])
    speed_rows = []
    for name, values in times.items():
        t = statistics.median(values)
        speed_rows.append([name, f"{t * 1000:.1f}", f"{len(images) / t:.0f}", f"{base / t:.2f}"])
        print(f"{name:10s}: {t * 1000:8.1f} ms per batch of {len(images)}, speed vs augment.py {base / t:.2f}x")

    # ---- distributions against the PIL path, at a small crop (many draws)
    small = config_for(args, root, image_size=args.stats_size, resize_size=args.stats_size * 8 // 7)
    transform = builders.build_transforms(small, train=True)
    pil_images = AttributeImageDataset(root, "train")
    n = min(len(pil_images), 64)
    torch.manual_seed(0)
    pil = torch.stack([transform(pil_images[i][0]) for _ in range(args.draws) for i in range(n)])
    decode = pipeline.decode_transform(small["resize_size"], pipeline.train_canvas(small))
    canvases = torch.stack([decode(pil_images[i][0]) for i in range(n)]).repeat(args.draws, 1, 1, 1)
    reference = image_statistics(pil, mean, std)
    funcs = candidates(small["image_size"], mean, std, torch.device("cpu"))
    dist_rows = []
    for name, f in funcs.items():
        got = image_statistics(f(canvases, 1), mean, std)
        for stat, values in got.items():
            test = ks_2samp(values.numpy(), reference[stat].numpy())
            dist_rows.append([name, stat, f"{float(values.mean()):.4f}", f"{float(reference[stat].mean()):.4f}",
                              f"{test.statistic:.3f}", f"{test.pvalue:.3g}"])
            print(f"{name:10s} {stat:14s}: mean {float(values.mean()):.4f} (PIL {float(reference[stat].mean()):.4f}), "
                  f"KS D {test.statistic:.3f}, p {test.pvalue:.3g}")
    body = (
        f"Per-sample training augmentation of the tensor pipeline, batches of {len(images)} uint8 canvases "
        f"({canvas} px) to {config['image_size']} px normalised crops; candidates timed round-robin, "
        f"median of {args.rounds} rounds; speed relative to `augment.py` (the baseline, same run).\n\n"
        + table(["candidate", "ms per batch", "img/s", "speed vs augment.py"], speed_rows)
        + f"\n\nDistributions: {n} images x {args.draws} draws at {small['image_size']} px, per-image "
        "statistics compared with the PIL pipeline's (the report's) by the two-sample KS statistic D.\n\n"
        + table(["candidate", "statistic", "mean", "PIL mean", "KS D", "p"], dist_rows)
    )
    write_section(f"bench_augment {device.type}", body, args, device=device, extra_packages=("kornia",))


if __name__ == "__main__":
    main()
