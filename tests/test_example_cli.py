"""``train.py``'s command line: fast usage errors, values checked before anything is written.

The script parses and checks every value before it imports torch; a rejected command writes no
``config.yaml`` and no output folder. Unknown options (flags or YAML keys) name the closest one,
and ``loss_reduction`` follows the loss when it is not given.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers.fashion_example import EXAMPLE_DIR
from _helpers.fashion_example import import_example as _import

config_mod = _import("config")
train = _import("train")

ROOT = EXAMPLE_DIR.parents[1]


def _script(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python examples/fashion_attributes/train.py ARGV`` from the repository root, as a user runs it."""
    return subprocess.run([sys.executable, str(EXAMPLE_DIR / "train.py"), *argv], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=dict(os.environ))


def test_parsing_imports_no_torch() -> None:
    """The parser's module loads without torch (and without imbalml, which imports torch)."""
    code = (
        "import sys\n"
        "import fashion_recipe.config as c\n"
        "c.parse_cli(c.get_args_parser(), ['--epochs', '3'])\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'imbalml', 'torchvision', 'PIL') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=EXAMPLE_DIR)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--lr=-1"], r"expected `lr` \(--lr\) in \(0\.0, inf\), but got -1\.0"),
        (["--lr", "nan"], r"expected `lr` \(--lr\) in \(0\.0, inf\), but got nan"),
        (["--epochs", "0"], r"expected `epochs` \(--epochs\) in \[1, inf\), but got 0"),
        (["--batch-size", "-4"], r"expected `batch_size` \(--batch-size\) in \[1, inf\), but got -4"),
        (["--head-dropout", "1.5"], r"expected `head_dropout` \(--head-dropout\) in \[0\.0, 1\.0\), but got 1\.5"),
        (["--weight-decay", "-0.1"], r"expected `weight_decay` \(--weight-decay\) in \[0\.0, inf\), but got -0\.1"),
        (["--image-size", "0"], r"expected `image_size` \(--image-size\) in \[1, inf\), but got 0"),
        (["--head-hidden", "16", "0"], r"expected `head_hidden` \(--head-hidden\) in \[1, inf\), but got \[16, 0\]"),
        (["--mixup-alpha", "0"], r"expected `mixup_alpha` \(--mixup-alpha\) in \(0\.0, inf\), but got 0\.0"),
        (["--workers", "-1"], r"expected `workers` \(--workers\) in \[0, inf\), but got -1"),
    ],
)
def test_bad_values_are_usage_errors_and_write_nothing(argv: list[str], match: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _script("--out-dir", str(out), *argv)
    assert done.returncode == 2, done.stderr
    assert re.search(r"train\.py: error: command line: " + match, done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()  # no config.yaml, no folder


def test_bad_value_in_a_config_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lr: -0.5\n")
    done = _script("--config", str(path), "--out-dir", str(tmp_path / "run"))
    assert done.returncode == 2
    assert re.search(r"error: \S*c\.yaml or the command line: expected `lr` \(--lr\) in \(0\.0, inf\), "
                     r"but got -0\.5", done.stderr), done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("script", "parser_module", "bad"), [
    ("train.py", "fashion_recipe.config", ["--epoch", "2"]),
    ("predict.py", "fashion_recipe.prediction_cli", ["run/best_score.pt", "--batch-size", "q"]),
])
def test_help_and_usage_errors_do_not_import_torch(script: str, parser_module: str, bad: list[str]) -> None:
    """``--help`` and a usage error from the script itself, with ``-X importtime``: no torch loaded."""
    for argv, code in ((["--help"], 0), (bad, 2)):
        done = subprocess.run([sys.executable, "-X", "importtime", str(EXAMPLE_DIR / script), *argv],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == code, done.stderr
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert parser_module in imported
        assert not {"torch", "timm", "imbalml"} & imported


def test_unknown_flag_names_the_closest_option() -> None:
    done = _script("--learning-rate", "0.1", "--epoch", "3", "--wieght-decay", "0", "--zzz")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("train.py: error: unrecognized arguments: --learning-rate 0.1 --epoch 3 --wieght-decay 0 "
                    "--zzz; --learning-rate: did you mean --lr?; --epoch: did you mean --epochs?; "
                    "--wieght-decay: did you mean --weight-decay?")


def test_unknown_config_key_names_the_closest_option(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 0.1\nepoch: 3\nzzz: 1\n")
    with pytest.raises(ValueError, match=(
        r"c\.yaml: unknown option\(s\) \['epoch', 'learning_rate', 'zzz'\]; `epoch`: did you mean `epochs`\?; "
        r"`learning_rate`: did you mean `lr`\?; known options are: amp, augment, "
    )):
        config_mod.load_yaml(path)


@pytest.mark.parametrize(
    ("key", "expected"),
    [("learning_rate", "lr"), ("epoch", "epochs"), ("head_droput", "head_dropout"), ("zzz", None),
     ("batchsize", "batch_size")],
)
def test_closest_option(key: str, expected: str | None) -> None:
    assert config_mod.closest_option(key) == expected


@pytest.mark.parametrize(
    ("argv", "reduction"),
    [([], "sum"), (["--loss", "asl_sigmoid"], "sum"), (["--loss", "dice"], "mean"), (["--loss", "ce"], "mean"),
     (["--loss", "weighted_ce"], "mean"), (["--loss", "logit_adjusted"], "mean"),
     (["--loss", "ce", "--loss-reduction", "sum"], "sum"), (["--loss", "asl", "--loss-reduction", "mean"], "mean")],
)
def test_loss_reduction_follows_the_loss(argv: list[str], reduction: str) -> None:
    config = config_mod.resolve_config(config_mod.parse_cli(train.get_args_parser(), argv))
    assert config["loss_reduction"] == reduction
    assert set(config_mod.LOSS_REDUCTIONS) == set(config_mod.CHOICES["loss"])


def test_loss_reduction_from_a_config_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("loss: ce\nloss_reduction: sum\n")
    config = config_mod.resolve_config(train.get_args_parser().parse_args(["--config", str(path)]))
    assert config["loss_reduction"] == "sum"
    path.write_text("loss: dice\nloss_reduction: null\n")  # null: the loss's own
    config = config_mod.resolve_config(train.get_args_parser().parse_args(["--config", str(path)]))
    assert config["loss_reduction"] == "mean"


def test_dice_alone_trains(tmp_path: Path) -> None:
    """``--loss dice`` without ``--loss-reduction``: a run, its saved config holding ``mean``."""
    from _helpers.fashion_example import synthetic

    root = tmp_path / "data"
    synthetic.make_synthetic_dataset(root, num_train=32, num_val=16, num_test=8, image_size=40, seed=1)
    out = tmp_path / "run"
    argv = ["--data-root", str(root), "--out-dir", str(out), "--backbone", "test_van", "--image-size", "32",
            "--resize-size", "36", "--batch-size", "16", "--workers", "0", "--head-hidden", "16",
            "--epochs", "1", "--loss", "dice", "--predict-test", "false", "--progress", "off"]
    summary = train.main(config_mod.parse_cli(train.get_args_parser(), argv))
    assert summary["epochs"] == 1
    saved = config_mod.load_yaml(out / "config.yaml")
    assert (saved["loss"], saved["loss_reduction"]) == ("dice", "mean")
