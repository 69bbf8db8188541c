"""Per-group softmax, log-softmax and argmax over one flat ``(N, C)`` logit tensor."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from imbalml._layout_checks import check_groups, check_scores
from imbalml.groups import AttributeGroups

__all__ = ["grouped_argmax", "grouped_log_softmax", "grouped_softmax"]


def _check(input: torch.Tensor, groups: AttributeGroups, validate: bool) -> None:
    check_groups(groups)
    if validate:
        check_scores(input, groups, "input", finite=False)


def grouped_log_softmax(
    input: torch.Tensor, groups: AttributeGroups, *, validate_args: bool = True
) -> torch.Tensor:
    r"""Log-softmax within each attribute group.

    .. math::
        \log p_{n,c} = x_{n,c} - \log \sum_{c' \in g(c)} e^{x_{n,c'}}

    The computation runs in float32 (or float64 for float64 input) whatever the input dtype, so
    fp16/bf16 logits from autocast give accurate, finite log-probabilities; the result is float32
    for half-precision input.

    Args:
        input: Logits ``(N, C)``.
        groups: The label layout.
        validate_args: Check shapes (set ``False`` on hot paths).

    Returns:
        Log-probabilities ``(N, C)``; ``exp`` of each group segment sums to 1.

    Shape:
        - input: ``(N, C)``
        - output: ``(N, C)``

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import grouped_log_softmax
        >>> groups = AttributeGroups([2, 3])
        >>> grouped_log_softmax(torch.zeros(1, 5), groups).exp()
        tensor([[0.5000, 0.5000, 0.3333, 0.3333, 0.3333]])
    """
    _check(input, groups, validate_args)
    dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
    return torch.cat([F.log_softmax(s, dim=-1, dtype=dtype) for s in groups.split(input)], dim=-1)


def grouped_softmax(
    input: torch.Tensor, groups: AttributeGroups, *, validate_args: bool = True
) -> torch.Tensor:
    r"""Softmax within each attribute group, concatenated back into ``(N, C)``.

    .. math::
        p_{n,c} = \frac{e^{x_{n,c}}}{\sum_{c' \in g(c)} e^{x_{n,c'}}}

    Computed in float32 (float64 for float64 input); the result has the input's dtype.

    Args:
        input: Logits ``(N, C)``.
        groups: The label layout.
        validate_args: Check shapes (set ``False`` on hot paths).

    Returns:
        Probabilities ``(N, C)``; each group segment sums to 1.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import grouped_softmax
        >>> p = grouped_softmax(torch.tensor([[0.0, 1.0, 5.0, 5.0, 5.0]]), AttributeGroups([2, 3]))
        >>> p.round(decimals=4)
        tensor([[0.2689, 0.7311, 0.3333, 0.3333, 0.3333]])
    """
    _check(input, groups, validate_args)
    dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
    return torch.cat([F.softmax(s, dim=-1, dtype=dtype) for s in groups.split(input)], dim=-1).to(
        input.dtype
    )


def grouped_argmax(input: torch.Tensor, groups: AttributeGroups) -> torch.Tensor:
    """Index of the top attribute in each group: ``(N, C)`` scores to ``(N, G)`` long indices.

    :meth:`AttributeGroups.argmax` under this module's argument name (``input``): both run the
    same implementation.

    Args:
        input: Scores ``(N, C)``: logits or probabilities.
        groups: The label layout.

    Returns:
        Long tensor ``(N, G)`` of per-group attribute indices (the first one on ties).

    Raises:
        ValueError: If ``input`` is not ``(N, C)`` or holds NaN.
        TypeError: If ``input`` is not floating point.

    Example:
        >>> import torch
        >>> from imbalml import AttributeGroups
        >>> from imbalml.functional import grouped_argmax
        >>> grouped_argmax(torch.tensor([[0.0, 1.0, 3.0, 2.0, 1.0]]), AttributeGroups([2, 3]))
        tensor([[1, 0]])
    """
    scores = check_scores(input, check_groups(groups), "input", finite=False)
    return groups._argmax(scores, nan_check="input")
