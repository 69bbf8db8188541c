"""Plain multi-label metrics (``groups=None``) against scikit-learn and torchmetrics.

Every metric is compared with an independent reference over a grid of label frequencies,
thresholds (one number and one per label) and missing labels; batch accumulation must equal one
call; two processes must sync to the single-process result.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from _helpers.ddp import make_plain_metrics, plain_sync_worker
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from torchmetrics import MetricCollection
from torchmetrics.functional.classification import (
    multilabel_average_precision,
    multilabel_f1_score,
    multilabel_precision,
    multilabel_recall,
)

from imbalml import (
    AttributeGroups,
    GroupAccuracy,
    LabelAveragePrecision,
    LabelF1Score,
    LabelPrecision,
    LabelRecall,
    MeanClassAccuracy,
    MixupCollator,
)
from imbalml.functional import (
    confusion_matrices,
    group_accuracy,
    label_average_precision,
    label_f1_score,
    label_precision,
    label_recall,
    mean_class_accuracy,
    multilabel_confusion_matrix,
    per_class_accuracy,
)

FAST = settings(max_examples=30, deadline=None)


def problem(n: int = 60, c: int = 5, seed: int = 0, ignore: bool = False):
    """Scores correlated with labels of very different frequencies (one label always negative)."""
    g = torch.Generator().manual_seed(seed)
    freq = torch.tensor([0.5, 0.2, 0.05, 0.9, 0.0][:c] + [0.3] * max(0, c - 5))
    target = (torch.rand(n, c, generator=g) < freq).long()
    probs = (0.4 * target + 0.6 * torch.rand(n, c, generator=g)).clamp(0, 1)
    if ignore:
        target[torch.rand(n, c, generator=g) < 0.1] = -100
    return probs, target


def sk_columns(probs, target, threshold):
    """Per label: (y_true, y_pred, scores) of the non-ignored rows, as numpy."""
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float32), (target.shape[1],))
    cols = []
    for c in range(target.shape[1]):
        keep = target[:, c].numpy() != -100
        y = target[keep, c].numpy()
        pred = (probs[keep, c].numpy() > thr[c]).astype(int)
        cols.append((y, pred, probs[keep, c].numpy()))
    return cols


THRESHOLDS = [0.5, 0.3, torch.tensor([0.2, 0.5, 0.7, 0.45, 0.6])]


@pytest.mark.parametrize("threshold", THRESHOLDS, ids=["0.5", "0.3", "per-label"])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_functional_metrics_match_sklearn(threshold, ignore: bool, seed: int) -> None:
    probs, target = problem(seed=seed, ignore=ignore)
    cols = sk_columns(probs, target, threshold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns for the label without positives
        balanced = [skm.balanced_accuracy_score(y, p) for y, p, _ in cols]
        recall = [skm.recall_score(y, p, zero_division=0) for y, p, _ in cols]
        precision = [skm.precision_score(y, p, zero_division=0) for y, p, _ in cols]
        f1 = [skm.f1_score(y, p, zero_division=0) for y, p, _ in cols]
        ap = [skm.average_precision_score(y, s) if y.any() else 0.0 for y, _, s in cols]
        confmat = [skm.confusion_matrix(y, p, labels=[0, 1]) for y, p, _ in cols]
        accuracy = [skm.accuracy_score(y, p) for y, p, _ in cols]
    kw = {"threshold": threshold}
    np.testing.assert_allclose(per_class_accuracy(probs, target, None, **kw), balanced, rtol=1e-12)
    assert mean_class_accuracy(probs, target, **kw).item() == pytest.approx(np.mean(balanced))
    got = multilabel_confusion_matrix(probs, target, **kw)
    np.testing.assert_array_equal(got.numpy(), np.stack(confmat))
    assert [m.tolist() for m in confusion_matrices(probs, target, None, **kw)] == got.tolist()
    np.testing.assert_allclose(group_accuracy(probs, target, None, **kw), accuracy, rtol=1e-12)
    for fn, ref in ((label_recall, recall), (label_precision, precision), (label_f1_score, f1)):
        np.testing.assert_allclose(fn(probs, target, **kw, average="none"), ref, rtol=1e-12)
        assert fn(probs, target, **kw).item() == pytest.approx(np.mean(ref))
    np.testing.assert_allclose(
        label_average_precision(probs, target, average="none"), ap, rtol=1e-5
    )
    assert label_average_precision(probs, target).item() == pytest.approx(np.mean(ap), rel=1e-5)


def test_whole_matrix_references_without_missing_labels() -> None:
    """The sklearn multi-label calls (whole matrices, average="macro") agree too."""
    probs, target = problem(seed=3)
    y, pred = target.numpy(), (probs.numpy() > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert label_f1_score(probs, target).item() == pytest.approx(
            skm.f1_score(y, pred, average="macro", zero_division=0)
        )
        assert label_average_precision(probs, target).item() == pytest.approx(
            skm.average_precision_score(y, probs.numpy(), average="macro"), rel=1e-5
        )
    np.testing.assert_array_equal(
        multilabel_confusion_matrix(probs, target).numpy(), skm.multilabel_confusion_matrix(y, pred)
    )


def test_scalar_threshold_matches_torchmetrics() -> None:
    """Where every label has a positive or a predicted positive, torchmetrics agrees."""
    probs, target = problem(c=4, seed=5)  # labels 0-3 all have positives
    for ours, theirs in (
        (label_recall, multilabel_recall),
        (label_precision, multilabel_precision),
        (label_f1_score, multilabel_f1_score),
    ):
        for average in ("macro", "none"):
            expected = theirs(probs, target, num_labels=4, threshold=0.3, average=average)
            got = ours(probs, target, threshold=0.3, average=average)
            torch.testing.assert_close(got.float(), expected, rtol=1e-6, atol=1e-7)


def test_hard_predictions_equal_thresholded_probabilities() -> None:
    probs, target = problem(seed=2)
    hard = (probs > 0.5).int()
    assert torch.equal(
        multilabel_confusion_matrix(hard, target), multilabel_confusion_matrix(probs, target)
    )
    assert torch.equal(
        multilabel_confusion_matrix(hard.bool(), target.bool()),
        multilabel_confusion_matrix(probs, target),
    )
    assert torch.equal(
        multilabel_confusion_matrix(probs, target.float()),
        multilabel_confusion_matrix(probs, target),
    )


def test_constant_predictor_scores_one_half() -> None:
    """mA is prevalence-free: always-negative (or always-positive) predictions score 0.5."""
    _, target = problem(c=4, seed=4)
    for value in (0.0, 1.0):
        preds = torch.full(target.shape, value)
        assert mean_class_accuracy(preds, target).item() == pytest.approx(0.5)


@given(
    n=st.integers(2, 30),
    c=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    threshold=st.floats(0.05, 0.95),
)
@FAST
def test_properties(n: int, c: int, seed: int, threshold: float) -> None:
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(n, c, generator=g) < 0.4).long()
    probs = torch.rand(n, c, generator=g)
    ma = mean_class_accuracy(probs, target, threshold=threshold)
    assert 0.0 <= ma.item() <= 1.0
    # a perfect predictor scores 1; label order does not matter
    assert mean_class_accuracy(target.float(), target).item() == 1.0
    perm = torch.randperm(c, generator=g)
    torch.testing.assert_close(
        mean_class_accuracy(probs[:, perm], target[:, perm], threshold=threshold), ma
    )
    # swapping positives and negatives (and the side of the threshold) keeps mA
    flipped = mean_class_accuracy(1 - probs, 1 - target, threshold=1 - threshold)
    both_sides = (probs != threshold).all()
    if both_sides:
        torch.testing.assert_close(flipped, ma)
    # per-label threshold equal to the scalar gives the same counts
    same = multilabel_confusion_matrix(probs, target, threshold=torch.full((c,), threshold))
    assert torch.equal(same, multilabel_confusion_matrix(probs, target, threshold=threshold))


# ------------------------------------------------------------------------- Metric classes


def one_shot(probs, target, threshold):
    return {
        "ma": mean_class_accuracy(probs, target, threshold=threshold),
        "per_label": per_class_accuracy(probs, target, threshold=threshold),
        "label_acc": group_accuracy(probs, target, threshold=threshold),
        "recall": label_recall(probs, target, threshold=threshold),
        "precision": label_precision(probs, target, threshold=threshold),
        "f1": label_f1_score(probs, target, threshold=threshold, average="none"),
        "ap": label_average_precision(probs, target),
        "ap_none": label_average_precision(probs, target, average="none"),
    }


def assert_same(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key].double(), value.double(), equal_nan=True, msg=key)


@given(cuts=st.lists(st.integers(1, 59), max_size=6, unique=True))
@FAST
def test_batch_accumulation_equals_one_call(cuts: list[int]) -> None:
    probs, target = problem(ignore=True)
    threshold = torch.tensor([0.2, 0.5, 0.7, 0.45, 0.6])
    collection = MetricCollection(make_plain_metrics(5, threshold))
    bounds = [0, *sorted(cuts), 60]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        collection.update(probs[lo:hi], target[lo:hi])
    assert_same(collection.compute(), one_shot(probs, target, threshold))


def test_counting_metrics_share_one_state_in_a_collection() -> None:
    probs, target = problem()
    collection = MetricCollection({
        "ma": MeanClassAccuracy(num_labels=5), "recall": LabelRecall(num_labels=5),
        "precision": LabelPrecision(num_labels=5), "f1": LabelF1Score(num_labels=5),
        "acc": GroupAccuracy(num_labels=5),
    })  # fmt: skip
    collection.update(probs, target)
    collection.update(probs, target)
    assert len(collection.compute_groups) == 1
    assert collection["f1"].compute().item() == pytest.approx(label_f1_score(probs, target).item())


def test_metric_module_moves_its_threshold_and_resets() -> None:
    probs, target = problem()
    metric = MeanClassAccuracy(num_labels=5, threshold=[0.2, 0.5, 0.7, 0.45, 0.6])
    metric.update(probs, target)
    first = metric.compute()
    metric.reset()
    assert torch.isnan(metric.compute())
    metric.update(probs, target)
    torch.testing.assert_close(metric.compute(), first)
    expected = mean_class_accuracy(
        probs, target, threshold=torch.tensor([0.2, 0.5, 0.7, 0.45, 0.6])
    )
    torch.testing.assert_close(first, expected)


@pytest.mark.slow
def test_ddp_sync_equals_single_process(tmp_path) -> None:
    probs, target = problem(n=41, ignore=True, seed=7)
    threshold = torch.tensor([0.2, 0.5, 0.7, 0.45, 0.6])
    mp.spawn(
        plain_sync_worker,
        args=(2, str(tmp_path / "store"), probs, target, threshold, [0, 23, 41], 8, str(tmp_path)),
        nprocs=2,
        join=True,
    )
    expected = one_shot(probs, target, threshold)
    for rank in range(2):
        assert_same(torch.load(tmp_path / f"rank{rank}.pt", weights_only=True), expected)


# ------------------------------------------------------------------------- grouped extensions


def test_grouped_label_scores_are_one_vs_rest_per_group() -> None:
    groups = AttributeGroups([3, 2])
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 5, generator=g)
    target = torch.stack(
        [torch.randint(0, 3, (50,), generator=g), torch.randint(0, 2, (50,), generator=g)], 1
    )
    pred = groups.argmax(logits)
    expected_f1 = np.concatenate([
        skm.f1_score(target[:, k], pred[:, k], labels=list(range(size)), average=None, zero_division=0)
        for k, size in enumerate(groups.sizes)
    ])  # fmt: skip
    np.testing.assert_allclose(label_f1_score(logits, target, groups, average="none"), expected_f1)
    np.testing.assert_allclose(
        label_recall(logits, target, groups, average="none"),
        per_class_accuracy(logits, target, groups),
    )
    probs = torch.cat([s.softmax(-1) for s in groups.split(logits)], 1)
    one_hot = groups.to_one_hot(target).numpy()
    expected_ap = skm.average_precision_score(one_hot, probs.numpy(), average=None)
    np.testing.assert_allclose(
        label_average_precision(logits, target, groups, average="none"), expected_ap, rtol=1e-5
    )
    metric = LabelAveragePrecision(groups)
    metric.update(logits[:20], target[:20])
    metric.update(logits[20:], target[20:])
    assert metric.compute().item() == pytest.approx(float(np.mean(expected_ap)), rel=1e-5)


def test_mixup_guide_evaluation_with_mode_none_targets() -> None:
    """The guide's advice: evaluate with mode="none" targets; one-hot floats are accepted."""
    groups = AttributeGroups([3, 2])
    samples = [(torch.zeros(1), [i % 3, i % 2]) for i in range(6)] + [(torch.zeros(1), [1, -100])]
    _, soft = MixupCollator(groups, counts=[2, 2, 2, 3, 3], mode="none")(samples)
    hard = torch.tensor([label for _, label in samples])
    preds = torch.tensor([[0, 1]] * 7)
    metric = MeanClassAccuracy(groups)
    metric.update(preds, soft)
    torch.testing.assert_close(metric.compute(), mean_class_accuracy(preds, hard, groups))


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: mean_class_accuracy(torch.tensor([[float("nan"), -1.0]]), torch.tensor([[1, 0]])), ValueError,
         r"Expected `preds` to be finite"),
        (lambda: mean_class_accuracy(torch.tensor([[0.2, 0.1]]), torch.tensor([[2, 0]])), ValueError,
         r"Expected `target` values in \{0, 1\} or ignore_index=-100 \(multi-hot labels\), but got 2"),
        (lambda: mean_class_accuracy(torch.rand(3, 2), torch.tensor([[1, 0, 0]] * 3)), ValueError,
         r"Expected `preds` of shape \(N, C\) = \(3, 3\) like `target`"),
        (lambda: mean_class_accuracy(torch.rand(3, 2), torch.ones(3, 2, dtype=torch.long), threshold=[0.5]),
         ValueError, r"Expected `threshold` of shape \(C,\) = \(2,\), but got \(1,\)"),
        (lambda: mean_class_accuracy(torch.rand(3, 2), torch.ones(3, 2, dtype=torch.long), threshold=1.5),
         ValueError, r"Expected `threshold` in \[0, 1\], but got 1.5"),
        (lambda: mean_class_accuracy(torch.zeros(2, 5), torch.zeros(2, 2), AttributeGroups([3, 2])),
         TypeError, r"hard labels must have an integer dtype \(use `target.long\(\)`\)"),
        (lambda: mean_class_accuracy(torch.zeros(1, 5), torch.tensor([[0.5, 0.5, 0, 1, 0]]), AttributeGroups([3, 2])),
         ValueError, r"metrics need hard labels"),
        (lambda: mean_class_accuracy(torch.zeros(1, 5), torch.tensor([[0, 1]]), AttributeGroups([3, 2]), threshold=0.3),
         ValueError, r"Expected `threshold=None` with `groups`"),
        (lambda: MeanClassAccuracy(None), TypeError,
         r"Expected `num_labels` \(the number C of labels\) for plain multi-label \(groups=None\), but got None"),
        (lambda: MeanClassAccuracy(AttributeGroups([2]), num_labels=3), ValueError,
         r"Expected `num_labels=None` \(or 2\) with `groups`, but got 3"),
        (lambda: label_average_precision(torch.ones(2, 2, dtype=torch.long), torch.ones(2, 2)), TypeError,
         r"Expected `preds` to hold floating scores"),
        (lambda: label_f1_score(torch.rand(2, 2), torch.ones(2, 2, dtype=torch.long), average="samples"),
         ValueError, r"Expected `average` to be one of \('micro', 'macro', 'weighted', 'none'\), but got 'samples'"),
        (lambda: label_average_precision(torch.rand(2, 2), torch.ones(2, 2, dtype=torch.long), average="mean"),
         ValueError, r"but got 'mean': imbalml uses torchmetrics' names, 'macro' for the unweighted mean"),
        (lambda: LabelAveragePrecision(None), TypeError,
         r"Expected `num_labels` \(the number C of labels\) for plain multi-label \(groups=None\), but got None"),
        (lambda: LabelAveragePrecision(num_labels=3).update(torch.rand(2, 2), torch.ones(2, 2, dtype=torch.long)),
         ValueError, r"Expected `preds` of shape \(N, C\) = \(2, 3\)"),
    ],
)  # fmt: skip
def test_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------------- one vocabulary


