"""Example F1, Hamming loss and precision at k against scikit-learn and a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from sklearn.metrics import hamming_loss as sk_hamming_loss

from imbalml import ExampleF1Score, HammingLoss, PrecisionAtK
from imbalml.functional import example_f1_score, hamming_loss, precision_at_k


def _data(seed: int, n: int = 40, c: int = 7):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, c, generator=g)
    target = (torch.rand(n, c, generator=g) < 0.25).long()
    target[0] = 0
    probs[0] = 0.1  # a sample with no true and no predicted label
    return probs, target


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_example_f1_matches_sklearn(seed, threshold, zero_division):
    probs, target = _data(seed)
    expected = f1_score(
        target.numpy(), (probs > threshold).numpy().astype(int), average="samples",
        zero_division=zero_division,
    )
    got = example_f1_score(probs, target, threshold=threshold, zero_division=zero_division)
    assert float(got) == pytest.approx(expected, abs=1e-12)


def test_per_label_threshold_and_decisions():
    probs, target = _data(3)
    thresholds = torch.linspace(0.2, 0.8, 7)
    decided = (probs > thresholds).long()
    expected = f1_score(target.numpy(), decided.numpy(), average="samples", zero_division=0.0)
    assert float(example_f1_score(probs, target, threshold=thresholds)) == pytest.approx(expected)
    assert float(example_f1_score(decided, target)) == pytest.approx(expected)
    assert float(hamming_loss(decided.bool(), target)) == pytest.approx(
        sk_hamming_loss(target.numpy(), decided.numpy())
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_hamming_matches_sklearn(seed, threshold):
    probs, target = _data(seed)
    expected = sk_hamming_loss(target.numpy(), (probs > threshold).numpy().astype(int))
    assert float(hamming_loss(probs, target, threshold=threshold)) == pytest.approx(expected, abs=1e-12)


def _precision_at_k_reference(scores: np.ndarray, target: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean([target[i, top[i]].sum() / k for i in range(len(scores))]))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_precision_at_k_matches_reference(k):
    probs, target = _data(4)
    expected = _precision_at_k_reference(probs.numpy(), target.numpy(), k)
    assert float(precision_at_k(probs, target, k=k)) == pytest.approx(expected, abs=1e-12)
    logits = torch.logit(probs.double().clamp(1e-6, 1 - 1e-6))  # only the order matters
    assert float(precision_at_k(logits, target, k=k)) == pytest.approx(expected, abs=1e-12)


def test_missing_labels_are_left_out():
    probs, target = _data(5)
    missing = target.clone()
    missing[:, 3] = -100
    kept = [0, 1, 2, 4, 5, 6]
    sub_p, sub_t = probs[:, kept], target[:, kept]
    assert float(example_f1_score(probs, missing)) == pytest.approx(
        f1_score(sub_t.numpy(), (sub_p > 0.5).numpy().astype(int), average="samples", zero_division=0.0)
    )
    assert float(hamming_loss(probs, missing)) == pytest.approx(
        sk_hamming_loss(sub_t.numpy(), (sub_p > 0.5).numpy().astype(int))
    )
    assert float(precision_at_k(probs, missing, k=2)) == pytest.approx(
        _precision_at_k_reference(sub_p.numpy(), sub_t.numpy(), 2)
    )


def test_metric_classes_accumulate_to_the_one_shot_result():
    probs, target = _data(6)
    metrics = [ExampleF1Score(threshold=0.4), HammingLoss(threshold=0.4), PrecisionAtK(k=3)]
    for start in range(0, 40, 13):
        for metric in metrics:
            metric.update(probs[start : start + 13], target[start : start + 13])
    expected = [
        example_f1_score(probs, target, threshold=0.4),
        hamming_loss(probs, target, threshold=0.4),
        precision_at_k(probs, target, k=3),
    ]
    for metric, value in zip(metrics, expected):
        assert float(metric.compute()) == pytest.approx(float(value), abs=1e-12)


def test_bad_inputs():
    probs, target = _data(7)
    with pytest.raises(ValueError, match=r"`preds` of shape \(N, C\) = \(40, 7\)"):
        example_f1_score(probs[:, :6], target)
    with pytest.raises(ValueError, match=r"`threshold` in \[0, 1\], but got 1.5"):
        hamming_loss(probs, target, threshold=1.5)
    with pytest.raises(ValueError, match=r"`threshold` of shape \(C,\) = \(7,\)"):
        example_f1_score(probs, target, threshold=torch.full((6,), 0.5))
    with pytest.raises(ValueError, match=r"`k` <= C = 7"):
        precision_at_k(probs, target, k=8)
    with pytest.raises(ValueError, match=r"`k` >= 1"):
        PrecisionAtK(k=0)
    with pytest.raises(ValueError, match=r"`target` values in \{0, 1\}"):
        hamming_loss(probs, target * 3)
    with pytest.raises(ValueError, match=r"integer `preds` to be 0/1 decisions"):
        example_f1_score(target * 2, target)
