"""imbalml.models.check_state_dict: one report of a state dict that does not fit a model."""

from __future__ import annotations

import re

import pytest
import timm
import torch

from imbalml.models import check_state_dict, load_weights


def tensors(**shapes: tuple[int, ...]) -> dict[str, torch.Tensor]:
    return {k.replace("__", "."): torch.zeros(s) for k, s in shapes.items()}


MODEL = tensors(a__weight=(2, 3), a__bias=(2,), b__weight=(4,), head__fc__weight=(5, 4))


def message(state_dict, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        check_state_dict(MODEL, state_dict, source=kwargs.pop("source", "'w.pt'"), **kwargs)
    assert type(info.value) is ValueError
    return str(info.value)


def test_fits():
    assert check_state_dict(MODEL, dict(MODEL), source="'w.pt'") is None
    assert check_state_dict({}, {}, source="'w.pt'") is None


def test_missing_key():
    sd = {k: v for k, v in MODEL.items() if k != "a.bias"}
    assert message(sd) == (
        "'w.pt': the state dict does not fit the model: 1 missing key: a.bias. "
        "Pass strict=False to accept missing and unexpected keys."
    )


def test_missing_keys_counted_in_model_order():
    assert message({"b.weight": torch.zeros(4)}) == (
        "'w.pt': the state dict does not fit the model: 3 missing keys: a.weight, a.bias, "
        "head.fc.weight. Pass strict=False to accept missing and unexpected keys."
    )


def test_unexpected_keys():
    sd = dict(MODEL, **tensors(c__weight=(1,), d=(2,)))
    assert message(sd, source="`source`") == (
        "`source`: the state dict does not fit the model: 2 unexpected keys: c.weight, d. "
        "Pass strict=False to accept missing and unexpected keys."
    )


def test_shape_mismatch_names_key_expected_and_actual_shape():
    sd = dict(MODEL, **tensors(a__weight=(3, 2)))
    assert message(sd) == (
        "'w.pt': the state dict does not fit the model: 1 shape mismatch: a.weight "
        "(expected (2, 3), got (3, 2))."
    )


def test_every_kind_at_once_in_a_fixed_order():
    sd = {"a.weight": torch.zeros(2, 3), "b.weight": torch.zeros(5), "x": torch.zeros(())}
    sd["head.fc.weight"] = torch.zeros(7, 4)
    assert message(sd) == (
        "'w.pt': the state dict does not fit the model: 1 missing key: a.bias; "
        "1 unexpected key: x; 2 shape mismatches: b.weight (expected (4,), got (5,)), "
        "head.fc.weight (expected (5, 4), got (7, 4)). "
        "Pass strict=False to accept missing and unexpected keys."
    )


def test_long_lists_show_the_first_five_and_the_count():
    model = {f"k{i}": torch.zeros(1) for i in range(12)}
    with pytest.raises(ValueError) as info:
        check_state_dict(model, {}, source="'big.pt'")
    assert str(info.value) == (
        "'big.pt': the state dict does not fit the model: 12 missing keys: k0, k1, k2, k3, k4, "
        ".... Pass strict=False to accept missing and unexpected keys."
    )
    shapes = {f"k{i}": torch.zeros(2) for i in range(7)}
    with pytest.raises(
        ValueError, match=r": 7 shape mismatches: k0 \(expected \(1,\), got \(2,\)\), "
    ):
        check_state_dict(model, shapes, source="'big.pt'", strict=False)


def test_not_strict_accepts_missing_and_unexpected():
    sd = {"a.weight": torch.zeros(2, 3), "extra": torch.zeros(1)}
    assert check_state_dict(MODEL, sd, source="'w.pt'", strict=False) is None


def test_not_strict_still_rejects_shape_mismatches():
    sd = {"a.weight": torch.zeros(2, 2), "extra": torch.zeros(1)}
    assert message(sd, strict=False) == (
        "'w.pt': the state dict does not fit the model: 1 shape mismatch: a.weight "
        "(expected (2, 3), got (2, 2))."
    )


@pytest.mark.parametrize("ignore", [["head"], ["head."], ["head.fc"], ("head.fc.weight",)])
def test_ignore_keys_and_modules_on_both_sides(ignore):
    no_head = {k: v for k, v in MODEL.items() if not k.startswith("head")}
    assert check_state_dict(MODEL, no_head, source="'w.pt'", ignore=ignore) is None
    wrong_head = dict(MODEL, **tensors(head__fc__weight=(9, 4)))
    assert check_state_dict(MODEL, wrong_head, source="'w.pt'", ignore=ignore) is None
    extra = dict(MODEL, **{"head.fc.weight": torch.zeros(1)})
    assert check_state_dict(no_head, extra, source="'w.pt'", ignore=ignore) is None


def test_ignore_matches_whole_module_names_only():
    model = tensors(header__w=(1,), head__w=(1,))
    with pytest.raises(ValueError, match=r"1 missing key: header\.w\. Pass"):
        check_state_dict(model, {}, source="'w.pt'", ignore=["head"])
    with pytest.raises(ValueError, match=r"1 missing key: a\.bias\. Pass"):  # not a.weight's prefix
        check_state_dict(
            MODEL, {k: v for k, v in MODEL.items() if k != "a.bias"}, source="s", ignore=["a.b"]
        )


def test_ignore_as_a_single_string_is_refused():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Expected `ignore` to be an iterable of keys, but got the string 'head'; write ['head']."
        ),
    ):
        check_state_dict(MODEL, MODEL, source="'w.pt'", ignore="head")


