"""Forward + backward time of imbalml's losses against timm's ASL and BCE-with-logits.

Every number is measured in the same run, on logits of shape (N, 26) (the fashion layout,
groups 7-3-3-4-6-3): the median of ``--repeats`` round-robin rounds, reported with its ratio to
the two baselines ``timm.loss.AsymmetricLossMultiLabel(reduction="sum")`` and
``F.binary_cross_entropy_with_logits``. Every loss is plain PyTorch on log-probabilities (no
hand-written autograd); ``benchmarks/bench_train_step.py`` puts the loss in a training step. The
goal line compares grouped ASL (grouped-softmax form) with timm's sigmoid ASL: target <= 1.5x.
Run:

    python benchmarks/bench_losses.py                      # CPU, and CUDA when available
    python benchmarks/bench_losses.py --device cpu --threads 1 --clock thread
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import _results
import torch
import torch.nn.functional as F
from timm.loss import AsymmetricLossMultiLabel

from imbalml import AttributeGroups, class_priors, class_weights
from imbalml.functional import (
    asymmetric_loss,
    dice_loss,
    focal_loss,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)

GROUPS = AttributeGroups([7, 3, 3, 4, 6, 3])
TIMM, GROUPED, GOAL = "timm ASL (baseline)", "asymmetric_loss grouped", 1.5


def make_cases(
    n: int, device: torch.device, gen: torch.Generator
) -> tuple[dict[str, Callable[[], torch.Tensor]], torch.Tensor]:
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
        TIMM: lambda: timm_asl(x, multi_hot),
        "asymmetric_loss sigmoid": lambda: asymmetric_loss(x, multi_hot, reduction="sum", **fast),
        "asymmetric_loss sigmoid, validated": lambda: asymmetric_loss(
            x, multi_hot, reduction="sum"
        ),
        "asymmetric_loss sigmoid, detached w": lambda: asymmetric_loss(
            x, multi_hot, reduction="sum", detach_focal_weight=True, **fast
        ),
        GROUPED: lambda: asymmetric_loss(x, hard, GROUPS, reduction="sum", **fast),
        "asymmetric_loss grouped, validated": lambda: asymmetric_loss(
            x, hard, GROUPS, reduction="sum"
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

    return {name: step(fn) for name, fn in cases.items()}, x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024, 4096, 8192])
    _results.add_device_arguments(parser)
    parser.add_argument("--repeats", type=int, default=15, help="round-robin rounds (median)")
    parser.add_argument(
        "--clock",
        choices=["wall", "thread"],
        default="wall",
        help="CPU: 'thread' times this thread's CPU time (with --threads 1, blind to other load)",
    )
    _results.add_output_arguments(parser)
    args = parser.parse_args()
    devices = _results.selected_devices(args)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for device in devices:
        thread = args.clock == "thread" and device.type == "cpu"
        clock = time.thread_time if thread else time.perf_counter
        rows, goal = [], []
        for n in args.sizes:
            cases, x = make_cases(n, device, torch.Generator().manual_seed(n))
            times = _results.round_robin(
                cases, repeats=args.repeats, sync=_results.synchronizer(device), clock=clock
            )
            bce, timm = times["bce_with_logits (baseline)"], times[TIMM]
            print(f"\n{device.type} N={n} C=26   forward+backward, median")
            print(f"{'loss':42s} {'time':>10s} {'/ timm ASL':>11s} {'/ BCE':>8s}")
            for name, t in times.items():
                print(f"{name:42s} {t * 1e6:8.1f}us {t / timm:11.2f} {t / bce:8.2f}")
                rows.append([n, name, f"{t * 1e6:.1f}", f"{t / timm:.2f}", f"{t / bce:.2f}"])
            ratio = times[GROUPED] / timm
            goal.append([n, f"{ratio:.2f}", "yes" if ratio <= GOAL else "no"])
        print(f"\n{device.type}: grouped ASL / timm ASL (goal <= {GOAL}x)")
        print(_results.table(["N", "grouped / timm", f"<= {GOAL}x"], goal))
        clock_name = "thread CPU time" if thread else "wall-clock time"
        body = (
            "Forward + backward on logits (N, 26), fashion groups 7-3-3-4-6-3; median of "
            f"{args.repeats} round-robin rounds ({clock_name}, {torch.get_num_threads()} torch "
            "thread(s)); ratios to timm's `AsymmetricLossMultiLabel` and to "
            "`binary_cross_entropy_with_logits` (reduction sum), measured in the same run.\n\n"
            f"Goal: grouped ASL (grouped-softmax form) at most {GOAL}x timm's sigmoid ASL.\n\n"
            + _results.table(["N", "grouped / timm", f"<= {GOAL}x"], goal)
            + "\n\n"
            + _results.table(["N", "loss", "time (us)", "/ timm ASL", "/ BCE"], rows)
        )
        _results.write_section(f"bench_losses {device.type}", body, args, device=device)


if __name__ == "__main__":
    main()
