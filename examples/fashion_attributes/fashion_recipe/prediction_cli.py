"""The options of ``predict.py``: no torch import, so ``--help`` and usage errors answer at once."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["get_args_parser"]


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Options of the prediction script."""
    parser = argparse.ArgumentParser(description="Predict (and, on a labelled split, evaluate) with a checkpoint written by train.py.", add_help=add_help,
                                     allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="A best_score.pt, best_loss.pt or last.pt written by train.py.")
    parser.add_argument("--data-root", type=Path, default=None, metavar="PATH",
                        help="Dataset folder in the course layout; without it, the one the checkpoint was "
                        "trained on.")
    parser.add_argument("--split", default="test", choices=("train", "val", "test", "selection"),
                        help="Split to predict; selection is the part of the training images the run held "
                        "out to select checkpoints (stored in the checkpoint).")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="Prediction file to write; without it, prediction.txt beside the checkpoint.")
    parser.add_argument("--report", type=Path, default=None, metavar="PATH",
                        help="Also write the metric report of a labelled split as JSON to this file.")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="Images per forward pass.")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="DataLoader worker processes.")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N.")
    return parser
