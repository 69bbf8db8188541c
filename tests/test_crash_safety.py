"""Kill CPU training with SIGKILL, resume from ``last.pt``, and end exactly where an unbroken run ends.

Three child processes run ``train.py`` (through ``_helpers/crash_train.py``, which can stop at a
chosen moment and announce it with a marker file, so that the kill lands where intended however
slow the machine is):

1. killed in the middle of epoch 2, one of its three steps done: ``last.pt`` holds epoch 1, so the
   run lost no more than the epoch it was in;
2. resumed from that ``last.pt``, killed while ``last.pt`` of epoch 3 is half written: the
   half-written bytes are in a temporary file, ``last.pt`` still holds epoch 2 and loads;
3. resumed again: it removes the stale temporary file and finishes.

A fourth child trains the same 3 epochs without interruption, alongside. Each child uses one
thread, the PIL pipeline without worker processes, and per-epoch seeds, so the resumed run must
give bitwise the same weights, optimizer state, history and best checkpoint.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from _helpers.fashion_example import import_example
from _helpers.tiny_runs import PYTHON, REPO, TINY, make_tiny_dataset, subprocess_env

checkpoint = import_example("checkpoint")

CRASH_TRAIN = REPO / "tests" / "_helpers" / "crash_train.py"
EPOCHS = 3


def start(root: Path, out: Path, *extra: str, **pause: str) -> subprocess.Popen[str]:
    env = subprocess_env()
    env.update(pause)
    command = [PYTHON, str(CRASH_TRAIN), "--data-root", str(root), "--out-dir", str(out), *TINY,
               "--epochs", str(EPOCHS), *extra]  # fmt: skip
    return subprocess.Popen(
        command,
        env=env,
        cwd=out.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_when_paused(proc: subprocess.Popen[str], marker: Path, timeout: float = 150.0) -> None:
    """Wait until the child announces its pause, then SIGKILL it (it never exits by itself)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"the run ended (rc {proc.returncode}) before pausing:\n{proc.stdout.read()}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no pause within {timeout} s:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def assert_outputs_whole(out: Path, epochs_done: int) -> None:
    """Every checkpoint in the folder loads; last.pt and history.csv hold ``epochs_done`` epochs."""
    for path in out.glob("*.pt"):
        checkpoint.load_checkpoint(path)  # raises on a partial file
    assert checkpoint.load_checkpoint(out / "last.pt")["epoch"] == epochs_done
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs_done + 1))


def assert_same_tensors(a: dict, b: dict, where: str) -> None:
    assert a.keys() == b.keys(), where
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b[key]), f"{where}.{key}"
        elif isinstance(value, dict):
            assert_same_tensors(value, b[key], f"{where}.{key}")


@pytest.mark.slow
def test_sigkill_and_resume_end_bitwise_equal(tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "data", num_train=48, num_val=16, num_test=8)
    straight = start(root, tmp_path / "straight")  # alongside the interrupted chain
    out = tmp_path / "crashed"

    # 1. Killed in the middle of epoch 2 (1 of 3 steps done).
    marker = tmp_path / "pause-1"
    kill_when_paused(start(root, out, PAUSE_AT_STEP="2:1", PAUSE_MARKER=str(marker)), marker)
    assert_outputs_whole(out, epochs_done=1)
    assert not list(out.glob(".*.tmp"))

    # 2. Resumed, then killed while last.pt of epoch 3 is half written.
    marker = tmp_path / "pause-2"
    resume = ["--resume", str(out / "last.pt")]
    kill_when_paused(
        start(root, out, *resume, PAUSE_IN_SAVE="last.pt:3", PAUSE_MARKER=str(marker)), marker
    )
    partial = list(out.glob(".last.pt.*.tmp"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    with pytest.raises(Exception):  # noqa: B017  (half a zip archive: torch's reader fails)
        torch.load(partial[0], weights_only=True)
    assert_outputs_whole(out, epochs_done=2)

    # 3. Resumed again: finishes, and removes the stale temporary file first.
    final = start(root, out, *resume)
    log = final.communicate(timeout=240)[0]
    assert final.returncode == 0, log
    assert "left by an interrupted checkpoint write" in log
    assert not list(out.glob(".*.tmp"))
    assert_outputs_whole(out, epochs_done=EPOCHS)

    log = straight.communicate(timeout=240)[0]
    assert straight.returncode == 0, log
    a = checkpoint.load_checkpoint(tmp_path / "straight" / "last.pt")
    b = checkpoint.load_checkpoint(out / "last.pt")
    assert_same_tensors(a["model"], b["model"], "model")
    assert_same_tensors(a["optimizer"]["state"], b["optimizer"]["state"], "optimizer")
    assert a["scheduler"] == b["scheduler"]
    for row_a, row_b in zip(a["history"], b["history"], strict=True):
        assert {k: v for k, v in row_a.items() if k != "seconds"} == {
            k: v for k, v in row_b.items() if k != "seconds"
        }
    best_a = checkpoint.load_checkpoint(tmp_path / "straight" / "best_score.pt")
    best_b = checkpoint.load_checkpoint(out / "best_score.pt")
    assert best_a["epoch"] == best_b["epoch"]
    assert_same_tensors(best_a["model"], best_b["model"], "best_score.model")
    assert (tmp_path / "straight" / "prediction.txt").read_text() == (
        out / "prediction.txt"
    ).read_text()
