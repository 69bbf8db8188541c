"""Self-describing training checkpoints, written atomically and loaded without unpickling code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

import imbalml

FORMAT = "imbalml-fashion-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A run killed at any moment leaves either the previous file or the new one, never half a file.
    """
    path = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION,
               "imbalml_version": imbalml.__version__, **state}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is truncated, not a checkpoint, holds pickled objects outside the
            tensor/container allowlist, or was written by another program.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, arbitrary objects refused
        raise ValueError(
            f"Checkpoint {path} could not be loaded safely (weights_only=True): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"Checkpoint {path}: expected a file written by train.py (format {FORMAT!r}), "
            f"but got format {found!r}."
        )
    return state
