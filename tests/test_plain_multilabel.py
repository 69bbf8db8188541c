"""The user trial of issue 14: plain multi-label data through every part of the library.

Ten independent binary labels, multi-hot ``(N, 10)`` targets: every entry point takes
``groups=None`` in the same (third, or second for target-only functions) position, minority logic
counts positives only, and the losses weight labels as BCE does.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import imbalml
from imbalml import (
    AsymmetricLoss,
    AttributeGroups,
    BatchMixup,
    FocalLoss,
    GroupedCrossEntropyLoss,
    MeanClassAccuracy,
    MinorityOversampler,
    MixupCollator,
    WeightedCrossEntropyLoss,
    class_priors,
    class_weights,
    label_counts,
    minority_attributes,
    stratified_split,
)
from imbalml import functional as IF

FREQ = torch.tensor([0.9, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02])


def data(n: int = 400, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 10, generator=g) < FREQ).long()
    y[0] = 1  # every label has a positive
    logits = 2.0 * (y - 0.5) + torch.randn(n, 10, generator=g)
    return y, logits


def test_the_trial_calls_run() -> None:
    y, logits = data()
    probs = logits.sigmoid()
    metric = MeanClassAccuracy(None, num_labels=10)
    metric.update(probs, y)
    assert metric.compute().item() == pytest.approx(IF.mean_class_accuracy(probs, y, None).item())
    counts = label_counts(y, None)
    assert torch.equal(counts.positives, y.sum(0))
    assert torch.equal(label_counts(y).labelled, counts.labelled)
    collate = MixupCollator(None, counts=counts, seed=0)
    images, targets = collate([(torch.randn(3), y[i]) for i in range(8)])
    assert images.shape == (8, 3) and targets.shape == (8, 10) and targets.dtype == torch.float32
    sampler = MinorityOversampler(y, None)
    assert len(list(sampler)) == len(sampler) == sampler.epoch_size


def test_minority_counts_positives_only() -> None:
    """The trial's workaround AttributeGroups([2] * 10) flagged 95.5% of images; positives only."""
    y, _ = data()
    counts = label_counts(y)
    minority = minority_attributes(counts)  # labels rarer than the mean positive count
    flagged = IF.minority_mask(y, minority=minority)
    expected = (y.bool() & minority).any(1)
    assert torch.equal(flagged, expected)
    workaround = IF.minority_mask(y, AttributeGroups([2] * 10),
                                  minority=minority_attributes(label_counts(y, AttributeGroups([2] * 10))))  # fmt: skip
    assert flagged.float().mean() < workaround.float().mean()
    # plain collator mixes exactly the images with a minority positive (mode="minority", p=1)
    collate = MixupCollator(minority=minority, seed=1)
    images = torch.arange(16, dtype=torch.float32).view(16, 1) * 10
    out, soft = collate([(images[i], y[i]) for i in range(16)])
    untouched = ~expected[:16]
    assert torch.equal(out[untouched], images[untouched])
    assert torch.equal(soft[untouched], y[:16][untouched].float())


def test_plain_collator_and_batch_mixup_agree_and_keep_ignored_entries() -> None:
    y, _ = data(n=12, seed=3)
    y = y.clone()
    y[2, 4] = -100
    minority = torch.tensor([False] * 5 + [True] * 5)
    images = torch.randn(12, 2, 3)
    collate = MixupCollator(minority=minority, mode="all", seed=5, alpha=1.0, beta=1.0)
    module = BatchMixup(minority=minority, mode="all", seed=5, alpha=1.0, beta=1.0)
    a_img, a_y = collate([(images[i], y[i].tolist()) for i in range(12)])
    b_img, b_y = module(images, y)
    torch.testing.assert_close(a_img, b_img)
    torch.testing.assert_close(a_y, b_y)
    assert a_y[2, 4] == -100  # a missing label stays missing
    loss = AsymmetricLoss()(torch.zeros(12, 10), a_y)  # the loss ignores it
    assert torch.isfinite(loss)


def test_oversampler_uses_repeat_factors_of_positive_labels() -> None:
    y, _ = data()
    sampler = MinorityOversampler(y, frequency_threshold=0.2)
    freq = y.double().mean(0)
    label_r = torch.clamp((0.2 / freq).sqrt(), min=1.0)
    expected = torch.stack([label_r[row.bool()].max() if row.any() else torch.tensor(1.0, dtype=torch.float64)
                            for row in y])  # fmt: skip
    torch.testing.assert_close(sampler.repeat_factors, expected)
    torch.testing.assert_close(sampler.attribute_repeat_factors, label_r)


