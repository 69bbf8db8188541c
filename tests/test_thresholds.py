"""tune_thresholds: the per-label / per-group choice against brute force, and its guards."""

from __future__ import annotations

import itertools

import pytest
import torch

from imbalml import AttributeGroups, class_priors, tune_thresholds
from imbalml.functional import (
    adjust_logits,
    label_f1_score,
    mean_class_accuracy,
    per_class_accuracy,
)


def plain_problem(seed: int = 0, n: int = 300):
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(n, 4, generator=g) < torch.tensor([0.5, 0.2, 0.05, 0.02])).long()
    probs = (0.25 * target + 0.6 * torch.rand(n, 4, generator=g)).clamp(0, 1)
    return probs, target


CANDIDATES = torch.arange(1, 20, dtype=torch.float64) / 20


@pytest.mark.parametrize("metric", ["f1", "mean_class_accuracy"])
def test_without_guards_each_label_gets_its_brute_force_best(metric: str) -> None:
    probs, target = plain_problem()
    tuned = tune_thresholds(probs, target, metric=metric, min_positives=0, shrinkage=0.0)
    fn = label_f1_score if metric == "f1" else None
    for c in range(4):

        def score(t: float, c: int = c) -> float:
            if fn is not None:
                return fn(probs[:, c : c + 1], target[:, c : c + 1], threshold=t).item()
            return mean_class_accuracy(
                probs[:, c : c + 1], target[:, c : c + 1], threshold=t
            ).item()

        best = max(score(t) for t in CANDIDATES.tolist())
        assert score(float(tuned.thresholds[c])) == pytest.approx(best)
    # the shared value maximises the macro metric with one threshold for all labels
    macro = {t: (label_f1_score if metric == "f1" else mean_class_accuracy)(probs, target, threshold=t).item()
             for t in CANDIDATES.tolist()}  # fmt: skip
    assert macro[tuned.global_value] == pytest.approx(max(macro.values()))
    assert tuned.default_score == pytest.approx(macro[0.5])
    ref = (label_f1_score if metric == "f1" else mean_class_accuracy)(
        probs, target, threshold=tuned.thresholds
    )
    assert tuned.score == pytest.approx(ref.item())
    assert tuned.score >= tuned.default_score


def test_rare_labels_get_the_global_threshold_and_others_are_shrunk() -> None:
    probs, target = plain_problem()
    free = tune_thresholds(probs, target, min_positives=0, shrinkage=0.0)
    guarded = tune_thresholds(probs, target, min_positives=15, shrinkage=20.0)
    support = (target == 1).sum(0)
    assert torch.equal(guarded.support, support)
    anchor = guarded.global_value
    for c in range(4):
        n = float(support[c])
        if n < 15:
            assert float(guarded.thresholds[c]) == pytest.approx(anchor)
        else:
            expected = (n * float(free.thresholds[c]) + 20.0 * anchor) / (n + 20.0)
            assert float(guarded.thresholds[c]) == pytest.approx(expected, rel=1e-6)
    assert int((support < 15).sum()) >= 1  # the guard is exercised


def test_grouped_tau_per_group_against_brute_force() -> None:
    groups = AttributeGroups([3, 2])
    g = torch.Generator().manual_seed(1)
    n = 400
    target = torch.stack([
        torch.multinomial(torch.tensor([0.8, 0.15, 0.05]), n, replacement=True, generator=g),
        torch.multinomial(torch.tensor([0.7, 0.3]), n, replacement=True, generator=g),
    ], 1)  # fmt: skip
    logits = groups.to_one_hot(target) * 1.0 + torch.randn(n, 5, generator=g)
    logits[:, 0] += 1.5  # a bias towards the frequent attribute, which adjustment removes
    counts = groups.to_one_hot(target).sum(0)
    priors = class_priors(counts, groups)
    taus = torch.arange(0, 21, dtype=torch.float64) / 10
    tuned = tune_thresholds(logits, target, groups, metric="mean_class_accuracy", priors=priors,
                            min_positives=0, shrinkage=0.0)  # fmt: skip
    assert tuned.thresholds is None and tuned.tau.shape == (2,)
    for k, segment in enumerate(groups.slices):

        def group_score(t: float, k: int = k, segment: slice = segment) -> float:
            tau = torch.zeros(2)
            tau[k] = t
            recall = per_class_accuracy(
                adjust_logits(logits, groups, priors=priors, tau=tau), target, groups
            )
            return recall[segment].nanmean().item()

        best = max(group_score(t) for t in taus.tolist())
        assert group_score(float(tuned.tau[k])) == pytest.approx(best)
    adjusted = adjust_logits(logits, groups, priors=priors, tau=tuned.tau)
    assert tuned.score == pytest.approx(mean_class_accuracy(adjusted, target, groups).item())
    assert tuned.default_score == pytest.approx(mean_class_accuracy(logits, target, groups).item())
    assert tuned.score > tuned.default_score


