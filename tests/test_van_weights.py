"""Tests for VAN checkpoint conversion and loading (imbalml.models.load_weights)."""

from __future__ import annotations

import argparse
import builtins
import fractions
from pathlib import Path

import pytest
import timm
import torch
from _helpers.make_van_fixtures import FIXTURE_CONFIG, fixture_input
from _helpers.van_layouts import randomize_, save_published, to_layout
from safetensors.torch import load_file, save_file

from imbalml.models import VAN, LoadResult, convert_van_state_dict, load_weights

DATA = Path(__file__).parent / "data"
LAYOUTS = ["original", "openmmlab", "huggingface", "huggingface-safetensors"]
X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def random_test_van(num_classes: int = 5, seed: int = 0) -> VAN:
    return randomize_(timm.create_model("test_van", num_classes=num_classes), seed).eval()


def outputs(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(X)


# --- reference implementations (fixtures made by tests/_helpers/make_van_fixtures.py) ---------


@pytest.mark.parametrize("name", ["hf", "original"])
@pytest.mark.parametrize("fast_cpu", [True, False])
def test_matches_reference_implementation(name, fast_cpu):
    """Weights in the layout of transformers 4.46.3 / the authors' code give their outputs."""
    data = load_file(DATA / f"van_{name}_reference.safetensors")
    weights = {
        k.removeprefix("weights."): v.float() for k, v in data.items() if k.startswith("weights.")
    }
    model = VAN(**FIXTURE_CONFIG, fast_cpu=fast_cpu).eval()
    result = load_weights(model, weights)
    assert result == LoadResult([], [], {"hf": "huggingface", "original": "original"}[name])
    with torch.no_grad():
        feats = model.forward_features(fixture_input())
        pooled = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
    torch.testing.assert_close(logits, data["logits"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled, data["pooled"], rtol=1e-5, atol=1e-5)
    if "features" in data:
        torch.testing.assert_close(feats, data["features"], rtol=1e-5, atol=1e-5)
    assert data["logits"].std() > 0.1  # the fixture is not degenerate


# --- round trips through every published file format ------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_file(layout, tmp_path):
    src = random_test_van()
    path = save_published(src.state_dict(), layout, tmp_path)
    dst = timm.create_model("test_van", num_classes=5)
    result = load_weights(dst, path)
    assert result.layout == layout.removesuffix("-safetensors")
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(outputs(dst), outputs(src))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_b0_every_key(layout, tmp_path):
    src = timm.create_model("van_b0")
    path = save_published(src.state_dict(), layout, tmp_path)
    dst = timm.create_model("van_b0")
    load_weights(dst, str(path))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("layout", LAYOUTS)
def test_timm_pretrained_file_overlay(layout, tmp_path):
    src = random_test_van(num_classes=1000)
    path = save_published(src.state_dict(), layout, tmp_path)
    model = timm.create_model(
        "test_van", pretrained=True, pretrained_cfg_overlay={"file": str(path)}
    )
    assert torch.equal(outputs(model), outputs(src))
    features = timm.create_model(
        "test_van", pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": str(path)}
    )
    with torch.no_grad():
        torch.testing.assert_close(
            features.eval()(X), src.forward_head(src.forward_features(X), pre_logits=True)
        )


def test_timm_pretrained_new_head_and_features_only(tmp_path):
    src = random_test_van(num_classes=1000)
    path = save_published(src.state_dict(), "original", tmp_path)
    model = timm.create_model(
        "test_van", pretrained=True, num_classes=3, pretrained_cfg_overlay={"file": str(path)}
    )
    assert model.head.fc.out_features == 3
    assert torch.equal(model.stages[1].norm.weight, src.stages[1].norm.weight)
    feats = timm.create_model(
        "test_van", pretrained=True, features_only=True, pretrained_cfg_overlay={"file": str(path)}
    )
    with torch.no_grad():
        _, ref = src.forward_intermediates(X)
        for a, b in zip(feats.eval()(X), ref):
            assert torch.equal(a, b)


def test_timm_pretrained_fine_tuned_head(tmp_path):
    """A 5-class file: declare its classes in the overlay (timm semantics) to keep its head."""
    src = random_test_van(num_classes=5)
    path = save_published(src.state_dict(), "huggingface", tmp_path)
    model = timm.create_model(
        "test_van",
        pretrained=True,
        num_classes=5,
        pretrained_cfg_overlay={"file": str(path), "num_classes": 5},
    )
    assert torch.equal(outputs(model), outputs(src))
    # Undeclared, the 5-class head does not fit the default 1000 classes: the model keeps its own.
    fresh = timm.create_model(
        "test_van", pretrained=True, pretrained_cfg_overlay={"file": str(path)}
    )
    assert fresh.head.fc.out_features == 1000


def test_timm_pretrained_from_hub_converts(monkeypatch):
    """`pretrained=True` fetches the Hugging Face safetensors (offline here: a stand-in)."""
    src = timm.create_model("van_b0")
    calls = []

    def fake_hub(model_id, *args, **kwargs):
        calls.append(model_id)
        return to_layout(src.state_dict(), "huggingface")

    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_hf", fake_hub)
    model = timm.create_model("van_b0", pretrained=True, num_classes=0)
    assert calls == ["Visual-Attention-Network/van-tiny"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, src.state_dict()[k]), k


# --- classifier handling and strictness --------------------------------------------------------


def test_head_dropped_when_classes_differ():
    src = random_test_van(num_classes=1000)
    dst = timm.create_model("test_van", num_classes=7)
    head = dst.head.fc.weight.clone()
    result = load_weights(dst, to_layout(src.state_dict(), "original"))
    assert result.missing_keys == ["head.fc.weight", "head.fc.bias"]
    assert torch.equal(dst.head.fc.weight, head)
    assert torch.equal(dst.stages[0].patch_embed.proj.weight, src.stages[0].patch_embed.proj.weight)


def test_head_dropped_for_feature_extractor():
    src = random_test_van(num_classes=1000)
    dst = timm.create_model("test_van", num_classes=0)
    result = load_weights(dst, to_layout(src.state_dict(), "openmmlab"))
    assert result == LoadResult([], [], "openmmlab")
    with torch.no_grad():
        torch.testing.assert_close(
            dst.eval()(X), src.forward_head(src.forward_features(X), pre_logits=True)
        )


def test_backbone_checkpoint_into_classifier_is_strict():
    src = random_test_van(num_classes=0)  # e.g. a transformers VanModel file: no classifier
    dst = timm.create_model("test_van", num_classes=5)
    with pytest.raises(
        ValueError, match=r"2 missing keys: head\.fc\.weight, head\.fc\.bias\. Pass strict=False"
    ):
        load_weights(dst, to_layout(src.state_dict(), "huggingface"))
    result = load_weights(dst, to_layout(src.state_dict(), "huggingface"), strict=False)
    assert result.missing_keys == ["head.fc.weight", "head.fc.bias"]


def test_missing_and_unexpected_keys_named():
    sd = to_layout(random_test_van().state_dict(), "original")
    del sd["block2.1.attn.spatial_gating_unit.conv_spatial.weight"]
    sd["block2.1.attn.extra.weight"] = torch.zeros(1)
    model = timm.create_model("test_van", num_classes=5)
    msg = (
        r"^`source` \(original layout\): the state dict does not fit the model: "
        r"1 missing key: stages\.1\.blocks\.1\.attn\.lka\.conv_dw_dilated\.weight; "
        r"1 unexpected key: block2\.1\.attn\.extra\.weight\. Pass strict=False"
    )
    with pytest.raises(ValueError, match=msg):
        load_weights(model, sd)
    result = load_weights(model, sd, strict=False)
    assert result.missing_keys == ["stages.1.blocks.1.attn.lka.conv_dw_dilated.weight"]
    assert result.unexpected_keys == ["block2.1.attn.extra.weight"]


def test_missing_num_batches_tracked_tolerated():
    sd = {k: v for k, v in random_test_van().state_dict().items() if "num_batches_tracked" not in k}
    assert load_weights(timm.create_model("test_van", num_classes=5), sd).missing_keys == []


def test_wrong_size_named(tmp_path):
    path = save_published(timm.create_model("van_b0").state_dict(), "original", tmp_path)
    with pytest.raises(
        ValueError,
        match=r"van_tiny_754\.pth\.tar' \(original layout\): the state dict does not fit the model: 224 unexpected keys: .*; 162 shape mismatches: stages\.0\.patch_embed\.proj\.weight \(expected \(8, 3, 7, 7\), got \(32, 3, 7, 7\)\).*different VAN size",
    ):
        load_weights(timm.create_model("test_van", num_classes=0), path)
    with pytest.raises(ValueError, match=r"van_tiny_754\.pth\.tar' \(original layout\): .*different VAN size"):
        timm.create_model("test_van", pretrained=True, pretrained_cfg_overlay={"file": str(path)})


# --- files that are not VAN checkpoints ------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match=r"No weights file at '.*nope\.pth'"):
        load_weights(timm.create_model("test_van"), path)
    with pytest.raises(FileNotFoundError, match=r"No VAN checkpoint file at '.*nope\.pth'"):
        timm.create_model("test_van", pretrained=True, pretrained_cfg_overlay={"file": str(path)})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_truncated_file(layout, tmp_path):
    path = save_published(random_test_van().state_dict(), layout, tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    pattern = rf"Could not read a checkpoint from '.*{path.name}'"
    with pytest.raises(ValueError, match=pattern):
        load_weights(timm.create_model("test_van"), path)
    with pytest.raises(ValueError, match=pattern):
        timm.create_model("test_van", pretrained=True, pretrained_cfg_overlay={"file": str(path)})


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint\n", bytes(range(256)) * 4])
def test_not_a_checkpoint(content, tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"Could not read a checkpoint from '.*weights\.pth'"):
        load_weights(timm.create_model("test_van"), path)


class _Evil:
    def __reduce__(self):
        return (exec, ("import builtins; builtins._van_pwned = True",))


def test_disallowed_pickle_is_not_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "payload": _Evil()}, path)
    with pytest.raises(
        ValueError, match=r"Could not read a checkpoint from '.*evil\.pth' \(UnpicklingError"
    ):
        load_weights(timm.create_model("test_van"), path)
    assert not hasattr(builtins, "_van_pwned")


def test_only_namespace_is_allowed(tmp_path):
    """argparse.Namespace (the original file's `args`) loads; other globals stay blocked."""
    sd = to_layout(random_test_van().state_dict(), "original")
    ok = tmp_path / "ok.pth"
    torch.save({"state_dict": sd, "args": argparse.Namespace(lr=1.0)}, ok)
    assert load_weights(timm.create_model("test_van", num_classes=5), ok).layout == "original"
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": sd, "args": fractions.Fraction(1, 3)}, bad)
    with pytest.raises(ValueError, match=r"(?s)bad\.pth' \(UnpicklingError.*fractions\.Fraction"):
        load_weights(timm.create_model("test_van", num_classes=5), bad)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(
        TypeError, match=r"Expected '.*tensor\.pth' to hold a state dict .*, but got Tensor"
    ):
        load_weights(timm.create_model("test_van"), path)
    with pytest.raises(TypeError, match=r"entry 'epoch' is int"):
        load_weights(timm.create_model("test_van"), {"epoch": 3})


def test_unknown_layout_named(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(1), "fc.bias": torch.zeros(1)}, path)
    with pytest.raises(
        ValueError,
        match=r"resnet\.safetensors'?: Expected a state dict in one of the layouts .*got keys: conv1\.weight, fc\.bias",
    ):
        load_weights(timm.create_model("test_van"), path)


