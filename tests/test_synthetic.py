"""The synthetic fashion data (examples/fashion_attributes/synthetic.py) and the task spec."""

import doctest
import filecmp
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.fashion_example import EXAMPLE_DIR, fashion, synthetic
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from scipy.stats import chi2_contingency

from imbalml import label_counts
from imbalml.data import AttributeImageDataset, read_attribute_list, read_split
from imbalml.functional import group_accuracy, mean_class_accuracy

GROUPS = fashion.FASHION_GROUPS
COUNTS = torch.tensor(fashion.TRAIN_COUNTS)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return synthetic.make_synthetic_dataset(
        root, num_train=30, num_val=20, num_test=10, image_size=40, seed=3
    )


# ---------------------------------------------------------------------------- the spec
def test_fashion_spec_matches_recipe() -> None:
    assert GROUPS.sizes == (7, 3, 3, 4, 6, 3) and GROUPS.num_attributes == 26
    assert GROUPS.names == ("pattern", "sleeve", "length", "neckline", "fabric", "fit")
    assert GROUPS.attribute_names[5] == "solid" and GROUPS.attribute_names[-1] == "conventional"
    per_group = [sum(fashion.TRAIN_COUNTS[s]) for s in GROUPS.slices]
    assert per_group == [fashion.NUM_TRAIN] * 6
    # Train-set majority; the report's labels are computed on train+val and differ in neckline,
    # where crew (2086) and no_neckline (2069) are nearly tied.
    train_majority = [int(COUNTS[s].argmax()) for s in GROUPS.slices]
    assert train_majority == [5, 2, 2, 0, 2, 2]
    assert fashion.MAJORITY_LABELS == (5, 2, 2, 3, 2, 2)
    # The report's minority threshold (mean count per attribute) makes 18 minority attributes.
    assert int((COUNTS <= 5000 * 6 / 26).sum()) == 18


