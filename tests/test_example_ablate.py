"""``ablate.py``: every method in the frozen protocol, seeds, the table and the figure, reuse of runs.

Runs the real script in a subprocess on a tiny synthetic copy without validation labels, with tiny
stand-ins for the base and best configs (``--base``/``--best``) so that it takes seconds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from _helpers.fashion_example import EXAMPLE_DIR
from _helpers.fashion_example import import_example as _import
from _helpers.tiny_runs import PYTHON, make_tiny_dataset, subprocess_env

ablate = _import("ablate")


def _tiny_configs(tmp: Path) -> tuple[Path, Path]:
    base = {"backbone": "test_van", "image_size": 32, "resize_size": 36, "batch_size": 16, "workers": 0,
            "head_hidden": [16], "lr": 0.003, "protocol": "frozen", "feature_views": 1, "epochs": 2,
            "pipeline": "pil", "loss": "asl", "loss_reduction": "sum", "mixup": "minority"}
    best = {"base": "base.yaml", "loss": "weighted_ce", "loss_reduction": "mean", "mixup": "all",
            "posthoc": "tune"}
    (tmp / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp / "best.yaml").write_text(yaml.safe_dump(best))
    return tmp / "base.yaml", tmp / "best.yaml"


def _ablate(root: Path, tmp: Path, base: Path, best: Path) -> subprocess.CompletedProcess:
    env = dict(subprocess_env(), IMBALML_CACHE=str(tmp / "user-cache"))  # never the real ~/.cache
    return subprocess.run(
        [PYTHON, str(EXAMPLE_DIR / "ablate.py"), "--data-root", str(root), "--seeds", "0", "1",
         "--only", "report", "ce", "mixup_off", "best", "--out-dir", str(tmp / "runs"), "--base", str(base),
         "--best", str(best), "--results", str(tmp / "RESULTS.md"), "--figure", str(tmp / "fig.png"),
         "--jobs", "2"],
        capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_ablation_table_figure_and_reuse(tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "data", num_train=60, num_val=10, num_test=4)
    (root / "split" / "val_attr.txt").unlink()  # as the course copy: select on a part of train
    base, best = _tiny_configs(tmp_path)
    first = _ablate(root, tmp_path, base, best)
    assert first.returncode == 0, first.stderr[-3000:]
    table = (tmp_path / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["report", "ce", "mixup_off", "best"]
    results = json.loads((tmp_path / "runs" / "ablation.json").read_text())
    for name, row in zip(["report", "ce", "mixup_off", "best"], rows):
        scores = [r["final_score"] for r in results[name]["runs"]]
        assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
        mean = sum(scores) / 2
        assert f"{mean:.4f} ± " in row  # the table shows the runs' mean
    # each row ran its method: the configs written by the runs say so
    config = yaml.safe_load((tmp_path / "runs" / "ce-seed1" / "config.yaml").read_text())
    assert (config["loss"], config["loss_reduction"], config["seed"]) == ("ce", "mean", 1)
    assert yaml.safe_load((tmp_path / "runs" / "mixup_off-seed0" / "config.yaml").read_text())["mixup"] == "none"
    assert yaml.safe_load((tmp_path / "runs" / "best-seed0" / "config.yaml").read_text())["posthoc"] == "tune"
    # one feature cache per backbone: test_van is randomly initialised from the seed, so one per
    # seed here (with pretrained weights every seed shares one), shared by all methods, in the
    # user cache (no --cache-dir given), not under the ablation's --out-dir
    assert len(list((tmp_path / "user-cache" / "features").glob("features-*.pt"))) == 2
    assert not list((tmp_path / "runs").rglob("features-*.pt"))
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second invocation reuses every finished run and writes the same table
    second = _ablate(root, tmp_path, base, best)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("reusing the finished run") == 8
    assert (tmp_path / "RESULTS.md").read_text() == table


def test_methods_cover_every_ablation_config() -> None:
    names = {name for name, _, _ in ablate.methods()}
    configs = {p.stem for p in (EXAMPLE_DIR / "configs").glob("*.yaml")}
    ablations = configs - {"report", "report_gpu", "cpu_probe_report", "cpu_probe_best", "cpu_finetune",
                           "cpu_finetune_select"}
    for config in ablations:  # every configs/ ablation is a method (weighted_ce once per strategy)
        assert config in names or any(n.startswith(config + "_") for n in names), config
    overrides = dict((n, o) for n, _, o in ablate.methods())
    assert overrides["ce"] == {"loss": "ce", "loss_reduction": "mean"}
    assert overrides["oversample"] == {"mixup": "none", "oversample": True}
    assert overrides["weighted_ce_inverse_sqrt"]["class_weight_strategy"] == "inverse_sqrt"
    assert overrides["ce_posthoc"]["posthoc"] == "tune"
