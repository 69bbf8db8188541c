r"""Losses for imbalanced multi-label and multi-attribute classification (pure functions).

Every loss takes flat logits ``(N, C)`` and computes in float32 (float64 for float64 input) from
log-probabilities, never from ``log(clamp(probability))`` of a low-precision probability, so
fp16/bf16 inputs, autocast and finite logits of any magnitude give finite values and gradients.
With ``validate_args=True`` (the default) hyperparameters, shapes and target values are checked
and a NaN or infinite logit is an error naming its position (it is an upstream overflow, and
would otherwise turn the loss into NaN); with ``validate_args=False`` nothing is checked, so
training loops that skip validation on the hot path should check the loss with
``torch.isfinite``. The ``nn.Module`` losses of :mod:`imbalml.losses` check their
hyperparameters once, when built.

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
post-hoc logit adjustment); the private modules hold the shared argument handling, the padded
group layout and the fused autograd kernels.
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
