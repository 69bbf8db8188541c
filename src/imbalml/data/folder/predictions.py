"""Write hard predictions in the layout's label-file format (``prediction.txt``), atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from imbalml._layout_checks import check_groups, check_hard_target
from imbalml._validation import as_tensor, first_true, position
from imbalml.data.atomic import atomic_write
from imbalml.groups import AttributeGroups

__all__ = ["write_predictions"]


def write_predictions(
    path: str | os.PathLike[str], preds: Any, *, groups: AttributeGroups | None = None
) -> Path:
    """Write hard predictions as ``prediction.txt``: one line per image, G integers.

    The file is written atomically (:func:`~imbalml.data.atomic_write`: a temporary file in the
    same folder, then ``os.replace``), so a reader never sees a partial file.

    Args:
        path: The output file.
        preds: Integer attribute indices ``(N, G)`` (tensor or numpy array), e.g. from
            :meth:`~imbalml.AttributeGroups.argmax`.
        groups: If given, also check that ``G == groups.num_groups`` and each index fits its group.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: If the folder of ``path`` does not exist.
        TypeError: If ``preds`` is not an integer tensor or array.
        ValueError: If ``preds`` is not 2-D with at least one row and column, holds negative
            values, or (with ``groups``) does not fit the layout.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from imbalml.data import write_predictions
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = write_predictions(pathlib.Path(tmp, "prediction.txt"),
        ...                             torch.tensor([[5, 2, 2, 3, 2, 2], [0, 1, 0, 1, 4, 0]]))
        ...     print(out.read_text(), end="")
        5 2 2 3 2 2
        0 1 0 1 4 0
    """
    preds = as_tensor(preds, "preds")
    if preds.is_floating_point() or preds.is_complex() or preds.dtype == torch.bool:
        raise TypeError(
            f"Expected `preds` with integer attribute indices of shape (N, G), "
            f"but got dtype {preds.dtype}."
        )
    if preds.ndim != 2 or preds.shape[0] == 0 or preds.shape[1] == 0:
        raise ValueError(
            f"Expected `preds` of shape (N, G) with N >= 1 and G >= 1, but got {tuple(preds.shape)}."
        )
    preds = preds.detach().cpu().long()
    if bool((preds < 0).any()):
        where = first_true(preds < 0)
        raise ValueError(
            f"Expected non-negative attribute indices in `preds`, but got {int(preds[where])} "
            f"at {position(where)}."
        )
    if groups is not None:
        check_groups(groups)
        check_hard_target(preds, groups, "preds")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Expected the folder of the prediction file {path} to exist, but {path.parent} does not."
        )
    text = "".join(" ".join(map(str, row)) + "\n" for row in preds.tolist())
    with atomic_write(path, encoding="utf-8", newline="\n") as f:
        f.write(text)
    return path
