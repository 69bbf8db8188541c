"""One meaning of ``reduction`` for every loss (issue 21, item 3; the library-wide decision).

``"none"`` gives ``(N,)``: each sample's loss summed over its labels (plain) or attribute groups
(grouped), a missing label contributing 0. ``"sum"`` is its plain sum. ``"mean"``, with every
label present, is ``"none".sum() / N``: per sample, summed over labels or groups, averaged over
samples; so switching loss does not change the gradient scale by the number of labels. The
weighted cross-entropy follows torch's weighted mean instead (checked against
``F.cross_entropy`` in ``test_dtypes_and_ignore.py``). Dice, a ratio over the batch, is excepted.
"""

from __future__ import annotations

import pytest
import torch
from _integration_cases import LOSSES, LossCase, N, logits, make_groups

PER_SAMPLE_LOSSES = [case for case in LOSSES if not case.name.startswith("DiceLoss")]


@pytest.mark.parametrize("case", PER_SAMPLE_LOSSES, ids=repr)
def test_reduction_none_sum_mean_agree(case: LossCase) -> None:
    groups = make_groups()
    layout = groups if case.grouped else None
    x = logits(groups.num_attributes)
    for form in case.forms:
        y = case.target(form, groups)
        none = case.make(layout, reduction="none")(x, y)
        assert none.shape == (N,), f"reduction='none' of {case.name}: {tuple(none.shape)}"
        torch.testing.assert_close(case.make(layout, reduction="sum")(x, y), none.sum())
        torch.testing.assert_close(case.function(x, y, layout, reduction="sum"), none.sum())
        if case.name != "WeightedCrossEntropyLoss":
            torch.testing.assert_close(case.make(layout)(x, y), none.sum() / N)
            torch.testing.assert_close(case.function(x, y, layout), none.sum() / N)


@pytest.mark.parametrize("case", PER_SAMPLE_LOSSES, ids=repr)
def test_reduction_none_with_missing_labels(case: LossCase) -> None:
    """A sample's ``"none"`` entry is the sum over its labelled groups (labels); 0 if none is."""
    groups = make_groups()
    layout = groups if case.grouped else None
    x = logits(groups.num_attributes)
    y = case.target(case.forms[0], groups)
    partial = y.clone()
    partial[2, 0] = -100
    partial[5] = -100  # nothing labelled
    none = case.make(layout, reduction="none")(x, partial)
    assert none.shape == (N,)
    assert none[5] == 0
    full = case.make(layout, reduction="none")(x, y)
    keep = [n for n in range(N) if n not in (2, 5)]
    torch.testing.assert_close(none[keep], full[keep])
    assert 0 < none[2] < full[2]
    torch.testing.assert_close(case.make(layout, reduction="sum")(x, partial), none.sum())