def test_safetensors_detected_by_content(tmp_path):
    src = random_test_van()
    path = save_published(src.state_dict(), "huggingface-safetensors", tmp_path)
    renamed = path.rename(tmp_path / "weights.bin")
    dst = timm.create_model("test_van", num_classes=5)
    load_weights(dst, renamed)
    assert torch.equal(outputs(dst), outputs(src))


# --- convert_van_state_dict ----------------------------------------------------------------


@pytest.mark.parametrize("layout", ["original", "openmmlab", "huggingface"])
def test_convert_inverts_each_layout(layout):
    sd = timm.create_model("van_b0", device="meta").state_dict()
    converted = convert_van_state_dict(to_layout(sd, layout))
    assert list(converted) == list(sd)  # same keys, same order, HF's unused layernorm dropped
    assert all(converted[k] is sd[k] for k in sd)  # renamed, not copied


def test_convert_explicit_layout_and_errors():
    sd = to_layout(random_test_van().state_dict(), "original")
    assert list(convert_van_state_dict(sd, layout="original")) == list(
        random_test_van().state_dict()
    )
    with pytest.raises(
        ValueError,
        match=r"Expected `layout` to be one of \('imbalml', 'original', 'openmmlab', 'huggingface'\), but got 'timm'",
    ):
        convert_van_state_dict(sd, layout="timm")
    with pytest.raises(ValueError, match=r"got keys: \(none\)"):
        convert_van_state_dict({})


