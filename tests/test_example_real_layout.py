"""The example on a copy laid out like the real course data: headers, no validation labels.

Covers the selection split carved out of ``train`` (stratified, deterministic, stored with the run,
reused by ``--resume`` and ``predict.py``), ``predict.py --split val`` on unlabelled images, the
frozen-backbone protocol and its feature cache (reused; any input change makes a new key), and the
post-hoc logit adjustment carried by the checkpoint. Tiny synthetic fixtures only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from _helpers.fashion_example import import_example as _import
from _helpers.tiny_runs import TINY, make_tiny_dataset

from imbalml import label_counts
from imbalml.data import read_split

train = _import("train")
predict = _import("predict")
checkpoint = _import("checkpoint")
features = _import("features")
selection = _import("selection")
config_mod = _import("config")


def _add_headers(root: Path) -> None:
    split = root / "split"
    for name, header in (("train.txt", "picture_filename"), ("val.txt", "picture_filename"),
                         ("test.txt", "picture_filename"),
                         ("train_attr.txt", " ".join(f"category{i}" for i in range(1, 7)))):
        path = split / name
        path.write_bytes(f"{header}\r\n".encode() + path.read_bytes().replace(b"\n", b"\r\n"))


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic set as the shared copy has it: header lines, CRLF, no val labels."""
    root = make_tiny_dataset(tmp_path_factory.mktemp("real") / "data", num_train=80, num_val=24, num_test=8)
    (root / "split" / "val_attr.txt").unlink()
    _add_headers(root)
    return root


def run(root: Path, out: Path, *extra: str) -> dict:
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(out), *TINY, "--epochs", "2", *extra])
    return train.main(args)


def predict_main(*argv: str) -> dict:
    return predict.main(predict.get_args_parser().parse_args([*argv, "--workers", "0"]))


