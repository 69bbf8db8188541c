"""The training script at its edges: NaN validation, resume, progress, history, determinism.

Each test pins one finding of a code review (issue 13) that no earlier test caught:

* a NaN validation score never beat ``-inf``, so ``best_score.pt`` was never written and the run
  crashed at the end; now it ends with a message naming ``last.pt``;
* a resume restored the old cosine ``T_max`` over a changed ``--epochs``; now the new schedule
  applies (logged), checked against the closed form of the cosine schedule;
* checkpoints saved an RNG state that no resume restored; now there is none, and a resume is exact
  whatever the global generator holds (every draw derives from seed, epoch and rank);
* ``--progress`` was accepted and never read; ``--deterministic`` did not exist (cuDNN autotuning
  was always on);
* ``history.csv``'s header was spliced at a fixed index; now it is built from the rows.

The two-process behaviour (deferred non-finite check, per-process random streams) is in
``tests/test_distributed_training.py``; the refused combinations are in ``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import pytest
import torch
from _helpers.fashion_example import import_example
from _helpers.tiny_runs import TINY, make_tiny_dataset

from imbalml import AttributeGroups

train = import_example("train")
history = import_example("outputs")
runtime_mod = import_example("runtime")
checkpoint = import_example("checkpoint")
progress = import_example("progress")

GROUPS = AttributeGroups(
    [7, 3, 3, 4, 6, 3], names=["pattern", "sleeve", "length", "neckline", "fabric", "fit"]
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("edges") / "data", num_train=32, num_val=16)


def run(root: Path, out: Path, *extra: str) -> dict:
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(out), *TINY, *extra]
    )
    return train.main(args)


# ------------------------------------------------------------------ a NaN validation score
def _nan_score_at(monkeypatch: pytest.MonkeyPatch, epochs: set[int]) -> None:
    """``evaluate`` scores NaN in the given (1-based) training epochs; the final one is left."""
    real, calls = train.evaluate, []

    def evaluate(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        return {**result, "val_score": math.nan} if len(calls) in epochs else result

    monkeypatch.setattr(train, "evaluate", evaluate)


def test_nan_validation_score_ends_with_a_message_and_the_last_checkpoint(
    tiny_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _nan_score_at(monkeypatch, {1, 2})
    with pytest.raises(
        FloatingPointError,
        match=r"^no epoch of .* had a finite validation score \(last scores: nan, nan\), so "
        r"best_score\.pt was not written and no report or predictions were made; the last weights "
        r"are in .*last\.pt\. Check the validation labels",
    ):
        run(tiny_root, tmp_path, "--epochs", "2")
    assert checkpoint.load_checkpoint(tmp_path / "last.pt")["epoch"] == 2
    assert not (tmp_path / "best_score.pt").exists()
    assert len(list(csv.DictReader((tmp_path / "history.csv").open()))) == 2
    assert (
        "WARNING epoch 2: validation score nan, not a candidate for best_score.pt"
        in capsys.readouterr().err
    )


def test_nan_validation_score_in_one_epoch_keeps_the_best_of_the_others(
    tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _nan_score_at(monkeypatch, {2})
    summary = run(tiny_root, tmp_path, "--epochs", "2")
    assert summary["best_score_epoch"] == 1 and math.isfinite(summary["best_score"])
    assert checkpoint.load_checkpoint(tmp_path / "best_score.pt")["epoch"] == 1


# ------------------------------------------------------------------ resume
def test_resume_with_more_epochs_follows_the_new_schedule(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(tiny_root, tmp_path, "--epochs", "1")  # T_max = 1: the restored schedule ends at lr 0
    run(tiny_root, tmp_path, "--epochs", "3", "--resume", str(tmp_path / "last.pt"))
    lrs = [row["lr"] for row in checkpoint.load_checkpoint(tmp_path / "last.pt")["history"]]
    cosine = [0.003 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]  # a 3-epoch run's
    assert lrs == pytest.approx(cosine, rel=1e-9)
    assert lrs[1] > 0.002  # not the old schedule's 0 (nor its way back up)
    assert (
        "--epochs 3, but the checkpoint's cosine schedule anneals over 1 epochs: from epoch 2 on "
        "the learning rate follows a 3-epoch schedule (lr now 0.00225)" in capsys.readouterr().err
    )


def test_resume_needs_no_rng_state(tiny_root: Path, tmp_path: Path) -> None:
    """No checkpoint keeps an RNG state a resume would ignore; the global generator's state at
    the resume does not matter, since every draw of an epoch derives from seed, epoch and rank."""
    run(tiny_root, tmp_path / "straight", "--epochs", "2")
    run(tiny_root, tmp_path / "split", "--epochs", "1")
    torch.manual_seed(12345)
    torch.rand(1000)  # whatever the process drew before
    run(
        tiny_root,
        tmp_path / "split",
        "--epochs",
        "2",
        "--resume",
        str(tmp_path / "split" / "last.pt"),
    )
    a = checkpoint.load_checkpoint(tmp_path / "straight" / "last.pt")
    b = checkpoint.load_checkpoint(tmp_path / "split" / "last.pt")
    assert "rng" not in a and "rng" not in b
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_seeds_differ_by_process_and_epoch_and_fit_the_cpu_generator() -> None:
    seeds = {train.seed_epoch(s, e, r) for s in range(20) for e in range(100) for r in range(8)}
    assert len(seeds) == 20 * 100 * 8
    assert train.seed_epoch(3, 7) == train.seed_epoch(3, 7, 0) == 3 * 100_003 + 7  # single process
    # torch's CPU generator keeps the low 32 bits: the ranks of one epoch must differ there
    assert len({train.seed_epoch(5, 2, r) % 2**32 for r in range(1024)}) == 1024


@pytest.fixture
def restore_determinism():
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic)  # fmt: skip
    yield
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[1], flags[2]


def test_deterministic_option_sets_the_flags(restore_determinism: None) -> None:
    cuda = torch.device("cuda")  # the flags only; no CUDA needed to set them
    runtime_mod.configure_determinism(cuda, deterministic=False)
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    assert not torch.are_deterministic_algorithms_enabled()
    runtime_mod.configure_determinism(cuda, deterministic=True)
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert torch.are_deterministic_algorithms_enabled()
    train.Runtime({"device": "cpu", "amp": "off", "deterministic": False})
    assert not torch.are_deterministic_algorithms_enabled()  # the option is read


@needs_cuda
def test_cuda_deterministic_resume_is_bitwise_exact(
    tiny_root: Path, tmp_path: Path, restore_determinism: None
) -> None:  # pragma: no cover
    """On a GPU with ``--deterministic true``: two epochs straight == one epoch, then a resume."""
    gpu = ["--device", "cuda", "--pipeline", "tensor", "--deterministic", "true"]
    run(tiny_root, tmp_path / "straight", *gpu, "--epochs", "2")
    run(tiny_root, tmp_path / "split", *gpu, "--epochs", "1")
    run(
        tiny_root,
        tmp_path / "split",
        *gpu,
        "--epochs",
        "2",
        "--resume",
        str(tmp_path / "split" / "last.pt"),
    )
    a = checkpoint.load_checkpoint(tmp_path / "straight" / "last.pt")
    b = checkpoint.load_checkpoint(tmp_path / "split" / "last.pt")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["history"][1]["val_loss"] == b["history"][1]["val_loss"]


# ------------------------------------------------------------------ progress
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_helper_modes(caplog: pytest.LogCaptureFixture) -> None:
    items = list(range(5))
    quiet = io.StringIO()
    with caplog.at_level(logging.INFO, logger="fashion"):
        assert (
            list(progress.progress(items, desc="x", mode="off", stream=quiet, interval=0)) == items
        )
        assert quiet.getvalue() == "" and caplog.text == ""
        terminal = _Terminal()
        assert list(progress.progress(items, desc="extract", mode="auto", stream=terminal)) == items
        assert "extract:" in terminal.getvalue() and caplog.text == ""  # a bar, no log lines
        forced = io.StringIO()
        assert (
            list(progress.progress(iter(items), total=5, desc="forced", mode="on", stream=forced))
            == items
        )
        assert "forced:" in forced.getvalue()
        log_file = io.StringIO()  # not a terminal: plain lines, none on the stream
        assert (
            list(progress.progress(items, desc="train", mode="auto", stream=log_file, interval=0))
            == items
        )
        assert log_file.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("train: 1/5 (") and lines[4].startswith("train: 5/5 (")
    assert lines[5].startswith("train: done, 5/5 in ")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fashion"):
        list(progress.progress(items, desc="short", mode="auto", stream=io.StringIO()))
    assert caplog.text == ""  # a loop shorter than the interval stays silent


@pytest.mark.parametrize("mode", ["on", "off"])
def test_training_reads_the_progress_option(
    tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    run(tiny_root, tmp_path, "--epochs", "1", "--progress", mode)
    err = capsys.readouterr().err
    bars = ("epoch 1 train:" in err, "validation:" in err)
    assert bars == ((True, True) if mode == "on" else (False, False)), err[-2000:]


# ------------------------------------------------------------------ history.csv
def _row(epoch: int) -> dict:
    return {"epoch": epoch, "train_loss": 0.5, "train_score": 0.25, "skipped_steps": 0,
            "val_loss": 0.75, "val_score": 0.125, "val_group_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "lr": 0.001, "seconds": 2.0, "select_score": 0.375,
            "select_group_accuracy": [0.61, 0.62, 0.63, 0.64, 0.65, 0.66]}  # fmt: skip


@pytest.mark.parametrize(
    "order",
    [
        history.HISTORY_KEYS,
        ["epoch", "val_group_accuracy", "train_loss", "val_loss", "val_score", "lr"],
    ],
    ids=["default", "reordered"],
)
def test_history_header_is_built_from_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: list[str]
) -> None:
    """Every cell lands under its own name, whatever the column order and the row's extra keys
    (another split's score, say), so columns can be added without counting positions."""
    monkeypatch.setattr(history, "HISTORY_KEYS", order)
    rows = [_row(1), _row(2)]
    history.write_history(rows, tmp_path / "history.csv", GROUPS)
    read = list(csv.DictReader((tmp_path / "history.csv").open()))
    header = next(csv.reader((tmp_path / "history.csv").open()))
    assert header[: len(order) + 5] == [c for k in order for c in (
        [f"val_acc_{g}" for g in GROUPS.names] if k == "val_group_accuracy" else [k])]  # fmt: skip
    assert len(header) == len(set(header)) == 9 + 2 * 6
    for row, written in zip(rows, read):
        for key, value in row.items():
            if isinstance(value, list):
                split = key.removesuffix("_group_accuracy")
                got = [float(written[f"{split}_acc_{g}"]) for g in GROUPS.names]
                assert got == pytest.approx(value), key
            else:
                assert float(written[key]) == pytest.approx(value), key
