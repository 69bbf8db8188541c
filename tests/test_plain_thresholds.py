"""Global and per-label F1 thresholds on plain labels, against brute force with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from imbalml import tune_global_threshold, tune_label_thresholds

AVERAGE = {"example": "samples", "micro": "micro", "macro": "macro"}


def _data(seed: int, n: int = 60, c: int = 5):
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(n, c, generator=g) < 0.3).long()
    probs = (0.35 * target + 0.65 * torch.rand(n, c, generator=g)).double()
    return probs, target


def _sk(target, decided, metric):
    return f1_score(target, decided.astype(int), average=AVERAGE[metric], zero_division=0.0)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("metric", ["example", "micro", "macro"])
def test_global_threshold_is_the_brute_force_best(seed, metric):
    probs, target = _data(seed)
    grid = np.arange(1, 100) / 100
    scores = [_sk(target.numpy(), probs.numpy() > t, metric) for t in grid]
    best = tune_global_threshold(probs, target, metric=metric)
    assert best in grid
    assert _sk(target.numpy(), probs.numpy() > best, metric) == pytest.approx(max(scores), abs=1e-12)
    # ties go to the smallest best candidate
    first_best = grid[int(np.argmax(np.isclose(scores, max(scores), rtol=0, atol=1e-12)))]
    assert best == pytest.approx(first_best)


@pytest.mark.parametrize("shrinkage", [0.0, 10.0])
def test_label_thresholds_are_brute_force_per_label_and_shrunk(shrinkage):
    probs, target = _data(2)
    target[:, 4] = 0  # a label without positives keeps the global threshold
    grid = np.linspace(0.05, 0.95, 19)
    t_global = tune_global_threshold(probs, target, metric="micro", candidates=torch.tensor(grid))
    got = tune_label_thresholds(
        probs, target, metric="micro", shrinkage=shrinkage, candidates=torch.tensor(grid)
    )
    for c in range(5):
        y = target[:, c].numpy()
        m = y.sum()
        if m == 0:
            assert float(got[c]) == pytest.approx(t_global)
            continue
        scores = [f1_score(y, (probs[:, c].numpy() > t).astype(int), zero_division=0.0) for t in grid]
        own = grid[int(np.argmax(np.isclose(scores, max(scores), rtol=0, atol=1e-12)))]
        expected = (m * own + shrinkage * t_global) / (m + shrinkage)
        assert float(got[c]) == pytest.approx(expected, abs=1e-12)


def test_missing_labels_are_not_counted():
    probs, target = _data(3)
    missing = target.clone()
    missing[:20, 1] = -100
    kept = torch.ones_like(target, dtype=torch.bool)
    kept[:20, 1] = False
    grid = np.arange(1, 100) / 100
    # micro F1 over labelled entries only
    scores = []
    for t in grid:
        d = (probs > t) & kept
        y = (target == 1) & kept
        tp, fp, fn = (d & y).sum().item(), (d & ~y).sum().item(), (~d & y).sum().item()
        scores.append(2 * tp / (2 * tp + fp + fn))
    best = tune_global_threshold(probs, missing, metric="micro")
    assert best == pytest.approx(grid[int(np.argmax(scores))])


def test_bad_inputs():
    probs, target = _data(4)
    with pytest.raises(ValueError, match=r"`metric` to be one of \('example', 'micro', 'macro'\)"):
        tune_global_threshold(probs, target, metric="weighted")
    with pytest.raises(ValueError, match=r"`shrinkage` in \[0, inf\)"):
        tune_label_thresholds(probs, target, shrinkage=-1.0)
    with pytest.raises(ValueError, match=r"`probs` of shape \(N, C\) = \(60, 5\)"):
        tune_global_threshold(probs[:, :4], target)
    with pytest.raises(ValueError, match=r"every `candidates` entry in \[0, 1\]"):
        tune_global_threshold(probs, target, candidates=torch.tensor([0.5, 1.5]))
