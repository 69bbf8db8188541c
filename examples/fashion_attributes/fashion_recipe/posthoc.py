"""Post-hoc logit adjustment of a trained model, its strength chosen on the selection split.

Menon et al. (2021): subtracting ``tau * log(prior)`` per group from the logits of a model trained
with a plain loss moves each group's argmax towards the balanced error, which the mean per-class
accuracy measures. ``posthoc: tune`` scores ``tau`` in 0, 0.05, ..., 2 on the selection
(or labelled validation) split and keeps the best; the offset is stored in the model's
``logit_offset`` buffer, so the checkpoint carries it to ``predict.py``. The score reported after
tuning is measured on the split ``tau`` was chosen on: optimistic by the one parameter tuned.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from imbalml import AttributeGroups, LabelCounts, class_priors
from imbalml.functional import mean_class_accuracy

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


def offset(counts: LabelCounts, groups: AttributeGroups, tau: float) -> torch.Tensor:
    """The logit offset ``-tau * log(prior)`` (priors from ``counts``, smoothed by 0.5 per attribute)."""
    return -tau * torch.log(class_priors(counts, groups, smoothing=0.5))


def tune(eval_model: nn.Module, classifier: Any, loader: Any, runtime: Any, groups: AttributeGroups,
         counts: LabelCounts) -> float:
    """Choose tau on ``loader``, set ``classifier.logit_offset``, return tau."""
    classifier.logit_offset.zero_()
    logits, targets = collect_logits(eval_model, loader, runtime)
    scores = [float(mean_class_accuracy(groups.argmax(logits + offset(counts, groups, tau)), targets, groups))
              for tau in TAUS]
    best = max(range(len(TAUS)), key=lambda i: (scores[i], -i))  # ties: the smaller tau
    tau = TAUS[best]
    classifier.logit_offset.copy_(offset(counts, groups, tau).to(classifier.logit_offset))
    log.info("post-hoc logit adjustment: tau %.2f (selection score %.4f -> %.4f)", tau, scores[0], scores[best])
    return tau