def test_stratified_split_of_multi_hot_targets() -> None:
    y, _ = data()
    split = stratified_split(y, None, test_size=0.25, seed=0)
    assert len(split.test) == 100 and len(split.train) == 300
    assert torch.equal(split.test_counts, y[split.test].sum(0))
    share = split.test_counts.double() / y.sum(0).double()
    assert torch.all((share - 0.25).abs() < 0.15)  # every label keeps about its share


def test_class_weights_are_positive_weights_for_bce() -> None:
    y, logits = data()
    counts = label_counts(y)
    positives = counts.positives
    pos_weight = class_weights(counts)
    torch.testing.assert_close(pos_weight, ((len(y) - positives) / positives).float())
    torch.testing.assert_close(class_weights(counts, strategy="inverse_sqrt"), pos_weight.sqrt())
    beta = 0.99
    eff = class_weights(counts, strategy="effective_number", beta=beta)
    neg = (len(y) - positives).double()
    torch.testing.assert_close(eff, ((1 - beta**neg) / (1 - beta ** positives.double())).float())
    weight = torch.linspace(0.5, 2.0, 10)
    expected = F.binary_cross_entropy_with_logits(
        logits, y.float(), weight=weight, pos_weight=pos_weight
    )
    # imbalml's "mean" is per sample, summed over the C labels: BCE's mean (over N * C) times C.
    c = y.shape[1]
    got = IF.focal_loss(logits, y, None, gamma=0.0, weight=weight, pos_weight=pos_weight)
    torch.testing.assert_close(got, expected * c)
    module = FocalLoss(gamma=0.0, weight=weight, pos_weight=pos_weight)
    torch.testing.assert_close(module(logits, y.float()), expected * c)
    asl = AsymmetricLoss(gamma_pos=0.0, gamma_neg=0.0, clip=0.0, eps=0.0, pos_weight=pos_weight,
                         reduction="sum")  # fmt: skip
    torch.testing.assert_close(asl(logits, y.float()), F.binary_cross_entropy_with_logits(
        logits, y.float(), pos_weight=pos_weight, reduction="sum"))  # fmt: skip
    priors = class_priors(counts)
    torch.testing.assert_close(priors, (positives / len(y)).float())


def test_weighted_asl_matches_a_float64_reference() -> None:
    y, logits = data(n=50)
    x = logits.double().numpy()
    t = y.double().numpy()
    w, pw = np.linspace(0.5, 2, 10), np.linspace(3, 1, 10)
    p = 1 / (1 + np.exp(-x))
    p_m = np.maximum(p - 0.05, 0)
    pos = pw * t * np.log(np.maximum(p, 1e-8)) * (1 - p) ** 1.0
    neg = (1 - t) * np.log(np.maximum(1 - p_m, 1e-8)) * p_m**4.0
    expected = -(w * (pos + neg)).sum(1).mean()  # per sample (summed over labels), averaged
    got = IF.asymmetric_loss(
        logits.double(), y.double(), weight=torch.tensor(w), pos_weight=torch.tensor(pw)
    )
    assert got.item() == pytest.approx(expected, rel=1e-10)
    logits.requires_grad_(True)
    loss = AsymmetricLoss(weight=torch.tensor(w).float(), pos_weight=torch.tensor(pw).float())(
        logits, y.float()
    )
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_grouped_cross_entropy_is_plain_cross_entropy_per_group() -> None:
    groups = AttributeGroups([3, 2])
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 5, generator=g)
    target = torch.stack(
        [torch.randint(0, 3, (20,), generator=g), torch.randint(0, 2, (20,), generator=g)], 1
    )
    expected = F.cross_entropy(logits[:, :3], target[:, 0]) + F.cross_entropy(
        logits[:, 3:], target[:, 1]
    )
    torch.testing.assert_close(IF.grouped_cross_entropy(logits, target, groups), expected)
    torch.testing.assert_close(GroupedCrossEntropyLoss(groups)(logits, target), expected)
    with pytest.raises(TypeError, match=r"use GroupedCrossEntropyLoss for the unweighted loss"):
        WeightedCrossEntropyLoss(groups, weight=None)
    with pytest.raises(TypeError, match=r"use grouped_cross_entropy for the unweighted loss"):
        IF.weighted_cross_entropy(logits, target, groups, weight=None)


def test_adjust_logits_plain_and_per_group_tau() -> None:
    logits = torch.zeros(2, 3)
    priors = torch.tensor([0.5, 0.2, 0.9])
    expected = -torch.log(priors / (1 - priors)).expand(2, 3)
    torch.testing.assert_close(IF.adjust_logits(logits, None, priors=priors), expected)
    # the adjusted sigmoid crosses 1/2 exactly where the raw probability equals the prior
    raw = torch.logit(priors).unsqueeze(0)
    torch.testing.assert_close(
        IF.adjust_logits(raw, None, priors=priors).sigmoid(), torch.full((1, 3), 0.5)
    )
    groups = AttributeGroups([2, 2])
    logits, priors = torch.zeros(2, 4), torch.tensor([0.5, 0.2, 0.9, 0.1])
    tau = torch.tensor([1.0, 0.0])
    got = IF.adjust_logits(logits, groups, priors=priors, tau=tau)
    torch.testing.assert_close(got[:, :2], -priors[:2].log().expand(2, 2))
    torch.testing.assert_close(got[:, 2:], torch.zeros(2, 2))
    with pytest.raises(
        ValueError, match=r"Expected `priors` in \(0, 1\).*groups=None, but got 1 at index 0"
    ):
        IF.adjust_logits(torch.zeros(2, 3), None, priors=torch.tensor([1.0, 0.5, 0.5]))
    with pytest.raises(
        ValueError, match=r"Expected `tau` of shape \(C,\) = \(2,\), but got \(3,\)"
    ):
        IF.adjust_logits(logits, groups, priors=priors, tau=torch.ones(3))


# ------------------------------------------------------------------- errors from the trial


def test_float_hard_labels_get_a_dtype_error() -> None:
    groups = AttributeGroups([3, 2])
    hard = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    for call in (
        lambda: IF.asymmetric_loss(torch.zeros(2, 5), hard, groups),
        lambda: IF.grouped_cross_entropy(torch.zeros(2, 5), hard, groups),
        lambda: label_counts(hard, groups),
        lambda: IF.mean_class_accuracy(torch.zeros(2, 5), hard, groups),
        lambda: BatchMixup(groups, counts=[1, 1, 1, 1, 1])(torch.zeros(2, 1), hard),
    ):
        with pytest.raises(
            TypeError, match=r"hard labels must have an integer dtype \(use `target.long\(\)`\)"
        ):
            call()


def test_indices_without_groups_name_the_fix() -> None:
    with pytest.raises(
        ValueError, match=r"This looks like hard \(N, G\) attribute indices: pass `groups`"
    ):
        IF.asymmetric_loss(torch.zeros(4, 26), torch.zeros(4, 6, dtype=torch.long))


def test_none_where_groups_are_required_says_so() -> None:
    with pytest.raises(TypeError, match=r"`groups=None`, plain multi-label, does not apply here"):
        IF.grouped_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 1, dtype=torch.long), None)


def test_class_weights_needs_label_counts_for_plain_counts() -> None:
    match = (r"Expected `counts` to be an imbalml.LabelCounts for plain multi-label \(groups=None\): "
             r"a \(C,\) array of positives does not say how many samples of each label are known\. "
             r"Count with `imbalml.label_counts\(target\)`\.")  # fmt: skip
    for call in (class_weights, class_priors):
        with pytest.raises(TypeError, match=match):
            call([3, 4])
    bad = imbalml.LabelCounts(torch.tensor([3, 4]), torch.tensor([3, 3]), 3)
    with pytest.raises(
        ValueError, match=r"Expected `counts.positives` <= `counts.labelled`, but label 1 has 4 "
        r"positives of 3 labelled samples\."
    ):
        class_weights(bad)
    with pytest.raises(ValueError, match=r"Expected `counts` counted with the same layout as `groups`"):
        class_weights(label_counts(torch.tensor([[1, 0]])), AttributeGroups([2]))


def test_mixup_needs_exactly_one_of_counts_and_minority() -> None:
    with pytest.raises(TypeError, match=r"Expected exactly one of `counts`.*but got neither"):
        MixupCollator()
    with pytest.raises(TypeError, match=r"but got both"):
        BatchMixup(counts=[1, 2], minority=torch.tensor([True, False]))


LISTS = [
    ("label_counts", lambda v: label_counts(v), [[1, 0], [0, 1], [1, 1]]),
    ("class_weights", lambda v: class_weights(v, AttributeGroups([2])), [3, 4]),
    ("class_priors", lambda v: class_priors(v, AttributeGroups([2])), [3, 4]),
    ("minority_attributes", lambda v: minority_attributes(v), [3, 4]),
    ("asymmetric_loss", lambda v: IF.asymmetric_loss(v, [[1.0, 0.0]]), [[0.5, -0.5]]),
    ("mean_class_accuracy", lambda v: IF.mean_class_accuracy(v, [[1, 0]]), [[0.7, 0.2]]),
    ("MinorityOversampler", lambda v: MinorityOversampler(v), [[1, 0], [0, 1], [1, 1]]),
    ("stratified_split", lambda v: stratified_split(v, test_size=1), [[1, 0], [0, 1], [1, 1]]),
    ("grouped target", lambda v: IF.grouped_cross_entropy(torch.zeros(2, 3), v, AttributeGroups([3])), [[0], [2]]),
    ("adjust_logits priors", lambda v: IF.adjust_logits(torch.zeros(1, 2), None, priors=v), [0.5, 0.25]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "value"), LISTS, ids=[case[0] for case in LISTS])
def test_lists_are_accepted_wherever_arrays_are(name, call, value) -> None:
    from_list = call(value)
    from_array = call(np.asarray(value))
    if isinstance(from_list, torch.Tensor):
        torch.testing.assert_close(from_list, from_array)
    else:
        assert repr(from_list) == repr(from_array)


def test_ragged_lists_and_strings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Expected `target` to be a rectangular \(nested\) list"):
        label_counts([[1, 0], [1]])
    with pytest.raises(
        TypeError, match=r"Expected `counts` to be a numeric array, but got dtype=<U1"
    ):
        minority_attributes(["a", "b"])


# ------------------------------------------------------------------- one convention, findable


def public_callables():
    modules = [imbalml, imbalml.functional, imbalml.losses, imbalml.metrics, imbalml.mixup,
               imbalml.samplers, imbalml.weights, imbalml.data, imbalml.thresholds]  # fmt: skip
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and not name.startswith("_"):
                yield f"{module.__name__}.{name}", obj


def test_every_public_name_is_importable() -> None:
    for module in (imbalml, imbalml.functional, imbalml.losses, imbalml.metrics, imbalml.mixup,
                   imbalml.samplers, imbalml.weights, imbalml.data, imbalml.thresholds):  # fmt: skip
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    for name in ("MinorityOversampler", "stratified_split", "minority_attributes", "FocalLoss",
                 "GroupedCrossEntropyLoss", "tune_thresholds", "LabelAveragePrecision"):  # fmt: skip
        assert name in imbalml.__all__


def test_groups_is_the_third_parameter_and_validate_args_the_only_spelling() -> None:
    """``groups`` follows the tensor arguments, positional-or-keyword, everywhere.

    Functions of ``(input, target)`` take it third; functions of one tensor (``target`` or
    ``counts``) second; module shells first; the head after its input width.
    """
    after_one = {"label_counts", "MinorityOversampler", "stratified_split", "minority_mask",
                 "class_weights", "class_priors", "adjust_logits", "GroupedSoftmaxHead",
                 "grouped_argmax", "grouped_softmax", "grouped_log_softmax",
                 "AttributeImageDataset"}  # fmt: skip
    seen = 0
    for qualname, obj in public_callables():
        target = obj.__init__ if inspect.isclass(obj) else obj
        try:
            params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
        except (TypeError, ValueError):
            continue
        names = [p.name for p in params]
        assert "validate" not in names, qualname
        short = qualname.rsplit(".", 1)[1]
        if "groups" not in names or getattr(obj, "__module__", "").startswith("imbalml.data.folder."):
            continue  # the folder readers and writers: (path, groups) of the data package
        if short == "LabelCounts":
            continue  # a result record: its fields, the counts first and their layout last
        seen += 1
        expected = 1 if short in after_one else (0 if inspect.isclass(obj) else 2)
        index = names.index("groups")
        assert index == expected, f"{qualname}: groups at {index}, expected {expected}"
        assert params[index].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, qualname
    assert seen > 30


def test_plain_loader_end_to_end() -> None:
    """DataLoader + collator + sampler + metric over plain labels, in a few lines."""
    y, logits = data(n=64)
    dataset = [(logits[i], y[i]) for i in range(64)]
    loader = DataLoader(dataset, batch_size=16, sampler=MinorityOversampler(y, seed=0),
                        collate_fn=MixupCollator(counts=label_counts(y), seed=0))  # fmt: skip
    batches = list(loader)
    assert sum(len(b[0]) for b in batches) == len(loader.sampler)
    assert all(b[1].shape[1] == 10 for b in batches)


def test_minority_attributes_treat_missing_labels_as_unknown() -> None:
    """Label 1 is positive in 2 of its 2 known entries: at full labelling 4 of 4, not minority.

    Counting the missing entries as negatives gives it 2 of 4 images, under the threshold 3.
    """
    target = torch.tensor([[1, 1], [0, 1], [0, -100], [0, -100]])
    counts = label_counts(target)
    assert minority_attributes(counts, count_threshold=3).tolist() == [True, False]
    assert minority_attributes(counts).tolist() == [True, False]  # mean of 1 and 4
    groups = AttributeGroups([2, 2])
    grouped = label_counts(torch.tensor([[0, 0], [0, 0], [1, -100], [1, -100]]), groups)
    # group 1: attribute 2 in 2 of 2 labelled images (4 of 4 at full labelling), 3 in none
    assert minority_attributes(grouped, count_threshold=3).tolist() == [True, True, False, True]
    # the mixup classes' counts= go through the same rule
    collate = MixupCollator(groups, counts=grouped, count_threshold=3, seed=0)
    assert collate.minority.tolist() == [True, True, False, True]
