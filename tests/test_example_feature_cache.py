"""The frozen protocol's feature cache is one user folder, shared by runs whatever their ``out_dir``.

Two configurations with different output folders compute the backbone features once (the second
run logs a cache hit and leaves the file untouched); a change of a field of the key makes a new
entry beside it; ``--cache-dir`` overrides the folder. Tiny synthetic runs only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers.fashion_example import import_example as _import
from _helpers.tiny_runs import TINY, make_tiny_dataset

train = _import("train")
features = _import("features")
config_mod = _import("config")

FROZEN = ["--protocol", "frozen", "--feature-views", "1", "--epochs", "1", "--predict-test", "false",
          "--progress", "off"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("cache") / "data", num_train=48, num_val=16, num_test=8)


def _run(root: Path, out: Path, *extra: str) -> dict:
    args = config_mod.parse_cli(train.get_args_parser(),
                                ["--data-root", str(root), "--out-dir", str(out), *TINY, *FROZEN, *extra])
    return train.main(args)


def test_default_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMBALML_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert features.default_cache_dir() == tmp_path / "a" / "features"
    monkeypatch.delenv("IMBALML_CACHE")
    assert features.default_cache_dir() == tmp_path / "b" / "imbalml" / "features"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert features.default_cache_dir() == tmp_path / "home" / ".cache" / "imbalml" / "features"
    assert features.cache_dir_of({"cache_dir": str(tmp_path / "mine")}) == tmp_path / "mine"
    assert features.cache_dir_of({"cache_dir": None}) == features.default_cache_dir()


def test_runs_with_different_out_dirs_share_the_user_cache(root: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMBALML_CACHE", str(tmp_path / "user"))
    cache = tmp_path / "user" / "features"
    _run(root, tmp_path / "first")
    log = capsys.readouterr().err  # train.py logs to standard error
    files = sorted(cache.glob("features-*.pt"))
    assert len(files) == 2  # the training images (centre + augmented views) and the labelled val images
    for path in files:
        assert "feature cache written: " + str(path) in log
    assert not list((tmp_path / "first").rglob("features-*"))  # nothing under the run's own folder
    stamps = [path.stat().st_mtime_ns for path in files]

    # another configuration (head, mixup, epochs: not the features), another out_dir; the random
    # test_van backbone is drawn from `seed`, which therefore stays
    _run(root, tmp_path / "second", "--head-hidden", "8", "--lr", "0.01", "--mixup", "all", "--epochs", "2")
    log = capsys.readouterr().err
    for path in files:
        assert "feature cache hit: " + str(path) in log
    assert "feature cache written" not in log
    assert sorted(cache.glob("features-*.pt")) == files
    assert [path.stat().st_mtime_ns for path in files] == stamps  # not written again
    assert not list(cache.glob(".*.tmp"))  # atomic writes leave no temporary behind

    # a field of the key changes: a new entry beside the first, which stays
    _run(root, tmp_path / "third", "--feature-seed", "1")
    log = capsys.readouterr().err
    assert "feature cache written" in log
    now = sorted(cache.glob("features-*.pt"))
    assert len(now) == 4 and set(files) < set(now)  # both keys hold the seed of the views
    assert [path.stat().st_mtime_ns for path in files] == stamps


def test_cache_dir_option_overrides_the_user_cache(root: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMBALML_CACHE", str(tmp_path / "user"))
    _run(root, tmp_path / "run", "--cache-dir", str(tmp_path / "mine"))
    assert len(list((tmp_path / "mine").glob("features-*.pt"))) == 2
    assert not (tmp_path / "user").exists()
