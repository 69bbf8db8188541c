"""The fashion example's fine-tune options: weight average, refit, evaluation sizes, per-group tau, bf16 check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _helpers.fashion_example import import_example as _import
from _helpers.tiny_runs import TINY, make_tiny_dataset
from PIL import Image
from torch import nn

from imbalml import AttributeGroups, class_priors, label_counts
from imbalml.data import AttributeImageDataset

train = _import("train")
predict = _import("predict")
checkpoint = _import("checkpoint")
config_mod = _import("config")
builders = _import("builders")
engine = _import("engine")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("fashion") / "data")


def run(root: Path, out: Path, *extra: str) -> dict:
    return train.main(train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(out), *TINY, *extra]))


def test_weight_average_follows_timms_warmed_up_decay_in_float64() -> None:
    torch.manual_seed(0)
    source = nn.Linear(3, 2)
    average = engine.WeightAverage(source, decay=0.5)
    expected = source.weight.detach().double().clone()
    for step in range(1, 6):
        with torch.no_grad():
            source.weight.add_(torch.randn(2, 3))
        average.update()
        n = step - 1  # timm: the first update copies, then 1 - (1 + n)^-3/4, capped at the decay
        decay = 0.0 if n == 0 else min(1 - (1 + n) ** -0.75, 0.5)
        expected = decay * expected + (1 - decay) * source.weight.detach().double()
        torch.testing.assert_close(average.module.weight.detach().double(), expected, rtol=1e-6, atol=1e-6)
    assert average.steps == 5
    assert not average.module.training


def test_ema_run_keeps_the_average_and_resumes_exactly(tiny_root: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    straight = tmp_path / "straight"
    run(tiny_root, straight, "--epochs", "2", "--ema-decay", "0.9")
    last = checkpoint.load_checkpoint(straight / "last.pt")
    assert last["ema_steps"] == 2 * 4  # 64 images, batches of 16
    differs = [k for k, v in last["model"].items() if v.is_floating_point()
               and not torch.equal(v, last["train_model"][k])]
    assert differs, "the averaged weights equal the trained ones"
    # the checkpoint's "model" (the average) is what was scored: predict.py reproduces the report
    args = predict.get_args_parser().parse_args(
        [str(straight / "best_score.pt"), "--data-root", str(tiny_root), "--split", "val",
         "--out", str(tmp_path / "p.txt"), "--workers", "0"])
    best = checkpoint.load_checkpoint(straight / "best_score.pt")
    assert predict.main(args)["mean_class_accuracy"] == pytest.approx(best["best_score"])

    split = tmp_path / "split"
    real = train.train_one_epoch

    def crash_in_second_epoch(*args, **kwargs):
        if args[6] == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_root, split, "--epochs", "2", "--ema-decay", "0.9")
    monkeypatch.setattr(train, "train_one_epoch", real)
    run(tiny_root, split, "--epochs", "2", "--ema-decay", "0.9", "--resume", str(split / "last.pt"))
    resumed = checkpoint.load_checkpoint(split / "last.pt")
    for key in ("model", "train_model"):
        for name, value in last[key].items():
            assert torch.equal(value, resumed[key][name]), (key, name)


def test_resume_refuses_another_ema_decay(tiny_root: Path, tmp_path: Path) -> None:
    run(tiny_root, tmp_path, "--epochs", "1")
    with pytest.raises(ValueError, match="ema_decay=0.0, but this run has ema_decay=0.9"):
        run(tiny_root, tmp_path / "b", "--epochs", "2", "--ema-decay", "0.9", "--resume", str(tmp_path / "last.pt"))


def test_refit_trains_on_every_labelled_image_for_the_best_epoch_count(tiny_root: Path, tmp_path: Path) -> None:
    summary = run(tiny_root, tmp_path, "--epochs", "2", "--holdout", "0.25", "--refit", "true",
                  "--posthoc", "tune_groups", "--ema-decay", "0.9")
    selection = checkpoint.load_checkpoint(tmp_path / "best_score_selection.pt")
    refit = checkpoint.load_checkpoint(tmp_path / "best_score.pt")
    assert "refit" not in selection and selection["best_score_epoch"] in (1, 2)
    assert refit["refit"]["epochs"] == selection["best_score_epoch"] == summary["refit"]["epochs"]
    assert refit["refit"]["train_images"] == 64 == summary["refit"]["train_images"]  # the 16 selected too
    assert len(refit["refit"]["history"]) == refit["refit"]["epochs"]
    groups = AttributeGroups.from_dict(refit["groups"])
    counts = label_counts(AttributeImageDataset(tiny_root, "train", groups=groups).targets, groups)
    tau = selection["posthoc_tau"]  # one per group, each -tau_g * log(prior) on its attributes
    assert len(tau) == 6 and all(0 <= t <= 2 for t in tau)
    priors = class_priors(counts, groups, smoothing=0.5)
    expected = torch.cat([-t * torch.log(p[0]) for t, p in zip(tau, groups.split(priors[None]))])
    torch.testing.assert_close(refit["model"]["logit_offset"], expected.float())
    assert refit["posthoc_tau"] == selection["posthoc_tau"]
    assert any(not torch.equal(v, selection["model"][k]) for k, v in refit["model"].items())
    assert len((tmp_path / "prediction.txt").read_text().splitlines()) == 16
    args = predict.get_args_parser().parse_args(
        [str(tmp_path / "best_score.pt"), "--data-root", str(tiny_root), "--split", "test",
         "--out", str(tmp_path / "again.txt"), "--workers", "0"])
    predict.main(args)
    assert (tmp_path / "again.txt").read_text() == (tmp_path / "prediction.txt").read_text()


def test_refit_needs_a_selection_split(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--refit true: expected checkpoints selected on a selection split"):
        run(tiny_root, tmp_path, "--epochs", "1", "--refit", "true")


@pytest.mark.parametrize("protocol", ["finetune", "frozen"])
def test_selection_run_false_gives_the_full_runs_refit_in_its_time_alone(tiny_root: Path, tmp_path: Path,
                                                                          protocol: str) -> None:
    options = ("--holdout", "0.25", "--refit", "true", "--ema-decay", "0.9", "--protocol", protocol,
               "--cache-dir", str(tmp_path / "cache"))
    run(tiny_root, tmp_path / "full", "--epochs", "3", "--posthoc", "tune", *options)
    full = checkpoint.load_checkpoint(tmp_path / "full" / "best_score.pt")
    epochs, tau = full["refit"]["epochs"], full["posthoc_tau"]
    summary = run(tiny_root, tmp_path / "alone", "--epochs", str(epochs), "--selection-run", "false",
                  "--posthoc", "fixed", "--posthoc-tau", str(tau), *options)
    alone = checkpoint.load_checkpoint(tmp_path / "alone" / "best_score.pt")
    assert summary["refit"]["epochs"] == epochs and summary["refit"]["posthoc_tau"] == tau
    assert alone["refit"]["epochs"] == epochs and alone["refit"]["train_images"] == 64
    assert alone["selection"] == full["selection"] and alone["posthoc_tau"] == tau
    assert full["model"].keys() == alone["model"].keys()
    for name, value in full["model"].items():  # the same weights, bit for bit
        assert torch.equal(value, alone["model"][name]), name
    assert "best_score" not in alone  # nothing was scored
    assert not (tmp_path / "alone" / "best_score_selection.pt").exists()
    assert not (tmp_path / "alone" / "history.csv").exists()
    assert (tmp_path / "alone" / "selection_split.json").read_text() == (
        tmp_path / "full" / "selection_split.json").read_text()
    assert (tmp_path / "alone" / "prediction.txt").read_text() == (tmp_path / "full" / "prediction.txt").read_text()
    args = predict.get_args_parser().parse_args(
        [str(tmp_path / "alone" / "best_score.pt"), "--data-root", str(tiny_root), "--split", "selection",
         "--out", str(tmp_path / "s.txt"), "--workers", "0"])
    with pytest.raises(ValueError, match=r"--split selection: expected a checkpoint that did not train on its "
                       r"selection split, but .*best_score.pt is a refit on all 64 labelled training images"):
        predict.main(args)
    assert not (tmp_path / "s.txt").exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"posthoc": "fixed"}, r"expected `posthoc_tau` exactly with `posthoc: fixed`.*posthoc_tau None"),
    ({"posthoc": "tune", "posthoc_tau": 0.5}, r"expected `posthoc_tau` exactly with `posthoc: fixed`.*'tune'"),
    ({"posthoc": "fixed", "posthoc_tau": -0.5}, r"expected `posthoc_tau` \(--posthoc-tau\) in \[0.0, inf\)"),
    ({"selection_run": False}, r"`selection_run: false` trains only the refit; expected `refit: true`"),
    ({"selection_run": False, "refit": True, "posthoc": "tune"},
     r"scores nothing to tune tau on; expected `posthoc` off or fixed.*'tune'"),
    ({"selection_run": False, "refit": True, "resume": "last.pt"}, r"cannot resume; expected no `resume`"),
])
def test_posthoc_tau_and_selection_run_are_checked_before_a_run(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_mod.check_config(dict(config_mod.DEFAULTS, **changes), "src.yaml")


def test_posthoc_fixed_applies_the_given_tau_with_the_training_priors(tiny_root: Path, tmp_path: Path) -> None:
    summary = run(tiny_root, tmp_path, "--epochs", "1", "--holdout", "0.25", "--posthoc", "fixed",
                  "--posthoc-tau", "0.75")
    best = checkpoint.load_checkpoint(tmp_path / "best_score.pt")
    groups = AttributeGroups.from_dict(best["groups"])
    train_part = AttributeImageDataset(tiny_root, "train", groups=groups).targets[best["selection"]["train"]]
    priors = class_priors(label_counts(train_part, groups), groups, smoothing=0.5)
    torch.testing.assert_close(best["model"]["logit_offset"], (-0.75 * torch.log(priors)).float())
    assert best["posthoc_tau"] == 0.75 == summary["posthoc_tau"]


def test_selection_run_false_needs_a_selection_split(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--selection-run false: expected checkpoints selected on a selection split"):
        run(tiny_root, tmp_path, "--epochs", "1", "--refit", "true", "--selection-run", "false")


def test_evaluation_sizes(tiny_root: Path) -> None:
    config = dict(config_mod.DEFAULTS, resize_size=36, image_size=32, resize_mode="squash",
                  train_crop="random", eval_resize_size=40, eval_image_size=40)
    image = Image.new("RGB", (50, 70))
    assert builders.build_transforms(config, train=True)(image).shape == (3, 32, 32)
    assert builders.build_transforms(config, train=False)(image).shape == (3, 40, 40)
    plain = dict(config, eval_resize_size=None, eval_image_size=None)
    assert builders.build_transforms(plain, train=False)(image).shape == (3, 32, 32)
    with pytest.raises(ValueError, match=r"evaluation resize \(40.*but got a crop of 44"):
        config_mod.check_config(dict(config, eval_image_size=44), "test")
    with pytest.raises(ValueError, match="eval_resize_size` and `eval_image_size` need images"):
        config_mod.check_config(dict(config, protocol="frozen", tta_flip=False), "test")


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_native_bfloat16_warns(native: bool, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    runtime = _import("runtime")
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    config = dict(config_mod.DEFAULTS, device="cpu", amp="bf16")
    with caplog.at_level("WARNING", logger="fashion"):
        assert runtime.Runtime(config).amp_dtype == torch.bfloat16
    warned = [r for r in caplog.records if "without native bfloat16" in r.getMessage()]
    assert len(warned) == (0 if native else 1)
