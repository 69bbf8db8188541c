"""Tests for imbalml.GroupedSoftmaxHead."""

from __future__ import annotations

import io

import pytest
import torch
from _helpers.strategies import FASHION_SIZES
from torch import nn

from imbalml import AttributeGroups, GroupedSoftmaxHead
from imbalml.functional import grouped_softmax

FASHION = AttributeGroups(FASHION_SIZES)


def fashion_head(**kwargs) -> GroupedSoftmaxHead:
    return GroupedSoftmaxHead(256, FASHION, hidden=(100, 200, 100), dropout=0.3, **kwargs)


def test_fashion_head_has_exactly_68626_parameters() -> None:
    head = fashion_head()
    assert sum(p.numel() for p in head.parameters()) == 68_626
    # 256*100+100 + 100*200+200 + 200*100+100 + 100*26+26
    assert 256 * 100 + 100 + 100 * 200 + 200 + 200 * 100 + 100 + 100 * 26 + 26 == 68_626
    assert all(p.requires_grad for p in head.parameters())


def test_layer_order_linear_activation_dropout() -> None:
    head = fashion_head()
    kinds = [type(m) for m in head.mlp]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout] * 3
    widths = [(m.in_features, m.out_features) for m in head.mlp if isinstance(m, nn.Linear)]
    assert widths == [(256, 100), (100, 200), (200, 100)]
    assert all(m.p == 0.3 for m in head.mlp if isinstance(m, nn.Dropout))
    assert (head.fc.in_features, head.fc.out_features) == (100, 26)
    # The final Linear is last: no activation or dropout after it.
    assert list(head.children())[-1] is head.fc


def test_custom_activation_and_no_hidden_layer() -> None:
    head = GroupedSoftmaxHead(8, FASHION, hidden=(4,), activation=nn.GELU)
    assert [type(m) for m in head.mlp] == [nn.Linear, nn.GELU, nn.Dropout]
    linear = GroupedSoftmaxHead(8, FASHION)
    assert len(linear.mlp) == 0
    assert sum(p.numel() for p in linear.parameters()) == 8 * 26 + 26
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(linear(x), x @ linear.fc.weight.T + linear.fc.bias)


def test_stored_hyperparameters_and_repr() -> None:
    head = fashion_head()
    assert head.in_features == 256
    assert head.hidden == (100, 200, 100)
    assert head.dropout == 0.3
    assert head.groups is FASHION
    assert (
        "groups=AttributeGroups(group0=7, group1=3, group2=3, group3=4, group4=6, group5=3; C=26)"
        in repr(head)
    )


def test_output_shape_dtype_and_grad() -> None:
    head = fashion_head()
    x = torch.randn(5, 256, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = head(x)
    assert out.shape == (5, 26) and out.dtype == torch.float32
    grouped_softmax(out, FASHION).log().sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in head.parameters())
    assert head(torch.zeros(0, 256)).shape == (0, 26)


def test_eval_mode_is_deterministic_and_train_mode_drops() -> None:
    head = fashion_head().eval()
    x = torch.randn(4, 256, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(head(x), head(x))
    head.train()
    with torch.random.fork_rng():  # dropout draws from the global generator; leave it as it was
        torch.manual_seed(0)
        assert not torch.equal(head(x), head(x))


@pytest.mark.parametrize("shape", [(4, 255), (4,), (2, 4, 256)])
def test_wrong_feature_shape(shape: tuple[int, ...]) -> None:
    head = fashion_head()
    match = (
        r"Expected `features` of shape \(N, in_features\) = \(N, 256\), but got "
        + "\\("
        + ", ".join(map(str, shape))
        + ("," if len(shape) == 1 else "")
        + "\\)\\."
    )
    with pytest.raises(ValueError, match=match):
        head(torch.zeros(shape))


@pytest.mark.parametrize(
    ("dropout", "exc", "match"),
    [
        (1.0, ValueError, r"Expected `dropout` in \[0, 1\), but got 1\."),
        (-0.1, ValueError, r"Expected `dropout` in \[0, 1\), but got -0\.1\."),
        (float("nan"), ValueError, r"Expected `dropout` to be a finite number, but got nan\."),
        (float("inf"), ValueError, r"Expected `dropout` in \[0, 1\), but got inf\."),
        ("0.3", TypeError, r"Expected `dropout` to be a real number, but got str\."),
        (True, TypeError, r"Expected `dropout` to be a real number, but got bool\."),
    ],
)
def test_bad_dropout(dropout: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        GroupedSoftmaxHead(8, FASHION, dropout=dropout)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"in_features": 0}, ValueError, r"Expected `in_features` >= 1, but got 0\."),
        ({"in_features": 8.0}, TypeError, r"Expected `in_features` to be an int, but got float\."),
        ({"in_features": True}, TypeError, r"Expected `in_features` to be an int, but got bool\."),
        ({"hidden": (4, 0)}, ValueError, r"Expected `hidden\[1\]` >= 1, but got 0\."),
        ({"hidden": (4.5,)}, TypeError, r"Expected `hidden\[0\]` to be an int, but got float\."),
        (
            {"groups": [7, 3]},
            TypeError,
            r"Expected `groups` to be an imbalml.AttributeGroups, but got list\.",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, exc: type[Exception], match: str) -> None:
    args = {"in_features": 8, "groups": FASHION, **kwargs}
    with pytest.raises(exc, match=match):
        GroupedSoftmaxHead(args.pop("in_features"), args.pop("groups"), **args)


def test_state_dict_round_trip() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        src = fashion_head()
        torch.manual_seed(1)
        dst = fashion_head()
    assert not torch.equal(src.fc.weight, dst.fc.weight)
    buffer = io.BytesIO()
    torch.save(src.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert set(state) == {f"mlp.{i}.{w}" for i in (0, 3, 6) for w in ("weight", "bias")} | {
        "fc.weight",
        "fc.bias",
    }
    dst.load_state_dict(state, strict=True)
    x = torch.randn(3, 256, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(dst.eval()(x), src.eval()(x), rtol=0, atol=0)


def test_torch_compile_traces_in_one_graph() -> None:
    """Dynamo captures the head without graph breaks (eager backend: no slow codegen)."""
    head = fashion_head().eval()
    compiled = torch.compile(head, backend="eager", fullgraph=True)
    x = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(compiled(x), head(x))


@pytest.mark.parametrize("hidden", [100, "100", None])
def test_hidden_must_be_a_sequence(hidden: object) -> None:
    name = type(hidden).__name__
    with pytest.raises(
        TypeError,
        match=rf"Expected `hidden` to be a sequence of int \(one width per hidden layer\), but got {name}\.",
    ):
        GroupedSoftmaxHead(8, FASHION, hidden=hidden)  # type: ignore[arg-type]


def test_hidden_accepts_a_list() -> None:
    assert GroupedSoftmaxHead(8, FASHION, hidden=[4, 5]).hidden == (4, 5)
