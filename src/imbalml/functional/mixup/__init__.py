r"""Minority-aware mixup kernels: which attributes and images are minority, the draw, the mix.

The recipe (see :class:`imbalml.MixupCollator`): an attribute is *minority* when its training count
is at most a count threshold; an image is *minority* when any of its labels (plain multi-label: any
of its *positive* labels) is a minority attribute; per
batch, ``lam ~ Beta(alpha, beta)`` and a random partner ``pi(i)`` are drawn, and each selected
row becomes

.. math::
    x_i' = (1 - \lambda) x_i + \lambda x_{\pi(i)}, \qquad
    y_i' = (1 - \lambda) y_i + \lambda y_{\pi(i)},

so ``lam`` weights the **partner** (the convention of the fashion report). Rows that are not
selected pass through bit for bit.

The three steps are separate pure functions so that the CPU collator
(:class:`imbalml.MixupCollator`) and the on-device module (:class:`imbalml.BatchMixup`) share one
mechanism: :func:`minority_attributes` and :func:`minority_mask` decide who may be mixed,
:func:`mixup_plan` draws ``(lam, partner, mask)`` from a ``torch.Generator``, and :func:`mixup`
applies a plan.
"""

from imbalml.functional.mixup.minority import minority_attributes, minority_mask
from imbalml.functional.mixup.mix import mixup
from imbalml.functional.mixup.plan import MIXUP_MODES, MixupPlan, mixup_plan

__all__ = [
    "MIXUP_MODES",
    "MixupPlan",
    "minority_attributes",
    "minority_mask",
    "mixup",
    "mixup_plan",
]
