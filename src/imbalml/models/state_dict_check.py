"""One report of how a state dict fails to fit a model: :func:`check_state_dict`.

Every loader in :mod:`imbalml.models` checks names and shapes through this function, so a weight
file that does not fit is described the same way wherever it is loaded: the file, then the counts
and the first few of the missing keys, the unexpected keys and the tensors of the wrong shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

__all__ = ["check_state_dict"]

SHOWN = 5  # entries listed per kind of mismatch; the count says how many there are in all


def _counted(items: list[str], one: str, many: str) -> str:
    """``2 missing keys: a, b`` (the first :data:`SHOWN` of them, then ``...``)."""
    shown = ", ".join(items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")
    return f"{len(items)} {one if len(items) == 1 else many}: {shown}"


def _ignored(key: str, ignore: tuple[str, ...]) -> bool:
    """Whether ``key`` is one of ``ignore``, or inside a module that one of them names."""
    return any(key == p or key.startswith(p if p.endswith(".") else p + ".") for p in ignore)


def check_state_dict(
    model_state: Mapping[str, torch.Tensor],
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str,
    strict: bool = True,
    ignore: Iterable[str] = (),
    advice: str = "Pass strict=False to accept missing and unexpected keys.",
) -> None:
    """Check that ``state_dict`` fits ``model_state`` (e.g. ``model.state_dict()``) before loading.

    Every key of ``state_dict`` that the model has must have the model's shape. With ``strict``
    the keys must also be the same: none of the model's missing, none unexpected. The error
    names ``source``, then counts and lists (the first few of) each kind of mismatch::

        'van.pth' (original layout): the state dict does not fit the model: 1 missing key:
        head.fc.bias; 1 unexpected key: head.bias; 1 shape mismatch: stages.0.norm.weight
        (expected (8,), got (32,)). Pass strict=False to accept missing and unexpected keys.

    (one line). Missing keys are listed in the model's order, the others in the state dict's.

    Args:
        model_state: The model's tensors by name (only their shapes are read).
        state_dict: The tensors to load by name.
        source: What ``state_dict`` was read from, e.g. ``repr(path)``; it starts the message.
        strict: Require the same keys. ``False`` accepts missing and unexpected keys, never a
            shape mismatch.
        ignore: Keys left out of the check, on both sides: a key, or a module whose keys all are
            left out (``"head"`` or ``"head."`` covers ``head.fc.weight``, not ``header.w``).
        advice: The sentence that ends the message when keys are missing or unexpected; a
            caller that offers no ``strict`` option names its own remedy (``""`` for none).

    Raises:
        ValueError: If shapes differ or, with ``strict``, keys are missing or unexpected.
        TypeError: If ``ignore`` is a single string rather than an iterable of keys.

    Example:
        >>> import torch
        >>> from imbalml.models import check_state_dict
        >>> model = torch.nn.Linear(2, 3)
        >>> check_state_dict(model.state_dict(), {"weight": torch.zeros(3, 2)}, source="w.pt")
        Traceback (most recent call last):
          ...
        ValueError: w.pt: the state dict does not fit the model: 1 missing key: bias. Pass strict=False to accept missing and unexpected keys.
        >>> check_state_dict(model.state_dict(), {"weight": torch.zeros(3, 2)}, source="w.pt",
        ...                  strict=False)  # fits apart from the missing bias
        >>> check_state_dict(model.state_dict(), {"weight": torch.zeros(3, 2)}, source="w.pt",
        ...                  ignore=["bias"])
    """
    if isinstance(ignore, str):
        raise TypeError(
            f"Expected `ignore` to be an iterable of keys, but got the string {ignore!r}; "
            f"write [{ignore!r}]."
        )
    skipped = tuple(ignore)
    model = {k: v for k, v in model_state.items() if not _ignored(k, skipped)}
    given = {k: v for k, v in state_dict.items() if not _ignored(k, skipped)}
    shapes = [
        (k, tuple(model[k].shape), tuple(v.shape))
        for k, v in given.items()
        if k in model and tuple(v.shape) != tuple(model[k].shape)
    ]
    missing = [k for k in model if k not in given] if strict else []
    unexpected = [k for k in given if k not in model] if strict else []
    if not (shapes or missing or unexpected):
        return
    parts = [_counted(missing, "missing key", "missing keys")] if missing else []
    if unexpected:
        parts.append(_counted(unexpected, "unexpected key", "unexpected keys"))
    if shapes:
        described = [f"{k} (expected {want}, got {got})" for k, want, got in shapes]
        parts.append(_counted(described, "shape mismatch", "shape mismatches"))
    hint = f" {advice}" if advice and (missing or unexpected) else ""
    raise ValueError(f"{source}: the state dict does not fit the model: {'; '.join(parts)}.{hint}")
