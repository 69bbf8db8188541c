"""The example's training step with the old hand-written ASL kernels against the plain loss.

One process, one model: EfficientNet-Lite0 (``timm.create_model("tf_efficientnet_lite0")``, 26
outputs, random weights), 32 images at 160 px, forward + backward + AdamW step on the CPU, with
the report's loss ``AsymmetricLoss(groups, gamma_pos=1, gamma_neg=4, clip=0.05,
detach_focal_weight=True, reduction="sum")`` from two versions of imbalml:

* ``old``: the code of a git revision (default ``main``, which has the fused autograd kernels),
  extracted with ``git archive`` into a temporary folder and imported as ``imbalml_old``;
* ``new``: the working tree's ``imbalml`` (``PYTHONPATH=src``).

Steps alternate old / new after a warm-up, so both see the same machine load; the medians are
printed with the loss alone (forward + backward on the same (32, 26) logits). ``--clock thread``
times this thread's CPU time instead of the wall clock: with ``--threads 1`` it is blind to the
other processes of a shared machine. The script also
counts the imbalml source files a logits tensor passes through in one ``AsymmetricLoss`` call
(the Python functions called, by file). Run from the repository root:

    PYTHONPATH=src python benchmarks/bench_train_step.py --steps 6 --threads 2
    PYTHONPATH=src python benchmarks/bench_train_step.py --threads 1 --clock thread
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import timm
import torch

SIZES = [7, 3, 3, 4, 6, 3]  # the fashion layout


def import_old(revision: str, folder: Path) -> Any:
    """``git archive`` the revision's ``src/imbalml`` into ``folder`` as package ``imbalml_old``."""
    archive = subprocess.run(
        ["git", "archive", revision, "src/imbalml"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    package = folder / "imbalml_old"
    (folder / "src" / "imbalml").rename(package)
    for path in package.rglob("*.py"):  # absolute imports of imbalml -> imbalml_old
        text = path.read_text()
        path.write_text(re.sub(r"\bimbalml\b(?=[.\s])", "imbalml_old", text))
    sys.path.insert(0, str(folder))
    return importlib.import_module("imbalml_old")


def make_loss(module: Any) -> torch.nn.Module:
    """The report's loss from an imbalml version."""
    groups = module.AttributeGroups(SIZES)
    return module.AsymmetricLoss(
        groups, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, detach_focal_weight=True,
        reduction="sum",
    )  # fmt: skip


def files_visited(criterion: torch.nn.Module, package: str, x: torch.Tensor, y: torch.Tensor) -> tuple[list[str], int]:  # fmt: skip
    """The package's files whose Python functions run in one call, and the number of calls."""
    root = Path(importlib.import_module(package).__file__).parent
    seen: list[str] = []
    calls = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event != "call":
            return
        path = Path(frame.f_code.co_filename)
        if root in path.parents:
            calls += 1
            name = str(path.relative_to(root.parent))
            if name not in seen:
                seen.append(name)

    sys.setprofile(profile)
    try:
        criterion(x, y).backward()
    finally:
        sys.setprofile(None)
    return seen, calls


def median_ms(times: list[float]) -> float:
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--revision", default="main", help="git revision of the old loss")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per version")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per version")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--loss-repeats", type=int, default=200, help="loss-only repetitions")
    parser.add_argument("--clock", choices=["wall", "thread"], default="wall",
                        help="'thread': this thread's CPU time (use with --threads 1)")  # fmt: skip
    args = parser.parse_args()
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    torch.set_num_threads(args.threads)
    import imbalml as new

    with tempfile.TemporaryDirectory() as tmp:
        old = import_old(args.revision, Path(tmp))
        losses = {"old": make_loss(old), "new": make_loss(new)}
        gen = torch.Generator().manual_seed(0)
        images = torch.randn(32, 3, 160, 160, generator=gen)
        target = torch.stack([torch.randint(0, k, (32,), generator=gen) for k in SIZES], 1)
        logits = torch.randn(32, sum(SIZES), generator=gen)

        # The two losses agree (value and gradient) before anything is timed.
        grads = {}
        for name, criterion in losses.items():
            x = logits.clone().requires_grad_()
            value = criterion(x, target)
            value.backward()
            grads[name] = (value.detach(), x.grad)
        torch.testing.assert_close(grads["old"][0], grads["new"][0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grads["old"][1], grads["new"][1], rtol=1e-4, atol=1e-6)

        print(f"torch {torch.__version__}, timm {timm.__version__}, {args.threads} threads, "
              f"{args.clock} clock")  # fmt: skip
        for name, criterion in losses.items():
            package = "imbalml_old" if name == "old" else "imbalml"
            files, calls = files_visited(criterion, package, logits.clone().requires_grad_(), target)  # fmt: skip
            print(f"{name}: one AsymmetricLoss call (forward + backward) runs {calls} imbalml "
                  f"functions in {len(files)} files: {', '.join(files)}")  # fmt: skip

        def loss_only(criterion: torch.nn.Module) -> Callable[[], None]:
            def run() -> None:
                x = logits.clone().requires_grad_()
                criterion(x, target).backward()

            return run

        loss_times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.loss_repeats):
            for name, criterion in losses.items():
                start = clock()
                loss_only(criterion)()
                loss_times[name].append(clock() - start)

        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=26)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()

        def step(criterion: torch.nn.Module) -> float:
            start = clock()
            optimizer.zero_grad(set_to_none=True)
            criterion(model(images), target).backward()
            optimizer.step()
            return clock() - start

        for _ in range(args.warmup):
            for criterion in losses.values():
                step(criterion)
        step_times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.steps):
            for name, criterion in losses.items():
                step_times[name].append(step(criterion))

    print(f"\n{'version':8s} {'train step (median ms)':>24s} {'loss fwd+bwd (median ms)':>26s}")
    for name in ("old", "new"):
        print(f"{name:8s} {median_ms(step_times[name]):24.1f} {median_ms(loss_times[name]):26.3f}")
    print(f"steps: old {[round(1e3 * t) for t in step_times['old']]}, "
          f"new {[round(1e3 * t) for t in step_times['new']]} ms")  # fmt: skip


if __name__ == "__main__":
    main()
