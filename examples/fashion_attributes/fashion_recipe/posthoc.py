"""Post-hoc logit adjustment of a trained model, its strength chosen on the selection split.

Menon et al. (2021): subtracting ``tau * log(prior)`` per group from the logits of a model trained
with a plain loss moves each group's argmax towards the balanced error, which the mean per-class
accuracy measures. The choice is :func:`imbalml.tune_thresholds` (``metric="mean_class_accuracy"``,
tau in 0, 0.05, ..., 2) on the selection (or labelled validation) split: ``posthoc: tune`` keeps
its one shared tau, ``posthoc: tune_groups`` its tau per group (each group's own best, shrunk
toward the shared one as much as the group's rarest attribute has few selection images). The
offset is stored in the model's ``logit_offset`` buffer, so the checkpoint carries it to
``predict.py``. The score reported after tuning is measured on the split tau was chosen on:
optimistic by the parameters tuned.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from imbalml import AttributeGroups, LabelCounts, class_priors, tune_thresholds
from imbalml.functional import adjust_logits, mean_class_accuracy

log = logging.getLogger("fashion")

#: The values of tau tried.
TAUS = tuple(round(0.05 * i, 2) for i in range(41))


@torch.no_grad()
def collect_logits(model: nn.Module, loader: Any, runtime: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and hard targets of a labelled loader, gathered from every process."""
    model.eval()
    logits, targets = [], []
    for inputs, target in loader:
        with runtime.autocast():
            logits.append(model(inputs.to(runtime.device)).float().cpu())
        targets.append(target.cpu())
    return runtime.gather(torch.cat(logits)), runtime.gather(torch.cat(targets))


def offset(counts: LabelCounts, groups: AttributeGroups, tau: float | list[float]) -> torch.Tensor:
    """The logit offset ``-tau_g * log(prior)`` ``(C,)`` (priors from ``counts``, smoothed by 0.5)."""
    priors = class_priors(counts, groups, smoothing=0.5)
    strength = float(tau) if isinstance(tau, (int, float)) else torch.tensor(tau, dtype=priors.dtype)
    return adjust_logits(torch.zeros(1, groups.num_attributes, dtype=priors.dtype), groups, priors=priors,
                         tau=strength)[0]


def apply(classifier: Any, counts: LabelCounts, groups: AttributeGroups, tau: float | list[float]) -> torch.Tensor:
    """Set ``classifier.logit_offset`` to :func:`offset` of ``tau``; return that offset."""
    adjustment = offset(counts, groups, tau)
    classifier.logit_offset.copy_(adjustment.to(classifier.logit_offset))
    return adjustment


def tune(eval_model: nn.Module, classifier: Any, loader: Any, runtime: Any, groups: AttributeGroups,
         counts: LabelCounts, mode: str) -> float | list[float]:
    """Choose tau on ``loader`` (``mode``: ``tune`` or ``tune_groups``), set ``classifier.logit_offset``."""
    classifier.logit_offset.zero_()
    logits, targets = collect_logits(eval_model, loader, runtime)
    tuned = tune_thresholds(logits, targets, groups, metric="mean_class_accuracy",
                            priors=class_priors(counts, groups, smoothing=0.5), candidates=TAUS)
    tau: float | list[float] = (tuned.global_value if mode == "tune"
                                else [round(float(t), 4) for t in tuned.tau])  # type: ignore[union-attr]
    adjustment = apply(classifier, counts, groups, tau)
    before = float(mean_class_accuracy(groups.argmax(logits), targets, groups))
    after = float(mean_class_accuracy(groups.argmax(logits + adjustment), targets, groups))
    log.info("post-hoc logit adjustment: tau %s (selection score %.4f -> %.4f)", tau, before, after)
    return tau
