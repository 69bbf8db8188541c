"""What the loss modules share: checked options, weight buffers and ``repr``."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from imbalml._layout_checks import check_groups, check_optional_groups
from imbalml._validation import as_tensor, check_int, check_reduction
from imbalml.functional.losses._common import check_label_vector
from imbalml.groups import AttributeGroups


def attribute_buffer(
    value: Any, name: str, groups: AttributeGroups | None, *, positive: bool
) -> torch.Tensor | None:
    """A checked float32 copy of a per-attribute ``(C,)`` vector (``None`` stays ``None``).

    Integer vectors are accepted. Without ``groups`` the length is only checked to be 1-D here;
    the loss checks it against the logits at each call (a shape check, free).
    """
    if value is None:
        return None
    if groups is None:
        tensor = as_tensor(value, name)
        size = tensor.shape[0] if tensor.ndim == 1 else -1
        names = None
    else:
        size, names = groups.num_attributes, groups.attribute_names
    if size < 0:
        raise ValueError(f"Expected `{name}` of shape (C,), but got {tuple(tensor.shape)}.")
    value = check_label_vector(value, name, size, positive=positive, attribute_names=names)
    return value.detach().clone().float()


class _LossModule(nn.Module):
    """A loss module: options and buffers checked once in ``__init__``.

    Each subclass's ``forward(input, target)`` calls its loss function with the stored
    hyperparameters; ``validate_args`` checks the values of the tensors of each call.
    """

    _shown: ClassVar[tuple[str, ...]]  # attributes listed by extra_repr

    def __init__(
        self, groups: Any, ignore_index: Any, reduction: str, validate_args: Any, optional: bool
    ) -> None:
        super().__init__()
        self.groups = check_optional_groups(groups) if optional else check_groups(groups)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.reduction = check_reduction(reduction)
        self.validate_args = bool(validate_args)

    def _buffer(self, name: str, value: Any, *, positive: bool = False) -> None:
        """Register ``value`` (a per-attribute vector or ``None``) as a float32 buffer."""
        self.register_buffer(name, attribute_buffer(value, name, self.groups, positive=positive))

    def extra_repr(self) -> str:
        """Show the hyperparameters in ``print(module)``."""
        parts = [f"groups={self.groups!r}"]
        for name in (*self._shown, "reduction"):
            value = getattr(self, name)
            if isinstance(value, torch.Tensor):
                parts.append(f"{name}=({', '.join(str(s) for s in value.shape)},)")
            else:
                parts.append(
                    f"{name}={value:g}" if isinstance(value, float) else f"{name}={value!r}"
                )
        return ", ".join(parts)
