"""Tests for imbalml.models.VAN and its timm registration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import timm
import torch
import torch.nn.functional as F
from _helpers.van_layouts import randomize_
from hypothesis import given, settings
from hypothesis import strategies as st
from timm.data import resolve_data_config
from timm.optim import create_optimizer_v2

import imbalml.models  # noqa: F401  (registers the models)
from imbalml.models import VAN

SIZES = {  # name: (widths, depths), from VAN-Classification models/van.py
    "van_b0": ((32, 64, 160, 256), (3, 3, 5, 2)),
    "van_b1": ((64, 128, 320, 512), (2, 2, 4, 2)),
    "van_b2": ((64, 128, 320, 512), (3, 3, 12, 3)),
    "van_b3": ((64, 128, 320, 512), (3, 5, 27, 3)),
}


def reference_param_count(widths, depths, ratios=(8, 8, 4, 4), in_chans=3) -> int:
    """Backbone parameters from the layer list (research notes A4), independent of the code."""
    total, prev = 0, in_chans
    for i, (c, d, r) in enumerate(zip(widths, depths, ratios)):
        k = 7 if i == 0 else 3
        h = c * r
        total += prev * c * k * k + c + 2 * c  # patch-embed conv + BatchNorm
        block = 3 * c * c + 79 * c + 2 * c + 2 * c + 2 * c * h + 11 * h + c + 2 * c
        total += d * block + 2 * c  # blocks + stage LayerNorm
        prev = c
    return total


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(SIZES))
def test_parameter_counts(name):
    widths, depths = SIZES[name]
    backbone = timm.create_model(name, num_classes=0, device="meta")
    classifier = timm.create_model(name, device="meta")
    assert n_params(backbone) == reference_param_count(widths, depths)
    assert n_params(classifier) == n_params(backbone) + widths[-1] * 1000 + 1000


def test_published_sizes():
    # The numbers every source quotes: 3,848,800 / 4.11M (B0), 13.86M, 26.58M, 44.77M with head.
    assert n_params(timm.create_model("van_b0", num_classes=0, device="meta")) == 3_848_800
    assert n_params(timm.create_model("van_b0", device="meta")) == 4_105_800
    for name, millions in [("van_b1", 13.86), ("van_b2", 26.58), ("van_b3", 44.77)]:
        assert round(n_params(timm.create_model(name, device="meta")) / 1e6, 2) == millions
    # 312 parameter tensors + 90 BatchNorm buffers
    assert len(timm.create_model("van_b0", device="meta").state_dict()) == 402


def test_registered_with_timm():
    assert set(timm.list_models("van_*")) == set(SIZES)
    assert "test_van" in timm.list_models("test_van")
    assert timm.list_models("van_b0", pretrained=True) == ["van_b0.in1k"]


def _registered_after(code: str) -> list[str]:
    """The VAN names timm knows after running ``code`` in a fresh interpreter."""
    code += "\nimport json, timm\nprint(json.dumps(timm.list_models(['van_*', 'test_van'])))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


ALL_VAN = sorted([*SIZES, "test_van"])


@pytest.mark.parametrize(
    "code", ["import imbalml.models", "from imbalml.models import load_weights",
             "import timm, imbalml.models"],
)  # fmt: skip
def test_importing_imbalml_models_registers_with_timm(code):
    """As timm's own model files do: ``@register_model`` runs when the module is imported."""
    assert _registered_after(code) == ALL_VAN


def test_import_imbalml_alone_registers_nothing():
    """``import imbalml`` neither imports timm nor hooks its import: registration is explicit."""
    assert _registered_after("import imbalml, timm") == []
    assert _registered_after("import timm, imbalml") == []