@pytest.mark.parametrize("module", [fashion, synthetic])
def test_example_doctests(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------- labels
def test_split_counts_reproduce_training_counts() -> None:
    for s in GROUPS.slices:
        assert synthetic.split_counts(5000, fashion.TRAIN_COUNTS[s]) == list(
            fashion.TRAIN_COUNTS[s]
        )


@given(st.integers(0, 3000), st.lists(st.integers(1, 5000), min_size=2, max_size=8))
def test_split_counts_properties(n: int, counts: list[int]) -> None:
    shares = synthetic.split_counts(n, counts)
    assert sum(shares) == n and min(shares) >= 0
    exact = [n * c / sum(counts) for c in counts]
    if n >= len(counts):
        assert min(shares) >= 1
    if all(e >= 1 for e in exact) or n < len(counts):
        assert all(abs(s - e) < 1 for s, e in zip(shares, exact))


@pytest.mark.parametrize("n", [7, 100, 300, 1000])
def test_sample_labels_follow_training_proportions(n: int) -> None:
    labels = synthetic.sample_labels(n, np.random.default_rng(5))
    assert labels.shape == (n, 6) and labels.dtype == np.int64
    counts = label_counts(torch.from_numpy(labels), GROUPS).positives
    expected = COUNTS * n / 5000
    assert bool((counts >= 1).all())  # every attribute occurs
    for s in GROUPS.slices:
        # Largest remainder: within 1 of the exact share; the attributes raised to 1 are taken
        # from the largest one.
        c, e = counts[s].double(), expected[s]
        raised = int((e < 1).sum())
        tolerance = torch.ones_like(e)
        tolerance[e.argmax()] += raised
        assert bool(((c - e).abs() <= tolerance).all()), (c, e)


def test_sample_labels_groups_are_independent() -> None:
    labels = synthetic.sample_labels(5000, np.random.default_rng(0))
    for a, b in [(0, 1), (1, 5), (2, 3), (4, 5)]:
        table = np.zeros((GROUPS.sizes[a], GROUPS.sizes[b]))
        np.add.at(table, (labels[:, a], labels[:, b]), 1)
        assert chi2_contingency(table).pvalue > 1e-3


# ---------------------------------------------------------------------------- layout
def test_layout(tiny: Path) -> None:
    split = tiny / "split"
    assert sorted(p.name for p in split.iterdir()) == [
        "list_attr_cloth.txt",
        "test.txt",
        "train.txt",
        "train_attr.txt",
        "val.txt",
        "val_attr.txt",
    ]
    assert sorted(p.name for p in (tiny / "img").iterdir()) == [f"{i:05d}.jpg" for i in range(60)]
    lines = (split / "list_attr_cloth.txt").read_text().splitlines()
    assert lines[0] == "26" and len(lines) == 28
    assert lines[2].split() == ["floral", "1"] and lines[-1].split() == ["conventional", "6"]
    assert read_attribute_list(split / "list_attr_cloth.txt", group_names=GROUPS.names) == GROUPS
    train = (split / "train.txt").read_text().splitlines()
    assert train[0] == "img/00000.jpg" and len(train) == 30
    assert (split / "val.txt").read_text().splitlines()[0] == "img/00030.jpg"
    assert (split / "test.txt").read_text().splitlines() == [
        f"img/{i:05d}.jpg" for i in range(50, 60)
    ]
    attr = (split / "train_attr.txt").read_text()
    assert attr.endswith("\n") and all(len(line.split(" ")) == 6 for line in attr.splitlines())


def test_images_are_rgb_jpegs_of_the_right_size(tiny: Path, tmp_path: Path) -> None:
    for path in sorted((tiny / "img").iterdir())[:5]:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (30, 40)
    root = synthetic.make_synthetic_dataset(
        tmp_path, num_train=2, num_val=1, num_test=0, image_size=33
    )
    with Image.open(root / "img" / "00002.jpg") as image:
        assert image.format == "JPEG" and image.size == (25, 33)  # width round(0.75 * 33)


def test_test_labels_option(tmp_path: Path) -> None:
    root = synthetic.make_synthetic_dataset(
        tmp_path, num_train=3, num_val=3, num_test=4, image_size=32, test_labels=True
    )
    paths, labels = read_split(root, "test", GROUPS, require_labels=True)
    assert len(paths) == 4 and labels.shape == (4, 6)


def test_deterministic(tiny: Path, tmp_path: Path) -> None:
    again = synthetic.make_synthetic_dataset(
        tmp_path / "again", num_train=30, num_val=20, num_test=10, image_size=40, seed=3
    )
    for sub in ("split", "img"):
        names = sorted(p.name for p in (tiny / sub).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(tiny / sub, again / sub, names, shallow=False)
        assert (len(match), mismatch, errors) == (len(names), [], [])
    other = synthetic.make_synthetic_dataset(
        tmp_path / "other", num_train=30, num_val=20, num_test=10, image_size=40, seed=4
    )
    assert (other / "split/train_attr.txt").read_bytes() != (
        tiny / "split/train_attr.txt"
    ).read_bytes()
    assert (other / "img/00000.jpg").read_bytes() != (tiny / "img/00000.jpg").read_bytes()


def test_split_labels_do_not_depend_on_other_splits(tiny: Path, tmp_path: Path) -> None:
    root = synthetic.make_synthetic_dataset(
        tmp_path, num_train=5, num_val=20, num_test=0, image_size=40, seed=3
    )
    assert (root / "split/val_attr.txt").read_bytes() == (tiny / "split/val_attr.txt").read_bytes()


def test_every_attribute_changes_the_picture() -> None:
    base = [5, 2, 2, 3, 2, 2]
    reference = np.asarray(
        synthetic.render_image(base, image_size=48, rng=np.random.default_rng(0))
    )
    for g, size in enumerate(GROUPS.sizes):
        for k in range(size):
            if k == base[g]:
                continue
            labels = list(base)
            labels[g] = k
            image = synthetic.render_image(labels, image_size=48, rng=np.random.default_rng(0))
            diff = np.abs(np.asarray(image).astype(int) - reference).sum(-1)
            assert (diff > 60).sum() >= 10, (GROUPS.names[g], k)


# ---------------------------------------------------------------------------- baseline
def test_majority_baseline_scores_6_over_26(tmp_path: Path) -> None:
    root = synthetic.make_synthetic_dataset(
        tmp_path, num_train=1, num_val=200, num_test=0, image_size=32
    )
    val = AttributeImageDataset(root, "val", groups=GROUPS)
    preds = torch.tensor(fashion.MAJORITY_LABELS).expand(len(val), -1)
    assert mean_class_accuracy(preds, val.targets, GROUPS).item() == pytest.approx(6 / 26)
    assert bool((label_counts(val.targets, GROUPS).positives > 0).all())  # all 26 attributes occur
    # Per-group accuracy of the baseline is the share of each majority attribute.
    expected = torch.stack(
        [COUNTS[s][m] / 5000 for s, m in zip(GROUPS.slices, fashion.MAJORITY_LABELS)]
    )
    assert torch.allclose(group_accuracy(preds, val.targets, GROUPS).float(), expected, atol=0.02)


# ---------------------------------------------------------------------------- arguments and CLI
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_train": 0}, "`num_train` to be an int >= 1, but got 0"),
        ({"num_val": 2.0}, "`num_val` to be an int >= 1, but got 2.0"),
        ({"num_test": -1}, "`num_test` to be an int >= 0, but got -1"),
        ({"image_size": 31}, "`image_size` to be an int >= 32, but got 31"),
        ({"seed": -1}, "`seed` to be a non-negative int, but got -1"),
    ],
)
def test_argument_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        synthetic.make_synthetic_dataset(tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_output(tmp_path: Path) -> None:
    kwargs = {"num_train": 2, "num_val": 2, "num_test": 0, "image_size": 32}
    synthetic.make_synthetic_dataset(tmp_path, **kwargs)
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "img" / "stale.jpg").write_bytes(b"")
    with pytest.raises(FileExistsError, match="pass overwrite=True / --overwrite"):
        synthetic.make_synthetic_dataset(tmp_path, **kwargs)
    synthetic.make_synthetic_dataset(tmp_path, overwrite=True, **kwargs)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "img" / "stale.jpg").exists()
    assert len(list((tmp_path / "img").iterdir())) == 4