def test_ties_go_to_the_value_nearest_the_shared_one() -> None:
    probs = torch.tensor([[0.3, 0.9], [0.2, 0.8], [0.1, 0.7], [0.4, 0.1]])
    target = torch.tensor([[1, 1], [0, 1], [0, 1], [1, 0]])
    tuned = tune_thresholds(probs, target, min_positives=0, shrinkage=0.0)
    # label 1 is perfect for any threshold in [0.1, 0.7): the shared 0.25 is kept
    assert tuned.thresholds.tolist() == [0.25, 0.25]
    grid = list(itertools.product([0.2, 0.25], repeat=2))
    assert all(label_f1_score(probs, target, threshold=torch.tensor(t)).item() == 1.0 for t in grid)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metric": "auc"}, ValueError, r"Expected `metric` to be one of \('f1', 'mean_class_accuracy'\)"),
        ({"candidates": [0.5, 1.5]}, ValueError, r"Expected `candidates` in \[0, 1\], but got 1.5 at index 1"),
        ({"shrinkage": -1.0}, ValueError, r"Expected `shrinkage` in \[0, inf\), but got -1"),
        ({"min_positives": 1.5}, TypeError, r"Expected `min_positives` to be an int, but got float"),
    ],
)  # fmt: skip
def test_errors(kwargs, error, match) -> None:
    probs, target = plain_problem()
    with pytest.raises(error, match=match):
        tune_thresholds(probs, target, **kwargs)


def test_grouped_needs_priors() -> None:
    groups = AttributeGroups([2])
    with pytest.raises(TypeError, match=r"Expected `priors` \(C,\)"):
        tune_thresholds(torch.zeros(3, 2), torch.tensor([[0], [1], [0]]), groups)


def test_plain_logits_get_a_sigmoid() -> None:
    """The metrics' rule: floats outside [0, 1] are logits; the thresholds stay probabilities."""
    probs, target = plain_problem()
    logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))
    from_logits = tune_thresholds(logits, target, metric="mean_class_accuracy")
    from_probs = tune_thresholds(logits.sigmoid(), target, metric="mean_class_accuracy")
    torch.testing.assert_close(from_logits.thresholds, from_probs.thresholds)
    assert from_logits.score == from_probs.score
    with pytest.raises(ValueError, match=r"Expected `preds` to be finite"):
        tune_thresholds(torch.tensor([[float("nan")]]), torch.tensor([[1]]))


def grouped_problem(seed: int = 1, n: int = 400):
    groups = AttributeGroups([3, 2])
    g = torch.Generator().manual_seed(seed)
    target = torch.stack([
        torch.multinomial(torch.tensor([0.8, 0.15, 0.05]), n, replacement=True, generator=g),
        torch.multinomial(torch.tensor([0.7, 0.3]), n, replacement=True, generator=g),
    ], 1)  # fmt: skip
    logits = groups.to_one_hot(target) * 1.0 + torch.randn(n, 5, generator=g)
    logits[:, 0] += 1.5
    return groups, logits, target


def test_grouped_softmax_probabilities_give_the_offsets_of_the_logits() -> None:
    """Offsets act in logit space: softmax probabilities are taken to log space, not used raw.

    Used raw, probabilities give other (worse) strengths, as the issue measured (0.707 vs 0.724).
    """
    from imbalml.functional import grouped_softmax

    groups, logits, target = grouped_problem()
    priors = class_priors(groups.to_one_hot(target).sum(0), groups)
    kwargs = {
        "metric": "mean_class_accuracy",
        "priors": priors,
        "min_positives": 0,
        "shrinkage": 0.0,
    }
    from_logits = tune_thresholds(logits, target, groups, **kwargs)
    from_probs = tune_thresholds(grouped_softmax(logits, groups), target, groups, **kwargs)
    torch.testing.assert_close(from_probs.tau, from_logits.tau)
    assert from_probs.score == pytest.approx(from_logits.score)
    assert from_probs.default_score == pytest.approx(from_logits.default_score)
    scaled = grouped_softmax(logits, groups) * 0.5  # in [0, 1], but not per-group probabilities
    with pytest.raises(ValueError, match=r"Expected `preds` as logits, or as probabilities with each group segment summing to 1 \(a softmax per group\), but every value is in \[0, 1\] and group 'group0' sums to 0.5 at row 0\. Pass the model's logits\."):  # fmt: skip
        tune_thresholds(scaled, target, groups, **kwargs)