def test_pretrained_cfg():
    model = timm.create_model("van_b0", num_classes=0, device="meta")
    cfg = model.pretrained_cfg
    assert cfg["mean"] == cfg["std"] == (0.5, 0.5, 0.5)
    assert cfg["crop_pct"] == 0.9 and cfg["interpolation"] == "bicubic"
    assert cfg["input_size"] == (3, 224, 224)
    assert cfg["hf_hub_id"] == "Visual-Attention-Network/van-tiny"
    assert any("van_tiny_754.pth.tar" in n for n in cfg["notes"])
    assert any("385941af" in n for n in cfg["notes"])
    assert model.default_cfg is cfg
    data = resolve_data_config({}, model=model)
    assert data["crop_pct"] == 0.9 and data["mean"] == (0.5, 0.5, 0.5)


def test_b0_feature_extractor_shapes():
    model = timm.create_model("van_b0", num_classes=0).eval()
    assert model.num_features == 256
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
    assert feats.shape == (2, 256, 2, 2)
    assert out.shape == (2, 256)
    torch.testing.assert_close(out, feats.mean((2, 3)))


def test_forward_head_pre_logits():
    model = randomize_(timm.create_model("test_van", num_classes=5), 0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
    torch.testing.assert_close(pooled, feats.mean((2, 3)))
    torch.testing.assert_close(logits, F.linear(pooled, model.head.fc.weight, model.head.fc.bias))
    torch.testing.assert_close(model(x), logits)


def test_reset_classifier():
    model = timm.create_model("test_van")
    x = torch.randn(2, 3, 64, 64)
    assert model(x).shape == (2, 1000)
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.get_classifier().out_features == 7
    assert model(x).shape == (2, 7)
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), torch.nn.Identity)
    assert model(x).shape == (2, 32)
    model.reset_classifier(0, global_pool="")
    assert model(x).shape == (2, 32, 2, 2)
    model.reset_classifier(3, global_pool="avg")
    assert model(x).shape == (2, 3)
    assert model.head.fc.weight.std().item() < 0.05  # the VAN init (trunc normal, std 0.02)
    with pytest.raises(
        ValueError, match=r"Expected `global_pool` to be 'avg' or '', but got 'max'"
    ):
        model.reset_classifier(3, global_pool="max")
    with pytest.raises(ValueError, match=r"Expected `num_classes` >= 0, but got -1"):
        model.reset_classifier(-1)