def test_every_average_matches_torchmetrics() -> None:
    """average takes torchmetrics' values, with torchmetrics' numbers (plain multi-label)."""
    probs, target = problem(c=4, seed=5)
    for ours, theirs in (
        (label_recall, multilabel_recall),
        (label_precision, multilabel_precision),
        (label_f1_score, multilabel_f1_score),
    ):
        for average in ("micro", "macro", "weighted", "none", None):
            expected = theirs(probs, target, num_labels=4, threshold=0.3, average=average)
            got = ours(probs, target, threshold=0.3, average=average)
            torch.testing.assert_close(got.float(), expected, rtol=1e-6, atol=1e-7)
    for average in ("micro", "macro", "weighted", "none"):
        expected = multilabel_average_precision(probs, target, num_labels=4, average=average)
        got = label_average_precision(probs, target, average=average)
        torch.testing.assert_close(got, expected)


def test_micro_and_weighted_match_sklearn() -> None:
    probs, target = problem(seed=2)
    y, pred = target.numpy(), (probs.numpy() > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours, theirs in (
            (label_recall, skm.recall_score),
            (label_precision, skm.precision_score),
            (label_f1_score, skm.f1_score),
        ):
            for average in ("micro", "weighted"):
                expected = theirs(y, pred, average=average, zero_division=0)
                assert ours(probs, target, average=average).item() == pytest.approx(expected)
        for average in ("micro", "weighted"):
            expected = skm.average_precision_score(y, probs.numpy(), average=average)
            got = label_average_precision(probs, target, average=average).item()
            assert got == pytest.approx(expected, rel=1e-5)


def test_logits_get_a_sigmoid_in_every_plain_metric() -> None:
    """torchmetrics' rule: floats outside [0, 1] are logits; the metrics equal those of sigmoid(logits)."""
    probs, target = problem(seed=4)
    logits = torch.logit(probs.clamp(1e-4, 1 - 1e-4))
    for fn in (mean_class_accuracy, label_recall, label_precision, label_f1_score):
        torch.testing.assert_close(fn(logits, target), fn(logits.sigmoid(), target))
    torch.testing.assert_close(
        per_class_accuracy(logits, target), per_class_accuracy(logits.sigmoid(), target)
    )
    torch.testing.assert_close(
        multilabel_confusion_matrix(logits, target, threshold=0.3),
        multilabel_confusion_matrix(logits.sigmoid(), target, threshold=0.3),
    )
    torch.testing.assert_close(
        label_average_precision(logits, target), label_average_precision(probs, target)
    )
    torch.testing.assert_close(
        label_recall(logits, target, average="none"),
        multilabel_recall(logits, target, num_labels=5, average="none").double(),
    )
    for metric in (
        MeanClassAccuracy(num_labels=5),
        LabelF1Score(num_labels=5),
        LabelAveragePrecision(num_labels=5),
    ):
        metric.update(logits, target)
        from_logits = metric.compute()
        metric.reset()
        metric.update(logits.sigmoid(), target)
        torch.testing.assert_close(from_logits, metric.compute())


def test_every_metric_class_takes_the_same_constructor_arguments() -> None:
    """LabelAveragePrecision(num_labels=20) works as LabelF1Score(num_labels=20) does."""
    common = {"num_labels": 20, "ignore_index": -1, "validate_args": False}
    for cls in (
        MeanClassAccuracy,
        GroupAccuracy,
        LabelRecall,
        LabelPrecision,
        LabelF1Score,
        LabelAveragePrecision,
    ):
        metric = cls(None, **common)
        assert (metric.num_labels, metric.ignore_index, metric.validate_args) == (20, -1, False)
    for cls in (GroupAccuracy, LabelRecall, LabelPrecision, LabelF1Score, LabelAveragePrecision):
        assert cls(num_labels=20, average="macro").average == "macro"
        assert cls(num_labels=20, average=None).average == "none"
    groups = AttributeGroups([2, 3])
    assert LabelAveragePrecision(groups).num_labels == 5 == LabelF1Score(groups).num_labels


def test_a_label_absent_from_the_data_follows_torchmetrics() -> None:
    """Plain: a label without positives counts 0 in a macro mean (torchmetrics' multilabel rule)."""
    probs = torch.tensor([[0.9, 0.2, 0.1], [0.6, 0.7, 0.2], [0.1, 0.4, 0.3]])
    target = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 0]])  # label 2: no positive, none predicted
    assert label_recall(probs, target).item() == pytest.approx(0.5)
    assert label_recall(probs, target).item() == pytest.approx(
        multilabel_recall(probs, target, num_labels=3).item()
    )
    assert label_average_precision(probs, target).item() == pytest.approx(2 / 3, rel=1e-6)
