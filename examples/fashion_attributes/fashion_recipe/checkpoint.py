"""Self-describing training checkpoints, written atomically and loaded without unpickling code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

import imbalml
from imbalml.data import atomic_write
from imbalml.models import check_state_dict

FORMAT = "imbalml-fashion-checkpoint"
FORMAT_VERSION = 1

#: Keys every checkpoint holds; a run's ``last.pt`` holds :data:`RESUME_KEYS` too.
REQUIRED_KEYS = ("model", "config", "groups")
RESUME_KEYS = ("optimizer", "scheduler", "scaler", "epoch", "history", "best_score", "best_loss",
               "best_score_epoch", "best_loss_epoch")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A run killed at any moment leaves either the previous file or the new one, never half a file.
    """
    with atomic_write(path, "wb") as f:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION,
                    "imbalml_version": imbalml.__version__, **state}, f)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Only tensors, containers and plain Python values are unpickled (torch's allowlist); a file
    holding any other object is refused before that object is built.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is truncated, not a checkpoint, holds pickled objects outside the
            tensor/container allowlist, was written by another program, or lacks the model, its
            configuration or its label layout.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, arbitrary objects refused
        raise ValueError(
            f"Checkpoint {path} could not be loaded safely (weights_only=True): {_detail(exc)}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"Checkpoint {path}: expected a file written by train.py (format {FORMAT!r}), "
            f"but got format {found!r}."
        )
    require_keys(state, REQUIRED_KEYS, f"Checkpoint {path}")
    return state


def _detail(exc: BaseException) -> str:
    """Why ``torch.load`` failed, in one line: for a refused file the global or opcode at fault.

    torch's advice to retry with ``weights_only=False`` is left out: that would run any code the
    file contains, and these scripts never do it.
    """
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if found:
        text = found.group(1).split(". Please use")[0]
        if "Unsupported operand" in text:
            text += " (not a torch.save file)"
        else:
            text += " (only tensors, containers and plain values are allowed)"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}"


def require_keys(state: dict[str, Any], keys: tuple[str, ...], source: str) -> None:
    """Raise ``ValueError`` naming the ``keys`` that ``state`` lacks."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(
            f"{source}: expected a checkpoint with the keys {list(keys)}, but {missing} "
            f"{'is' if len(missing) == 1 else 'are'} missing."
        )


def load_model_state(model: torch.nn.Module, state_dict: dict[str, Any], source: str) -> None:
    """``model.load_state_dict(state_dict)`` (strict), a mismatch reported as ``ValueError``.

    The report is the library's (:func:`imbalml.models.check_state_dict`): ``source`` (the file
    and option), then the first few missing, unexpected and differently shaped tensors.
    """
    check_state_dict(model.state_dict(), state_dict, source=source,
                     advice="Expected weights that fit the model this configuration builds.")
    model.load_state_dict(state_dict)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed :func:`save_checkpoint` left in ``folder``."""
    removed = []
    for tmp in Path(folder).glob(".*.pt.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed
