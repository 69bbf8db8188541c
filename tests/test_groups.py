"""Tests for imbalml.AttributeGroups: layout, conversions, serialisation and every error."""

from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest
import torch
from _helpers.strategies import FASHION_SIZES, FAST, attribute_groups, grouped_problems
from hypothesis import given

from imbalml import AttributeGroups


def re_tuple(shape: tuple[int, ...]) -> str:
    return re.escape(str(tuple(shape)))


# ---------------------------------------------------------------------------------- properties


def test_properties_fashion_layout() -> None:
    groups = AttributeGroups(FASHION_SIZES)
    assert groups.sizes == (7, 3, 3, 4, 6, 3)
    assert groups.num_groups == len(groups) == 6
    assert groups.num_attributes == 26
    assert groups.offsets == (0, 7, 10, 13, 17, 23)
    assert groups.slices == (
        slice(0, 7),
        slice(7, 10),
        slice(10, 13),
        slice(13, 17),
        slice(17, 23),
        slice(23, 26),
    )
    assert groups.attribute_group == (0,) * 7 + (1,) * 3 + (2,) * 3 + (3,) * 4 + (4,) * 6 + (5,) * 3


def test_default_names() -> None:
    groups = AttributeGroups([3, 2])
    assert groups.names == ("group0", "group1")
    assert groups.attribute_names == ("group0/0", "group0/1", "group0/2", "group1/0", "group1/1")


def test_default_attribute_names_follow_custom_group_names() -> None:
    groups = AttributeGroups([2, 2], names=["colour", "size"])
    assert groups.attribute_names == ("colour/0", "colour/1", "size/0", "size/1")


def test_custom_names_are_kept_as_tuples() -> None:
    groups = AttributeGroups((2, 2), names=["a", "b"], attribute_names=list("wxyz"))
    assert groups.names == ("a", "b")
    assert groups.attribute_names == ("w", "x", "y", "z")


def test_numpy_integer_sizes_become_python_ints() -> None:
    groups = AttributeGroups(np.array([3, 2]))
    assert groups.sizes == (3, 2)
    assert all(type(s) is int for s in groups.sizes)


@given(groups=attribute_groups())
@FAST
def test_layout_invariants(groups: AttributeGroups) -> None:
    sizes = groups.sizes
    assert groups.num_attributes == sum(sizes)
    assert groups.offsets == tuple(int(v) for v in np.cumsum((0,) + sizes)[:-1])
    flat = np.arange(groups.num_attributes)
    covered = np.concatenate([flat[s] for s in groups.slices])
    np.testing.assert_array_equal(covered, flat)  # slices tile the columns, in order
    for g, s in enumerate(groups.slices):
        assert s.stop - s.start == sizes[g]
        assert set(groups.attribute_group[s]) == {g}
    np.testing.assert_array_equal(groups.group_index().numpy(), groups.attribute_group)
    assert groups.group_index().dtype == torch.long
    assert len(set(groups.names)) == groups.num_groups
    assert len(set(groups.attribute_names)) == groups.num_attributes


def test_group_index_on_a_device() -> None:
    groups = AttributeGroups([2, 3])
    assert groups.group_index("cpu").device == torch.device("cpu")
    assert groups.group_index().tolist() == [0, 0, 1, 1, 1]


# ---------------------------------------------------------------------------------- split


def test_split_returns_views_that_share_memory() -> None:
    groups = AttributeGroups([2, 3])
    x = torch.arange(10.0).reshape(2, 5)
    a, b = groups.split(x)
    assert a.shape == (2, 2) and b.shape == (2, 3)
    assert a.data_ptr() == x.data_ptr()
    assert b.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    b[0, 0] = -1.0
    assert x[0, 2] == -1.0  # writing into a view writes into the flat tensor


def test_split_works_on_any_leading_shape_and_numpy() -> None:
    groups = AttributeGroups([2, 3])
    parts = groups.split(torch.zeros(4, 7, 5))
    assert [tuple(p.shape) for p in parts] == [(4, 7, 2), (4, 7, 3)]
    parts = groups.split(np.arange(5.0))
    assert [p.tolist() for p in parts] == [[0.0, 1.0], [2.0, 3.0, 4.0]]


@pytest.mark.parametrize("shape", [(2, 4), (4,), (3, 6), ()])
def test_split_wrong_last_dimension(shape: tuple[int, ...]) -> None:
    groups = AttributeGroups([2, 3])
    match = rf"Expected `tensor` with last dimension C = 5 \(2 groups of sizes \(2, 3\)\), but got shape {re_tuple(shape)}\."
    with pytest.raises(ValueError, match=match):
        groups.split(torch.zeros(shape))


# ---------------------------------------------------------------------------------- to_one_hot


def test_to_one_hot_example() -> None:
    groups = AttributeGroups([3, 2])
    out = groups.to_one_hot(torch.tensor([[2, 0], [0, 1]]))
    assert out.dtype == torch.float32
    assert out.tolist() == [[0, 0, 1, 1, 0], [1, 0, 0, 0, 1]]


def test_to_one_hot_ignore_index_gives_zero_segment_and_keeps_other_groups() -> None:
    # Regression: the ignored group used to scatter its 0 into column 0, erasing group 0's label.
    groups = AttributeGroups([2, 2, 3])
    target = torch.tensor([[0, -100, 2], [-100, 1, 0], [-100, -100, -100], [0, 0, -100]])
    expected = [
        [1, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0],
    ]
    assert groups.to_one_hot(target).tolist() == expected
    assert groups.to_one_hot(target, validate_args=False).tolist() == expected


def test_to_one_hot_custom_ignore_index_dtype_and_numpy() -> None:
    groups = AttributeGroups([2, 3])
    target = np.array([[1, 255], [0, 2]], dtype=np.uint8)
    out = groups.to_one_hot(target, ignore_index=255, dtype=torch.long)
    assert out.dtype == torch.long
    assert out.tolist() == [[0, 1, 0, 0, 0], [1, 0, 0, 0, 1]]
    assert groups.to_one_hot(target, ignore_index=255, dtype=torch.bool).dtype == torch.bool


def test_to_one_hot_empty_batch() -> None:
    groups = AttributeGroups([2, 3])
    assert groups.to_one_hot(torch.zeros(0, 2, dtype=torch.long)).shape == (0, 5)


@given(problem=grouped_problems(min_samples=0))
@FAST
def test_to_one_hot_matches_numpy_reference(problem) -> None:
    groups, target = problem.groups, problem.target
    ignore = -100 if problem.ignore_index is None else problem.ignore_index
    out = groups.to_one_hot(torch.from_numpy(target), ignore_index=ignore).numpy()
    expected = np.zeros((target.shape[0], groups.num_attributes), dtype=np.float32)
    for n in range(target.shape[0]):
        for g, off in enumerate(groups.offsets):
            if target[n, g] != ignore:
                expected[n, off + target[n, g]] = 1.0
    np.testing.assert_array_equal(out, expected)
    # Each segment sums to 1, or to 0 for a missing label; argmax inverts it on labelled groups.
    sums = torch.stack([s.sum(-1) for s in groups.split(torch.from_numpy(out))], -1).numpy()
    np.testing.assert_array_equal(sums, (target != ignore).astype(np.float32))
    back = groups.argmax(torch.from_numpy(out)).numpy()
    np.testing.assert_array_equal(back[target != ignore], target[target != ignore])


# ---------------------------------------------------------------------------------- argmax


def test_argmax_example_and_first_index_on_ties() -> None:
    groups = AttributeGroups([3, 2])
    scores = torch.tensor([[0.1, 0.7, 0.2, 0.4, 0.6], [1.0, 1.0, 0.0, 3.0, 3.0]])
    out = groups.argmax(scores)
    assert out.dtype == torch.long
    assert out.tolist() == [[1, 1], [0, 0]]


def test_argmax_accepts_infinities_and_numpy() -> None:
    groups = AttributeGroups([2, 2])
    scores = np.array([[-np.inf, 0.0, np.inf, 5.0]], dtype=np.float32)
    assert groups.argmax(scores).tolist() == [[1, 0]]


@given(problem=grouped_problems())
@FAST
def test_argmax_matches_numpy_per_group(problem) -> None:
    groups, x = problem.groups, problem.logits
    out = groups.argmax(torch.from_numpy(x)).numpy()
    expected = np.stack([x[:, s].argmax(1) for s in groups.slices], -1)
    np.testing.assert_array_equal(out, expected)


def test_argmax_nan_is_rejected_naming_position() -> None:
    groups = AttributeGroups([2, 3])
    scores = torch.zeros(3, 5)
    scores[1, 3] = float("nan")
    with pytest.raises(
        ValueError, match=r"Expected `scores` without NaN, but got nan at row 1, column 3\."
    ):
        groups.argmax(scores)


def test_argmax_wrong_shape_and_dtype() -> None:
    groups = AttributeGroups([2, 3])
    with pytest.raises(
        ValueError,
        match=r"Expected `scores` of shape \(N, C\) = \(4, 5\) for 5 attributes in 2 groups, but got \(4, 4\)\.",
    ):
        groups.argmax(torch.zeros(4, 4))
    with pytest.raises(
        ValueError, match=r"Expected `scores` of shape \(N, C\) = \(5, 5\).*got \(5,\)"
    ):
        groups.argmax(torch.zeros(5))
    with pytest.raises(
        TypeError, match=r"Expected `scores` to have a floating dtype, but got torch.int64\."
    ):
        groups.argmax(torch.zeros(4, 5, dtype=torch.long))
    with pytest.raises(
        TypeError,
        match=r"Expected `scores` to be a torch.Tensor, numpy.ndarray or list, but got str\.",
    ):
        groups.argmax("0.0")
    assert groups.argmax([[0.0, 1.0, 0.0, 2.0, 0.0]]).tolist() == [[1, 1]]  # lists are arrays


# ---------------------------------------------------------------------------------- from_assignments


@pytest.mark.parametrize("start", [0, 1, 7])
def test_from_assignments_any_consecutive_start(start: int) -> None:
    ids = [start] * 3 + [start + 1] * 2 + [start + 2] * 4
    names = [f"attr{i}" for i in range(9)]
    groups = AttributeGroups.from_assignments(names, ids, names=["a", "b", "c"])
    assert groups == AttributeGroups([3, 2, 4], names=["a", "b", "c"], attribute_names=names)


def test_from_assignments_numpy_ids() -> None:
    groups = AttributeGroups.from_assignments(list("abcd"), np.array([1, 1, 2, 2]))
    assert groups.sizes == (2, 2)
    assert groups.attribute_names == ("a", "b", "c", "d")
    assert groups.names == ("group0", "group1")


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([0, 0, 2, 2], r"attribute 2 \('c'\) has group 2 after group 0\."),
        ([1, 1, 0, 0], r"attribute 2 \('c'\) has group 0 after group 1\."),
        ([0, 0, 1, 1, 0], r"attribute 4 \('e'\) has group 0 after group 1\."),  # back to a group
    ],
)
def test_from_assignments_non_consecutive(ids: list[int], match: str) -> None:
    names = list("abcde")[: len(ids)]
    with pytest.raises(
        ValueError, match=r"Expected group ids to be consecutive and non-decreasing, but " + match
    ):
        AttributeGroups.from_assignments(names, ids)


def test_from_assignments_errors() -> None:
    with pytest.raises(ValueError, match=r"Expected one group id per attribute \(3\), but got 2\."):
        AttributeGroups.from_assignments(["a", "b", "c"], [0, 0])
    with pytest.raises(ValueError, match=r"Expected at least one attribute, but got none\."):
        AttributeGroups.from_assignments([], [])
    # A group of a single attribute is not a group.
    with pytest.raises(ValueError, match=r"at least 2 attributes, but `sizes\[1\]` is 1\."):
        AttributeGroups.from_assignments(["a", "b", "c"], [0, 0, 1])


# ---------------------------------------------------------------------------------- serialisation


@given(groups=attribute_groups())
@FAST
def test_to_dict_round_trip(groups: AttributeGroups) -> None:
    data = groups.to_dict()
    assert data == {
        "sizes": list(groups.sizes),
        "names": list(groups.names),
        "attribute_names": list(groups.attribute_names),
    }
    restored = AttributeGroups.from_dict(data)
    assert restored == groups
    assert hash(restored) == hash(groups)


def test_to_dict_survives_weights_only_torch_load(tmp_path) -> None:
    groups = AttributeGroups([2, 3], names=["a", "b"])
    torch.save({"groups": groups.to_dict()}, tmp_path / "ckpt.pt")
    data = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert AttributeGroups.from_dict(data["groups"]) == groups


def test_from_dict_only_sizes_and_errors() -> None:
    assert AttributeGroups.from_dict({"sizes": [2, 2]}) == AttributeGroups([2, 2])
    with pytest.raises(
        ValueError, match=r"Expected a dict with key 'sizes', but got \{'names': \['a'\]\}\."
    ):
        AttributeGroups.from_dict({"names": ["a"]})
    with pytest.raises(TypeError, match=r"Expected `data` to be a dict, but got list\."):
        AttributeGroups.from_dict([2, 2])  # type: ignore[arg-type]


def test_equality_and_hash() -> None:
    a = AttributeGroups([2, 3])
    assert a == AttributeGroups((2, 3))
    assert a != AttributeGroups([3, 2])
    assert a != AttributeGroups([2, 3], names=["x", "y"])
    assert a != AttributeGroups([2, 3], attribute_names=list("abcde"))
    assert a != (2, 3)
    assert len({a, AttributeGroups([2, 3]), AttributeGroups([3, 2])}) == 2


def test_repr() -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    assert repr(groups) == "AttributeGroups(colour=3, size=2; C=5)"


def test_pickle_and_deepcopy_round_trip() -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    groups.group_index()  # fill the cache: it must not travel
    for restored in (pickle.loads(pickle.dumps(groups)), copy.deepcopy(groups)):
        assert restored == groups
        assert not [v for v in vars(restored).values() if isinstance(v, torch.Tensor)]
        assert restored.group_index().tolist() == [0, 0, 0, 1, 1]
        assert restored.to_one_hot(torch.tensor([[1, 1]])).tolist() == [[0, 1, 0, 0, 1]]


# ---------------------------------------------------------------------------------- constructor errors


def test_size_below_two() -> None:
    with pytest.raises(
        ValueError,
        match=r"Expected every group to have at least 2 attributes, but `sizes\[1\]` is 1\.",
    ):
        AttributeGroups([3, 1])
    with pytest.raises(ValueError, match=r"but `sizes\[0\]` is 0\."):
        AttributeGroups([0, 3])
    with pytest.raises(ValueError, match=r"but `sizes\[0\]` is -2\."):
        AttributeGroups([-2])


def test_empty_sizes() -> None:
    with pytest.raises(
        ValueError,
        match=r"Expected `sizes` to list at least one group, but got an empty sequence\.",
    ):
        AttributeGroups([])


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ([2, 2.0], r"Expected `sizes\[1\]` to be an int, but got 2\.0\."),
        ([True, 3], r"Expected `sizes\[0\]` to be an int, but got True\."),
        ([3, np.bool_(True)], r"Expected `sizes\[1\]` to be an int, but got (np\.)?(True_|True)"),
        (["2", 3], r"Expected `sizes\[0\]` to be an int, but got '2'\."),
        (3, r"Expected `sizes` to be a sequence of int, but got int\."),
        ("23", r"Expected `sizes` to be a sequence of int, but got str\."),
    ],
)
def test_non_int_sizes(sizes: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        AttributeGroups(sizes)  # type: ignore[arg-type]


def test_wrong_names_count() -> None:
    with pytest.raises(ValueError, match=r"Expected 2 `names`, but got 3: \['a', 'b', 'c'\]\."):
        AttributeGroups([2, 2], names=["a", "b", "c"])
    with pytest.raises(
        ValueError, match=r"Expected 4 `attribute_names`, but got 3: \['a', 'b', 'c'\]\."
    ):
        AttributeGroups([2, 2], attribute_names=["a", "b", "c"])


def test_duplicate_names() -> None:
    with pytest.raises(
        ValueError, match=r"Expected unique `names`, but 'a' appears at positions 0 and 2\."
    ):
        AttributeGroups([2, 2, 2], names=["a", "b", "a"])
    with pytest.raises(
        ValueError,
        match=r"Expected unique `attribute_names`, but 'x' appears at positions 1 and 3\.",
    ):
        AttributeGroups([2, 2], attribute_names=["w", "x", "y", "x"])


def test_names_must_be_nonempty_strings() -> None:
    with pytest.raises(
        TypeError, match=r"Expected `names\[1\]` to be a non-empty str, but got ''\."
    ):
        AttributeGroups([2, 2], names=["a", ""])
    with pytest.raises(
        TypeError, match=r"Expected `attribute_names\[0\]` to be a non-empty str, but got 1\."
    ):
        AttributeGroups([2], attribute_names=[1, 2])  # type: ignore[list-item]
    with pytest.raises(
        TypeError, match=r"Expected `names` to be a sequence of str, but got a single str 'ab'\."
    ):
        AttributeGroups([2, 2], names="ab")


# ---------------------------------------------------------------------------------- target errors


def test_label_out_of_range_names_column_group_and_row() -> None:
    groups = AttributeGroups([3, 2], names=["colour", "size"])
    target = torch.tensor([[0, 1], [2, 0], [1, 2]])
    with pytest.raises(
        ValueError,
        match=r"Expected `indices\[:, 1\]` \(group 'size', 2 attributes\) in \[0, 1\] or "
        r"ignore_index=-100, but got 2 at row 2\.",
    ):
        groups.to_one_hot(target)
    with pytest.raises(
        ValueError, match=r"`indices\[:, 0\]` \(group 'colour', 3 attributes\) .* got -1 at row 0\."
    ):
        groups.to_one_hot(torch.tensor([[-1, 0]]))
    # -1 is fine once it is the ignore_index; -100 then is not.
    assert groups.to_one_hot(torch.tensor([[-1, 0]]), ignore_index=-1).tolist() == [[0, 0, 0, 1, 0]]
    with pytest.raises(ValueError, match=r"ignore_index=-1, but got -100 at row 0\."):
        groups.to_one_hot(torch.tensor([[-100, 0]]), ignore_index=-1)


@pytest.mark.parametrize("shape", [(4,), (4, 3), (4, 2, 1), ()])
def test_wrong_target_shape(shape: tuple[int, ...]) -> None:
    groups = AttributeGroups([3, 2])
    n = shape[0] if shape else "N"
    match = (
        rf"Expected `indices` of shape \(N, G\) = \({n}, 2\) for 2 attribute groups, "
        rf"but got {re_tuple(shape)}\."
    )
    with pytest.raises(ValueError, match=match):
        groups.to_one_hot(torch.zeros(shape, dtype=torch.long))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool, torch.complex64])
def test_non_integer_target_dtype(dtype: torch.dtype) -> None:
    groups = AttributeGroups([3, 2])
    with pytest.raises(
        TypeError,
        match=(
            rf"but got {dtype} of shape \(4, 2\): hard labels must have an integer dtype \(use "
            r"`indices.long\(\)`\)"
            if dtype.is_floating_point
            else rf"Expected `indices` with integer attribute indices of shape \(N, G\), but got dtype {dtype}\."
        ),
    ):
        groups.to_one_hot(torch.zeros(4, 2, dtype=dtype))


def test_target_type_errors() -> None:
    groups = AttributeGroups([3, 2])
    with pytest.raises(
        TypeError,
        match=r"Expected `indices` to be a torch.Tensor, numpy.ndarray or list, but got int\.",
    ):
        groups.to_one_hot(3)
    assert groups.to_one_hot([[0, 1]]).tolist() == [[1.0, 0.0, 0.0, 0.0, 1.0]]  # lists are arrays
    with pytest.raises(
        TypeError, match=r"Expected `indices` to be a numeric array, but got dtype=object\."
    ):
        groups.to_one_hot(np.array([[0, None]], dtype=object))


# ----------------------------------------------------------------------- device-free fast paths
def test_argmax_without_validation_skips_only_the_nan_check() -> None:
    groups = AttributeGroups([2, 3])
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.2, 0.5], [1.0, float("nan"), 0.0, 2.0, 1.0]])
    with pytest.raises(
        ValueError, match="Expected `scores` without NaN, but got nan at row 1, column 1"
    ):
        groups.argmax(scores)
    fast = groups.argmax(scores, validate_args=False)
    assert fast.tolist() == [[1, 2], [1, 1]]  # the NaN's index in its group
    with pytest.raises(ValueError, match=r"Expected `scores` of shape \(N, C\)"):
        groups.argmax(scores[:, :4], validate_args=False)


def test_layout_tensors_are_built_per_call_and_never_shared() -> None:
    # No process-wide cache hands the same tensor to two callers: one made under inference mode
    # would poison every later training step (issue 21).
    groups = AttributeGroups([2, 3])
    first = groups.group_index()
    assert first.tolist() == [0, 0, 1, 1, 1]
    assert groups.group_index() is not first
    first.add_(1)  # a caller may modify what it got ...
    assert groups.group_index().tolist() == [0, 0, 1, 1, 1]  # ... without changing the next call
    with torch.inference_mode():
        groups.to_one_hot(torch.tensor([[0, 1]]))
    x = torch.zeros(1, 5, requires_grad=True)
    (x * groups.to_one_hot(torch.tensor([[1, 2]]))).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0, 0.0, 1.0]]
    # None is stored on the instance, so none is pickled.
    restored = pickle.loads(pickle.dumps(groups))
    assert not [v for v in vars(restored).values() if isinstance(v, torch.Tensor)]


def test_argmax_finds_a_nan_in_any_position() -> None:
    groups = AttributeGroups([3, 2, 4])
    base = torch.randn(4, 9, generator=torch.Generator().manual_seed(0))
    for row in range(4):
        for col in range(9):
            scores = base.clone()
            scores[row, col] = float("nan")
            with pytest.raises(ValueError, match=f"but got nan at row {row}, column {col}"):
                groups.argmax(scores)
    assert groups.argmax(base).shape == (4, 3)