def test_convert_unwraps_and_strips_prefixes():
    sd = random_test_van().state_dict()
    original = to_layout(sd, "original")
    ddp = {f"module.{k}": v for k, v in original.items()}
    for wrapped in ({"state_dict": ddp, "epoch": 1}, {"model": original}, {"state_dict_ema": ddp}):
        assert list(convert_van_state_dict(wrapped)) == list(sd)
    bare_mm = {k.removeprefix("backbone."): v for k, v in to_layout(sd, "openmmlab").items()}
    assert list(convert_van_state_dict(bare_mm)) == list(sd)
    bare_hf = {k.removeprefix("van."): v for k, v in to_layout(sd, "huggingface").items()}
    assert list(convert_van_state_dict(bare_hf)) == list(sd)
    assert convert_van_state_dict(sd, layout="imbalml") == dict(sd)


def test_convert_keeps_unknown_keys():
    sd = to_layout(random_test_van().state_dict(), "huggingface")
    sd["van.encoder.stages.0.layers.0.something.weight"] = torch.zeros(1)
    assert "van.encoder.stages.0.layers.0.something.weight" in convert_van_state_dict(sd)


def test_loading_is_weights_only(tmp_path, monkeypatch):
    """Loading never falls back to full unpickling."""
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = save_published(random_test_van().state_dict(), "original", tmp_path)
    load_weights(timm.create_model("test_van", num_classes=5), path)
    assert calls == [True]
