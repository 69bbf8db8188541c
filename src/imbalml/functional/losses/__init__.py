r"""Losses for imbalanced multi-label and multi-attribute classification (pure functions).

Every loss takes flat logits ``(N, C)`` and computes in float32 (float64 for float64 input) from
log-probabilities (log-sigmoid, or one log-softmax per attribute group), in plain PyTorch that
autograd differentiates and ``torch.compile(fullgraph=True)`` compiles; fp16/bf16 inputs,
autocast and finite logits of any magnitude give finite values and gradients.

Reduction has one meaning for every loss but Dice: ``"mean"`` is, for each label (plain form)
or attribute group (grouped form), the mean over the samples labelled there, summed over labels
or groups (``loss.sum() / N`` when every label is present); ``"sum"`` the total; ``"none"`` is
``(N,)``, each sample's loss summed over its labels or groups.

Checks: hyperparameters, shapes and dtypes always (in Python, free). Values, with
``validate_args=True`` (the default), never at the cost of a device synchronisation: on the CPU in
eager mode in full (a NaN or infinite logit, a label out of range: an error naming the position);
on an accelerator or under ``torch.compile`` labels and weights by a device-side assertion, logits
not at all. The ``nn.Module`` losses of :mod:`imbalml.losses` check their hyperparameters and
buffers once, when built.

Two probability models are available wherever it makes sense (``groups=None`` or an
:class:`~imbalml.AttributeGroups`):

* **sigmoid** (``groups=None``): each of the ``C`` attributes is an independent binary label,
  :math:`p = \sigma(x)`; targets are multi-hot or soft ``(N, C)`` in ``[0, 1]``.
* **grouped softmax**: one softmax per attribute group; targets are hard ``(N, G)`` indices
  (``ignore_index`` marks a missing label) or soft ``(N, C)`` (each group segment sums to 1, or to
  0 for a missing label). Missing labels contribute nothing and are left out of means.

The functions live in one module per concept: ``imbalml.functional.losses.asymmetric`` (ASL
and focal loss), ``imbalml.functional.losses.dice`` and
``imbalml.functional.losses.cross_entropy`` (weighted and logit-adjusted cross-entropy,
post-hoc logit adjustment); ``_common`` holds the option checks and the reduction, and
:func:`imbalml._layout_checks.parse_target` is the one target parser.
"""

from imbalml.functional.losses.asymmetric import asymmetric_loss, focal_loss
from imbalml.functional.losses.cross_entropy import (
    adjust_logits,
    grouped_cross_entropy,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)
from imbalml.functional.losses.dice import dice_loss
from imbalml.functional.losses.distribution_balanced import distribution_balanced_loss

__all__ = [
    "adjust_logits",
    "asymmetric_loss",
    "dice_loss",
    "distribution_balanced_loss",
    "focal_loss",
    "grouped_cross_entropy",
    "logit_adjusted_cross_entropy",
    "weighted_cross_entropy",
]