def test_accepts_real_model_state_and_parameters():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    check_state_dict(model.state_dict(), model.state_dict(), source="'m.pt'")
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8)).state_dict()
    with pytest.raises(
        ValueError,
        match=r"^'m\.pt': .*: 6 shape mismatches: 0\.weight \(expected \(4, 3, 3, 3\), got \(8, 3, 3, 3\)\), 0\.bias",
    ):
        check_state_dict(model.state_dict(), other, source="'m.pt'")


def test_load_weights_reports_through_check_state_dict(tmp_path):
    """The loaders' messages are this function's, with the layout after the file and a hint."""
    src = timm.create_model("test_van", num_classes=5).state_dict()
    del src["stages.0.norm.bias"]
    with pytest.raises(ValueError) as info:
        load_weights(timm.create_model("test_van", num_classes=5), src)
    assert str(info.value) == (
        "`source` (imbalml layout): the state dict does not fit the model: 1 missing key: "
        "stages.0.norm.bias. Pass strict=False to accept missing and unexpected keys."
    )
    src["stages.0.norm.bias"] = torch.zeros(3)
    path = tmp_path / "v.pth"
    torch.save(src, path)
    with pytest.raises(ValueError) as info:
        load_weights(timm.create_model("test_van", num_classes=5), path)
    assert str(info.value) == (
        f"{str(path)!r} (imbalml layout): the state dict does not fit the model: 1 shape "
        "mismatch: stages.0.norm.bias (expected (8,), got (3,)). Are these the weights of a "
        "different VAN size?"
    )
    with pytest.raises(ValueError) as timm_info:  # the same report through timm's loader
        timm.create_model(
            "test_van", num_classes=5, pretrained=True, pretrained_cfg_overlay={"file": str(path)}
        )
    assert str(timm_info.value) == str(info.value)


def test_advice_replaces_the_strict_hint_and_only_for_key_mismatches():
    model = torch.nn.Linear(2, 3).state_dict()
    with pytest.raises(ValueError) as info:
        check_state_dict(model, {"weight": torch.zeros(3, 2)}, source="w.pt", advice="Use run A.")
    assert str(info.value) == (
        "w.pt: the state dict does not fit the model: 1 missing key: bias. Use run A."
    )
    with pytest.raises(ValueError) as info:
        check_state_dict(model, {"weight": torch.zeros(3, 2)}, source="w.pt", advice="")
    assert str(info.value).endswith("1 missing key: bias.")
    shapes = {"weight": torch.zeros(2, 2), "bias": torch.zeros(3)}
    with pytest.raises(ValueError) as info:
        check_state_dict(model, shapes, source="w.pt", advice="Use run A.")
    assert str(info.value) == (
        "w.pt: the state dict does not fit the model: 1 shape mismatch: weight "
        "(expected (3, 2), got (2, 2))."
    )