def test_features_only():
    model = timm.create_model("test_van", features_only=True)
    assert model.feature_info.channels() == [8, 16, 24, 32]
    assert model.feature_info.reduction() == [4, 8, 16, 32]
    feats = model(torch.randn(2, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [
        (2, 8, 16, 16),
        (2, 16, 8, 8),
        (2, 24, 4, 4),
        (2, 32, 2, 2),
    ]
    picked = timm.create_model("test_van", features_only=True, out_indices=(1, 3))
    assert [f.shape[1] for f in picked(torch.randn(1, 3, 64, 64))] == [16, 32]


def test_forward_intermediates_match_features_only():
    model = randomize_(timm.create_model("test_van", num_classes=0), 0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        final, inter = model.forward_intermediates(x)
        only = model.forward_intermediates(x, indices=[0, 2], intermediates_only=True)
        early = model.forward_intermediates(x, indices=[1], stop_early=True)
    assert [t.shape[1] for t in inter] == [8, 16, 24, 32]
    torch.testing.assert_close(final, model.forward_features(x))
    torch.testing.assert_close(only[1], inter[2])
    assert early[0].shape == inter[1].shape
    getter = timm.create_model("test_van", features_only=True, feature_cls="getter")
    getter.model.load_state_dict(model.state_dict())
    with torch.no_grad():
        for a, b in zip(getter.eval()(x), inter):
            torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"Expected `output_fmt` 'NCHW', but got 'NHWC'"):
        model.forward_intermediates(x, output_fmt="NHWC")


def test_prune_intermediate_layers():
    model = timm.create_model("test_van")
    assert model.prune_intermediate_layers([1]) == [1]
    assert len(model.stages) == 2 and model.num_features == 16 and model.num_classes == 0
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 16, 8, 8)  # timm: pooling removed too


@pytest.mark.parametrize("train", [False, True])
def test_fast_cpu_path_equals_plain_path(train):
    fast = randomize_(timm.create_model("test_van", num_classes=5), 0).train(train)
    plain = timm.create_model("test_van", num_classes=5, fast_cpu=False).train(train)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(3, 3, 50, 47)  # sizes not divisible by the dilation
    out_fast, out_plain = fast(x), plain(x)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    out_fast.square().sum().backward()
    out_plain.square().sum().backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    k=st.sampled_from([3, 5, 7]),
    d=st.integers(1, 4),
    c=st.integers(1, 5),
    channels_last=st.booleans(),
)
def test_polyphase_dilated_conv(h, w, k, d, c, channels_last):
    from imbalml.models.van import DilatedDepthwiseConv2d

    conv = DilatedDepthwiseConv2d(c, k, d)
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    conv = conv.double()
    x.requires_grad_(True)
    out = conv(x)
    ref = F.conv2d(x, conv.weight, conv.bias, padding=d * (k // 2), dilation=d, groups=c)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    got = torch.autograd.grad(out, (x, conv.weight, conv.bias), g)
    want = torch.autograd.grad(ref, (x, conv.weight, conv.bias), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_channels_last_model():
    model = randomize_(timm.create_model("test_van", num_classes=5), 0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_drop_path_rates():
    model = timm.create_model("van_b0", drop_path_rate=0.1, device="meta")
    rates = [b.drop_prob for s in model.stages for b in s.blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.1, 13).tolist())
    assert isinstance(model.stages[0].blocks[0].drop_path1, torch.nn.Identity)  # rate 0
    assert model.stages[3].blocks[1].drop_path2.drop_prob == pytest.approx(0.1)


def test_drop_path_is_random_in_training_only():
    model = randomize_(timm.create_model("test_van", drop_path_rate=0.5), 0)
    x = torch.randn(4, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        torch.manual_seed(0)
        model.train()
        a = model(x)
        torch.manual_seed(1)
        b = model(x)
    assert not torch.allclose(a, b)


def test_grad_checkpointing_same_gradients():
    torch.manual_seed(0)
    ref = randomize_(timm.create_model("test_van", num_classes=5), 0)
    ckpt = timm.create_model("test_van", num_classes=5)
    ckpt.load_state_dict(ref.state_dict())
    ckpt.set_grad_checkpointing(True)
    assert all(s.grad_checkpointing for s in ckpt.stages)
    x = torch.randn(2, 3, 64, 64)
    ref(x).square().sum().backward()
    ckpt(x).square().sum().backward()
    for a, b in zip(ref.parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad)


def test_layer_decay_param_groups():
    model = timm.create_model("test_van")
    opt = create_optimizer_v2(model, "adamw", lr=1e-3, layer_decay=0.7)
    assert len(opt.param_groups) > 4
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_hyperparameter_errors():
    with pytest.raises(ValueError, match=r"same non-zero length, but got lengths 2, 3, 3"):
        VAN(embed_dims=(8, 16), depths=(1, 1, 1), mlp_ratios=(4, 4, 4))
    with pytest.raises(ValueError, match=r"Expected `depths\[1\]` >= 1, but got 0"):
        VAN(embed_dims=(8, 16), depths=(1, 0), mlp_ratios=(4, 4))
    with pytest.raises(ValueError, match=r"Expected `drop_path_rate` in \[0, 1\), but got 1"):
        VAN(drop_path_rate=1.0)
    with pytest.raises(
        ValueError, match=r"Expected `global_pool` to be 'avg' or '', but got 'max'"
    ):
        VAN(global_pool="max")
    with pytest.raises(TypeError, match=r"Expected `in_chans` to be an int, but got float"):
        VAN(in_chans=3.0)


def test_in_chans():
    model = timm.create_model("test_van", in_chans=1, num_classes=0)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 32)


def test_export_matches_eager():
    model = randomize_(timm.create_model("test_van", num_classes=5), 0).eval()
    x = torch.randn(2, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_matches_eager():
    model = randomize_(timm.create_model("test_van", num_classes=5), 0).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.slow
def test_compile_fullgraph_matches_eager():
    model = randomize_(timm.create_model("test_van", num_classes=5), 0).eval()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
