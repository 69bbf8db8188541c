"""Classification heads that emit one flat logit vector for all attribute groups."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from imbalml._layout_checks import check_groups
from imbalml._validation import check_int, check_number
from imbalml.groups import AttributeGroups

__all__ = ["GroupedSoftmaxHead"]


class GroupedSoftmaxHead(nn.Module):
    """An MLP head whose output holds the logits of every attribute group, side by side.

    Layers: for each width in ``hidden``, ``Linear -> activation -> Dropout``; then one ``Linear``
    with ``groups.num_attributes`` outputs. ``forward`` returns raw logits ``(N, C)``; apply
    :func:`imbalml.functional.grouped_softmax` (or let a grouped loss do it) to get one
    probability distribution per group. One flat tensor, not a list of per-group outputs, so AMP,
    ``torch.compile``, DDP and ``state_dict`` work unchanged.

    Args:
        in_features: Width of the backbone features.
        groups: The label layout.
        hidden: Widths of the hidden layers (empty for a single linear layer).
        dropout: Dropout probability after each hidden activation.
        activation: Factory of the activation module (default ``nn.ReLU``).

    Raises:
        TypeError: If ``in_features``, ``hidden`` or ``dropout`` has the wrong type, or ``groups``
            is not an :class:`~imbalml.AttributeGroups`.
        ValueError: If a width is below 1 or ``dropout`` is outside ``[0, 1)``; in ``forward``,
            if the features are not ``(N, in_features)``.

    Shape:
        - input: ``(N, in_features)``
        - output: ``(N, C)`` logits

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups, GroupedSoftmaxHead
        >>> groups = AttributeGroups([7, 3, 3, 4, 6, 3])
        >>> head = GroupedSoftmaxHead(256, groups, hidden=(100, 200, 100), dropout=0.3)
        >>> sum(p.numel() for p in head.parameters())  # the fashion report's head
        68626
        >>> head(torch.randn(2, 256)).shape
        torch.Size([2, 26])
    """

    def __init__(
        self,
        in_features: int,
        groups: AttributeGroups,
        *,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", low=1)
        self.groups = check_groups(groups)
        if not isinstance(hidden, Sequence) or isinstance(hidden, str):
            raise TypeError(
                f"Expected `hidden` to be a sequence of int (one width per hidden layer), "
                f"but got {type(hidden).__name__}."
            )
        self.hidden = tuple(check_int(h, f"hidden[{i}]", low=1) for i, h in enumerate(hidden))
        self.dropout = check_number(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        layers: list[nn.Module] = []
        width = self.in_features
        for h in self.hidden:
            layers += [nn.Linear(width, h), activation(), nn.Dropout(self.dropout)]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.fc = nn.Linear(width, groups.num_attributes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return flat logits ``(N, C)`` for features ``(N, in_features)``."""
        if features.ndim != 2 or features.shape[1] != self.in_features:
            raise ValueError(
                f"Expected `features` of shape (N, in_features) = (N, {self.in_features}), "
                f"but got {tuple(features.shape)}."
            )
        return self.fc(self.mlp(features))

    def extra_repr(self) -> str:
        """Show the label layout in ``print(head)``."""
        return f"groups={self.groups!r}"
