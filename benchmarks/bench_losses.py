"""Forward + backward time of imbalml's losses against timm's ASL and BCE-with-logits.

Every number is measured in the same run, on logits of shape (N, 26) (the fashion layout,
groups 7-3-3-4-6-3), and reported as the best of ``--repeat`` round-robin medians and as ratios
to the two baselines:
``timm.loss.AsymmetricLossMultiLabel(reduction="sum")`` and
``F.binary_cross_entropy_with_logits``. Run:

    python benchmarks/bench_losses.py                      # CPU, and CUDA when available
    python benchmarks/bench_losses.py --sizes 64 1024 --device cpu --threads 1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _results import add_output_arguments, table, write_section
from timm.loss import AsymmetricLossMultiLabel
from torch.utils.benchmark import Timer

from imbalml import AttributeGroups, class_priors, class_weights
from imbalml.functional import (
    asymmetric_loss,
    dice_loss,
    focal_loss,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)

GROUPS = AttributeGroups([7, 3, 3, 4, 6, 3])


def make_cases(
    n: int, device: torch.device, gen: torch.Generator
) -> dict[str, Callable[[], torch.Tensor]]:
    x = (torch.randn(n, 26, generator=gen) * 3).to(device).requires_grad_()
    hard = torch.stack([torch.randint(0, k, (n,), generator=gen) for k in GROUPS.sizes], 1)
    hard = hard.to(device)
    multi_hot = GROUPS.to_one_hot(hard)  # the same labels as a (N, C) multi-hot target
    counts = torch.randint(20, 2000, (26,), generator=gen)
    weight = class_weights(counts, GROUPS).to(device)
    priors = class_priors(counts, GROUPS).to(device)
    timm_asl = AsymmetricLossMultiLabel(gamma_neg=4, gamma_pos=1, clip=0.05, reduction="sum")
    fast = {"validate_args": False}
    cases: dict[str, Callable[[], torch.Tensor]] = {
        "bce_with_logits (baseline)": lambda: F.binary_cross_entropy_with_logits(
            x, multi_hot, reduction="sum"
        ),
        "timm ASL (baseline)": lambda: timm_asl(x, multi_hot),
        "asymmetric_loss sigmoid": lambda: asymmetric_loss(x, multi_hot, reduction="sum", **fast),
        "asymmetric_loss sigmoid, validated": lambda: asymmetric_loss(
            x, multi_hot, reduction="sum"
        ),
        "asymmetric_loss sigmoid, detached w": lambda: asymmetric_loss(
            x, multi_hot, reduction="sum", detach_focal_weight=True, **fast
        ),
        "asymmetric_loss grouped": lambda: asymmetric_loss(
            x, hard, GROUPS, reduction="sum", **fast
        ),
        "focal_loss sigmoid": lambda: focal_loss(x, multi_hot, reduction="sum", **fast),
        "dice_loss sigmoid": lambda: dice_loss(x, multi_hot, **fast),
        "dice_loss grouped": lambda: dice_loss(x, hard, GROUPS, **fast),
        "weighted_cross_entropy": lambda: weighted_cross_entropy(
            x, hard, GROUPS, weight=weight, **fast
        ),
        "logit_adjusted_cross_entropy": lambda: logit_adjusted_cross_entropy(
            x, hard, GROUPS, priors=priors, **fast
        ),
    }

    def step(loss_fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            x.grad = None
            loss = loss_fn()
            loss.backward()
            return loss

        return run

    return {name: step(fn) for name, fn in cases.items()}


def measure(fn: Callable[[], torch.Tensor], device: torch.device, min_run_time: float) -> float:
    for _ in range(3):  # warm-up (allocator, CUDA context)
        fn()
    timer = Timer("fn()", globals={"fn": fn}, label=str(device))
    return timer.blocked_autorange(min_run_time=min_run_time).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024, 4096, 8192])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="round-robin rounds (best kept)")
    add_output_arguments(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for device in devices:
        rows = []
        for n in args.sizes:
            gen = torch.Generator().manual_seed(n)
            cases = make_cases(n, device, gen)
            # Round-robin repeats, keeping each case's best median: robust to load that comes
            # and goes on a shared machine (every ratio compares times from the same rounds).
            times = {name: float("inf") for name in cases}
            for _ in range(args.repeat):
                for name, fn in cases.items():
                    times[name] = min(times[name], measure(fn, device, args.min_run_time))
            bce, timm = times["bce_with_logits (baseline)"], times["timm ASL (baseline)"]
            print(f"\n{device.type} N={n} C=26   forward+backward, median")
            print(f"{'loss':40s} {'time':>10s} {'/ timm ASL':>11s} {'/ BCE':>8s}")
            for name, t in times.items():
                print(f"{name:40s} {t * 1e6:8.1f}us {t / timm:11.2f} {t / bce:8.2f}")
                rows.append([n, name, f"{t * 1e6:.1f}", f"{t / timm:.2f}", f"{t / bce:.2f}"])
        body = (
            "Forward + backward on logits (N, 26), fashion groups 7-3-3-4-6-3; best of "
            f"{args.repeat} round-robin medians; ratios to timm's `AsymmetricLossMultiLabel` and to "
            "`binary_cross_entropy_with_logits` (reduction sum), measured in the same run.\n\n"
            + table(["N", "loss", "time (us)", "/ timm ASL", "/ BCE"], rows)
        )
        write_section(f"bench_losses {device.type}", body, args, device=device)


if __name__ == "__main__":
    main()
