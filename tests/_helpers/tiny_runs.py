"""Tiny CPU runs of the fashion example: options, a dataset maker, a subprocess environment.

Shared by the reliability tests (bad inputs, crash safety, numerics, multi-process, safe loading).
The run is the one of ``test_example_train.py``: the 3-stage ``test_van`` backbone on 32-pixel
crops of a 64/32/16-image synthetic set, a few seconds per epoch on one CPU thread.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import torch
from torch import nn

from _helpers.fashion_example import EXAMPLE_DIR, synthetic

REPO = EXAMPLE_DIR.parents[1]
TRAIN_SCRIPT = EXAMPLE_DIR / "train.py"
PREDICT_SCRIPT = EXAMPLE_DIR / "predict.py"

#: Options of a tiny deterministic CPU run (add --data-root, --out-dir, --epochs).
TINY = ["--backbone", "test_van", "--image-size", "32", "--resize-size", "36", "--batch-size", "16",
        "--workers", "0", "--head-hidden", "16", "--lr", "0.003", "--pipeline", "pil"]  # fmt: skip


def make_tiny_dataset(
    root: Path, *, num_train: int = 64, num_val: int = 32, num_test: int = 16
) -> Path:
    """The synthetic stand-in in the course layout, 40-pixel images."""
    synthetic.make_synthetic_dataset(
        root, num_train=num_train, num_val=num_val, num_test=num_test, image_size=40, seed=1
    )
    return root


def subprocess_env() -> dict[str, str]:
    """Environment of a child Python: this checkout's sources first, one deterministic thread."""
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, str(REPO / "tests"), env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    env.pop("LOCAL_RANK", None)
    return env


PYTHON = sys.executable


class NaNAtSteps(nn.Module):
    """Wrap a criterion: training calls number ``bad`` (1-based, counted over the run) give NaN.

    Evaluation (under ``no_grad``) is not counted and never poisoned.
    """

    def __init__(self, inner: nn.Module, bad: set[int]) -> None:
        super().__init__()
        self.inner, self.bad, self.calls = inner, bad, 0
        self.reduction = getattr(inner, "reduction", "mean")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.inner(input, target)
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls in self.bad:
                return loss * math.nan
        return loss