@pytest.fixture(scope="module")
def selection_run(real_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sel")
    return out, run(real_root, out)


def test_selection_split_is_carved_stored_and_logged(selection_run: tuple[Path, dict], real_root: Path) -> None:
    out, summary = selection_run
    record = json.loads((out / "selection_split.json").read_text())
    paths, targets = read_split(real_root, "train", _import("pipeline").read_groups(real_root))
    assert len(record["select"]) == 16 and len(record["train"]) == 64  # 20% of 80
    assert sorted(record["select"] + record["train"]) == list(range(80))  # disjoint, complete
    assert record["select_paths"] == [paths[i] for i in record["select"]]
    state = checkpoint.load_checkpoint(out / "best_score.pt")
    assert state["selection"]["select"] == record["select"]
    report = json.loads((out / "val_report.json").read_text())
    assert report["split"] == "selection" and report["num_images"] == 16
    assert summary["best_score"] == pytest.approx(report["mean_class_accuracy"])


def test_selection_split_is_stratified_and_deterministic(real_root: Path) -> None:
    groups = _import("pipeline").read_groups(real_root)
    _, targets = read_split(real_root, "train", groups)
    a = selection.carve(targets, groups, 0.25, seed=3)
    b = selection.carve(targets, groups, 0.25, seed=3)
    assert torch.equal(a.select, b.select) and torch.equal(a.train, b.train)
    assert not torch.equal(a.select, selection.carve(targets, groups, 0.25, seed=4).select)
    whole, held = label_counts(targets, groups).positives, label_counts(targets[a.select], groups).positives
    # every attribute seen at least 4 times has a share on the selection side, near its quarter
    for n, h in zip(whole.tolist(), held.tolist()):
        if n >= 4:
            assert h >= 1 and abs(h - n / 4) <= max(2, 0.35 * n), (n, h)


def test_predict_val_writes_one_line_per_image_in_order(selection_run: tuple[Path, dict], real_root: Path,
                                                        tmp_path: Path) -> None:
    out, _ = selection_run
    result = predict_main(str(out / "best_score.pt"), "--data-root", str(real_root), "--split", "val",
                          "--out", str(tmp_path / "new" / "folder" / "val.txt"))  # folders made
    lines = (tmp_path / "new" / "folder" / "val.txt").read_text().splitlines()
    assert result["num_images"] == 24 and len(lines) == 24
    assert "mean_class_accuracy" not in result  # no labels, no score
    full = torch.tensor([[int(v) for v in line.split()] for line in lines])
    assert full.shape == (24, 6)
    # the same images one by one give the same lines: the order is val.txt's
    model_preds = _predict_images(out / "best_score.pt", real_root, "val")
    assert torch.equal(full, model_preds)


def _predict_images(ckpt: Path, root: Path, split: str) -> torch.Tensor:
    builders = _import("builders")
    state = checkpoint.load_checkpoint(ckpt)
    from imbalml import AttributeGroups
    from imbalml.data import AttributeImageDataset

    groups = AttributeGroups.from_dict(state["groups"])
    config = dict(state["config"], pretrained="none")
    model = builders.build_model(config, groups)
    model.load_state_dict(state["model"])
    model.eval()
    ds = AttributeImageDataset(root, split, groups=groups, transform=builders.build_transforms(config, train=False))
    with torch.no_grad():
        return torch.cat([groups.argmax(model(ds[i][0][None])) for i in range(len(ds))])


def test_predict_selection_reproduces_the_run_report(selection_run: tuple[Path, dict], real_root: Path,
                                                     tmp_path: Path) -> None:
    out, _ = selection_run
    result = predict_main(str(out / "best_score.pt"), "--data-root", str(real_root), "--split", "selection",
                          "--out", str(tmp_path / "sel.txt"))
    report = json.loads((out / "val_report.json").read_text())
    assert result["num_images"] == 16
    assert result["mean_class_accuracy"] == pytest.approx(report["mean_class_accuracy"])


def test_resume_reuses_the_selection_split_and_refuses_another(selection_run: tuple[Path, dict],
                                                               real_root: Path, tmp_path: Path) -> None:
    out, _ = selection_run
    shutil.copytree(out, tmp_path / "c")
    with pytest.raises(ValueError, match=r"selected on holdout=0\.2 \(holdout_seed 0\), but this run asks "
                                         r"for holdout=0\.3"):
        run(real_root, tmp_path / "b", "--epochs", "3", "--resume", str(tmp_path / "c" / "last.pt"),
            "--holdout", "0.3")
    run(real_root, tmp_path / "c", "--epochs", "3", "--resume", str(tmp_path / "c" / "last.pt"))
    state = checkpoint.load_checkpoint(tmp_path / "c" / "last.pt")
    first = checkpoint.load_checkpoint(out / "last.pt")
    assert state["epoch"] == 3 and state["selection"] == first["selection"]


def test_holdout_option_carves_even_when_val_is_labelled(tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "data", num_train=40, num_val=8, num_test=4)
    run(root, tmp_path / "out", "--epochs", "1", "--holdout", "0.25", "--predict-test", "false")
    report = json.loads((tmp_path / "out" / "val_report.json").read_text())
    assert report["split"] == "selection" and report["num_images"] == 10
    assert not (tmp_path / "out" / "prediction.txt").exists()


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1"])
def test_holdout_must_be_a_fraction(value: str, tmp_path: Path) -> None:
    args = train.get_args_parser().parse_args(["--holdout", value])
    with pytest.raises(ValueError, match=rf"expected `holdout` \(--holdout\) in \(0\.0, 1\.0\), but got {value}"):
        config_mod.resolve_config(args)


# ------------------------------------------------------------------------------ frozen protocol
FROZEN = ["--protocol", "frozen", "--feature-views", "1", "--epochs", "3"]


@pytest.fixture(autouse=True)
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user feature cache of a run without --cache-dir: a temporary folder, never ~/.cache."""
    monkeypatch.setenv("IMBALML_CACHE", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "features"


@pytest.fixture(scope="module")
def frozen_run(real_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("frozen")
    return out, run(real_root, out, *FROZEN, "--posthoc", "tune", "--cache-dir", str(out / "feature-cache"))


def test_frozen_run_trains_the_head_only_and_predicts_from_images(frozen_run: tuple[Path, dict],
                                                                  real_root: Path, tmp_path: Path) -> None:
    out, summary = frozen_run
    caches = list((out / "feature-cache").glob("features-*.pt"))
    assert len(caches) == 1
    cached = torch.load(caches[0], weights_only=True)
    assert cached["centre"].shape[0] == 80 and cached["augmented"].shape[:2] == (1, 64)
    first = checkpoint.load_checkpoint(out / "last.pt")
    # the backbone is the one the run started with (seeded init), only the head moved
    torch.manual_seed(first["config"]["seed"])
    start = _import("builders").build_model(dict(first["config"], pretrained="none"),
                                            _import("pipeline").read_groups(real_root))
    for key, value in start.state_dict().items():
        if key.startswith("backbone."):
            assert torch.equal(value, first["model"][key]), key
    assert any(not torch.equal(v, first["model"][k]) for k, v in start.state_dict().items()
               if k.startswith("head."))
    # predict.py works unchanged: images through backbone + head (+ the post-hoc offset)
    result = predict_main(str(out / "best_score.pt"), "--data-root", str(real_root), "--split", "selection",
                          "--out", str(tmp_path / "p.txt"))
    report = json.loads((out / "val_report.json").read_text())
    assert result["mean_class_accuracy"] == pytest.approx(report["mean_class_accuracy"])
    assert summary["final_score"] == pytest.approx(report["mean_class_accuracy"])


def test_posthoc_tau_is_chosen_and_carried_by_the_checkpoint(frozen_run: tuple[Path, dict], real_root: Path) -> None:
    out, summary = frozen_run
    best = checkpoint.load_checkpoint(out / "best_score.pt")
    tau = best["posthoc_tau"]
    assert tau == summary["posthoc_tau"] and tau in _import("posthoc").TAUS
    from imbalml import class_priors

    groups = _import("pipeline").read_groups(real_root)
    counts = label_counts(_train_targets(out, real_root), groups)
    expected = -tau * torch.log(class_priors(counts, groups, smoothing=0.5))
    assert torch.allclose(best["model"]["logit_offset"], expected)
    # the adjusted score is at least the unadjusted one on the split tau was chosen on
    assert summary["final_score"] >= summary["best_score"] - 1e-12


def _train_targets(out: Path, root: Path) -> torch.Tensor:
    record = json.loads((out / "selection_split.json").read_text())
    _, targets = read_split(root, "train", _import("pipeline").read_groups(root))
    return targets[torch.tensor(record["train"])]


def test_second_frozen_run_reuses_the_cache(frozen_run: tuple[Path, dict], real_root: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = frozen_run

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were computed again")

    monkeypatch.setattr(features, "_extract", no_extraction)
    run(real_root, tmp_path / "again", *FROZEN, "--cache-dir", str(out / "feature-cache"),
        "--predict-test", "false")
    assert "feature cache hit: " + str(out / "feature-cache") in capsys.readouterr().err


def _key(config: dict, model, root: Path, augmented: list[int]) -> str:
    from imbalml.data import AttributeImageDataset

    ds = AttributeImageDataset(root, "train", groups=_import("pipeline").read_groups(root))
    return features.key_digest(features.cache_key(config, features.weights_digest(model.backbone),
                                                  features.data_digest(ds), augmented))


@pytest.mark.parametrize(("key", "value"), [
    ("backbone", "other"), ("image_size", 28), ("resize_size", 40), ("resize_mode", "squash"),
    ("normalization", "van"), ("augment", False), ("train_crop", "random"), ("feature_views", 3),
    ("feature_seed", 1)])
def test_feature_cache_key_changes_with_every_input(key: str, value, tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "data", num_train=8, num_val=4, num_test=2)
    config = config_mod.resolve_config(train.get_args_parser().parse_args(TINY))
    model = _import("builders").build_model(config, _import("pipeline").read_groups(root))
    base = _key(config, model, root, [0, 1])
    assert _key(dict(config), model, root, [0, 1]) == base  # deterministic
    assert _key(dict(config, **{key: value}), model, root, [0, 1]) != base


def test_feature_cache_key_changes_with_weights_images_and_views(tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "data", num_train=8, num_val=4, num_test=2)
    config = config_mod.resolve_config(train.get_args_parser().parse_args(TINY))
    model = _import("builders").build_model(config, _import("pipeline").read_groups(root))
    base = _key(config, model, root, [0, 1])
    assert _key(config, model, root, [0, 2]) != base  # other images get augmented views
    param = next(model.backbone.parameters())
    saved = param.detach().clone()
    with torch.no_grad():
        param.add_(1e-3)  # other weights
    assert _key(config, model, root, [0, 1]) != base
    with torch.no_grad():
        param.copy_(saved)
    assert _key(config, model, root, [0, 1]) == base
    image = root / read_split(root, "train", _import("pipeline").read_groups(root))[0][3]
    data = bytearray(image.read_bytes())
    data[-3] ^= 1  # one bit of one image
    image.write_bytes(bytes(data))
    assert _key(config, model, root, [0, 1]) != base


def test_frozen_cache_never_lands_beside_read_only_images(real_root: Path, tmp_path: Path,
                                                          user_cache: Path) -> None:
    ro = tmp_path / "ro"
    shutil.copytree(real_root, ro)
    for path in [ro, *ro.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        run(ro, tmp_path / "out", "--protocol", "frozen", "--feature-views", "0", "--epochs", "1",
            "--predict-test", "false")
    finally:
        for path in [ro, *ro.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert list(user_cache.glob("features-*.pt"))  # the default: the user cache
    assert not list(ro.rglob("features-*"))
    assert not list((tmp_path / "out").rglob("features-*"))


def test_frozen_refuses_tta_flip() -> None:
    args = train.get_args_parser().parse_args(["--protocol", "frozen", "--tta-flip", "true"])
    with pytest.raises(ValueError, match="`tta_flip` needs images; with `protocol: frozen`"):
        config_mod.resolve_config(args)


def test_frozen_protocol_with_channels_last(real_root: Path, tmp_path: Path) -> None:
    # channels-last applies to images (feature extraction, test predictions), not to 2-D features
    summary = run(real_root, tmp_path, "--protocol", "frozen", "--feature-views", "1", "--epochs", "1",
                  "--channels-last", "true")
    assert summary["epochs"] == 1 and (tmp_path / "prediction.txt").is_file()