def test_cli_main(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path / "d"), "--num-train", "4", "--num-val", "3"]
    root = synthetic.main([*args, "--num-test", "2", "--image-size", "32", "--seed", "7"])
    assert root == tmp_path / "d"
    assert len(list((root / "img").iterdir())) == 9
    direct = synthetic.make_synthetic_dataset(
        tmp_path / "e", num_train=4, num_val=3, num_test=2, image_size=32, seed=7
    )
    assert (root / "split/train_attr.txt").read_bytes() == (
        direct / "split/train_attr.txt"
    ).read_bytes()


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--num-train" in out and "--image-size" in out and "--test-labels" in out


def test_cli_error_exits_with_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "img").mkdir()
    argv = ["synthetic.py", "--out", str(tmp_path), "--num-train", "2", "--image-size", "32"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match="^error: Expected no .*img .*--overwrite"):
        runpy.run_path(str(EXAMPLE_DIR / "synthetic.py"), run_name="__main__")


@pytest.mark.slow
def test_cli_as_a_script(tmp_path: Path) -> None:
    cmd = [sys.executable, str(EXAMPLE_DIR / "synthetic.py"), "--out", str(tmp_path)]
    done = subprocess.run(
        [*cmd, "--num-train", "3", "--num-val", "2", "--num-test", "1", "--image-size", "32"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 6 images" in done.stderr
    assert len(list((tmp_path / "img").iterdir())) == 6


def test_parallel_rendering_writes_the_same_files(tmp_path: Path) -> None:
    one = synthetic.make_synthetic_dataset(
        tmp_path / "one", num_train=6, num_val=3, num_test=2, image_size=40
    )
    two = synthetic.make_synthetic_dataset(
        tmp_path / "two", num_train=6, num_val=3, num_test=2, image_size=40, workers=2
    )
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) == 11 + 6
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
