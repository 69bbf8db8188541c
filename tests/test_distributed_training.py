"""Two-process training with torchrun (gloo, CPU) against one process on the same data.

What must be equal, and why. Two processes with the same global batch see the same images per
step (each takes every other index of the same epoch order), but they do not train the same
weights bit for bit: BatchNorm normalises each process's half-batch with that half's statistics,
and the summed gradients are reduced in a different order. So the test does not compare two
trainings. It compares two *evaluations of the same weights*:

* the validation metrics that the two-process run logged for its epoch (each process evaluates
  its shard of the validation images; the torchmetrics states and the loss sums are synced),
  which are stored in the run's ``last.pt`` together with the weights they were computed from;
* one process evaluating those saved weights on the whole validation split, with a different
  batch size.

They agree only if the shards are disjoint and cover the split, the metric states are summed
across processes, the loss average does not depend on the number of processes or on how the
images fall into batches, and every process validates with the weights (BatchNorm running
statistics included) that rank 0 saves. The gathered predictions behind ``val_report.json``
must equal a single-process ``predict.py`` report of the same checkpoint.

Also checked: only rank 0 writes under ``--out-dir`` (other ranks run under an audit hook that
refuses any write there), the oversampler's shards are disjoint (see also
``tests/test_samplers.py``), ``train_loss`` is the global batch's loss at the scale of a
single-process run (a summed loss is not halved by averaging over two processes), and a loss
that is NaN in one process only makes both skip that step together (otherwise one would wait
for the other's gradients forever).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _helpers.fashion_example import import_example
from _helpers.tiny_runs import PYTHON, REPO, TINY, NaNAtSteps, make_tiny_dataset, subprocess_env
from torch.utils.data import DataLoader

from imbalml import AttributeGroups, label_counts
from imbalml.data import AttributeImageDataset
from imbalml.functional import mean_class_accuracy
from imbalml.samplers import MinorityOversampler

train = import_example("train")
predict = import_example("predict")
pipeline = import_example("pipeline")
builders = import_example("builders")
checkpoint = import_example("checkpoint")

#: Deterministic per step apart from BatchNorm: no mixup, augmentation or dropout. The loss of
#: step 2 is made NaN in process 1 only (``NAN_LOSS_AT``): both processes must skip that step.
OPTIONS = [*TINY, "--epochs", "1", "--oversample", "true", "--mixup", "none", "--augment", "false",
           "--head-dropout", "0", "--on-nonfinite", "skip"]  # fmt: skip
NAN_STEP = 2
OUTPUTS = {"config.yaml", "history.csv", "best_score.pt", "best_loss.pt", "last.pt",
           "label_distribution.png", "loss.png", "score.png", "val_report.json", "prediction.txt"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, root: Path, nproc: int = 2) -> subprocess.CompletedProcess[str]:
    port = free_port()
    command = [
        PYTHON, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--nnodes=1",
        "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--max-restarts=0",
        str(REPO / "tests" / "_helpers" / "ddp_train.py"),
        "--data-root", str(root), "--out-dir", str(out), *OPTIONS,
    ]  # fmt: skip
    env = subprocess_env()
    probes = out.parent / "probes"
    probes.mkdir(exist_ok=True)
    env.update(GLOO_SOCKET_IFNAME="lo", SAMPLER_PROBE_DIR=str(probes), NAN_LOSS_AT=f"1:{NAN_STEP}")
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=240, cwd=out.parent
    )


def evaluate_one_process(ckpt: Path, root: Path, batch_size: int) -> dict[str, Any]:
    """``train.evaluate`` of a checkpoint's weights in this (single) process, in batches of
    ``batch_size`` validation images (the run's ``batch_size`` option, the loss scale, is kept)."""
    state = checkpoint.load_checkpoint(ckpt)
    config = dict(state["config"], data_root=str(root), device="cpu")
    runtime = train.Runtime(config)
    assert not runtime.distributed
    data = pipeline.build_data(config, root, runtime)
    model = builders.build_model(config, data.groups)
    model.load_state_dict(state["model"])
    criterion = builders.build_loss(
        config, data.groups, label_counts(data.train_targets, data.groups)
    )
    loader = DataLoader(data.val_loader.dataset, batch_size=batch_size, shuffle=False)
    return train.evaluate(model, criterion, loader, runtime, data.groups, config)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    base = tmp_path_factory.mktemp("ddp")
    root = make_tiny_dataset(base / "data")
    out = base / "out"
    result = torchrun(out, root)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return root, out, log


@pytest.mark.slow
def test_validation_metrics_equal_one_process(two_process_run: tuple[Path, Path, str]) -> None:
    root, out, _ = two_process_run
    state = checkpoint.load_checkpoint(out / "last.pt")
    assert state["config"]["batch_size"] == 16 and state["epoch"] == 1
    logged = state["history"][0]
    # Evaluate the same weights in one process, 12 images per batch instead of 8 per process.
    single = evaluate_one_process(out / "last.pt", root, batch_size=12)
    assert len(single["targets"]) == 32
    assert logged["val_score"] == pytest.approx(single["val_score"], abs=1e-6)
    assert logged["val_group_accuracy"] == pytest.approx(single["val_group_accuracy"], abs=1e-6)
    assert logged["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
    # The scores are not trivially equal: a shard alone scores differently.
    half = single["preds"][0::2], single["targets"][0::2]

    groups = AttributeGroups.from_dict(state["groups"])
    assert float(mean_class_accuracy(*half, groups)) != pytest.approx(logged["val_score"], abs=1e-6)


@pytest.mark.slow
def test_gathered_report_equals_predict_script(
    two_process_run: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, out, _ = two_process_run
    report = json.loads((out / "val_report.json").read_text())
    args = predict.get_args_parser().parse_args(
        [str(out / "best_score.pt"), "--data-root", str(root), "--split", "val", "--workers", "0",
         "--batch-size", "5", "--out", str(tmp_path / "val.txt")]
    )  # fmt: skip
    single = predict.main(args)
    assert report["num_images"] == single["num_images"] == 32
    assert report["confusion_matrices"] == single["confusion_matrices"]
    assert report["group_accuracy"] == pytest.approx(single["group_accuracy"], abs=1e-9)
    assert report["per_attribute_recall"] == pytest.approx(
        single["per_attribute_recall"], abs=1e-9, nan_ok=True
    )
    assert report["mean_class_accuracy"] == pytest.approx(single["mean_class_accuracy"], abs=1e-9)
    # The test-set predictions (rank 0 alone) match the single-process ones.
    args.split, args.out = "test", tmp_path / "test.txt"
    predict.main(args)
    assert (out / "prediction.txt").read_text() == (tmp_path / "test.txt").read_text()


@pytest.mark.slow
def test_only_rank_zero_writes(two_process_run: tuple[Path, Path, str]) -> None:
    _, out, log = two_process_run
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert "PermissionError" not in log
    assert log.count("epoch 1/1") == 1  # progress is logged by rank 0 only


@pytest.mark.slow
def test_nan_in_one_process_is_skipped_by_both(two_process_run: tuple[Path, Path, str]) -> None:
    _, out, log = two_process_run
    assert checkpoint.load_checkpoint(out / "last.pt")["history"][0]["skipped_steps"] == 1
    for rank, loss in ((0, r"\d+\.\d+"), (1, "nan")):  # each process logs its own view
        assert re.search(
            rf"WARNING skipping step: non-finite training loss at epoch 1, step {NAN_STEP} \(in one "
            rf"of 2 processes; process {rank}: loss {loss}, 0 of 208 logits non-finite\)",
            log,
        ), rank


@pytest.mark.slow
def test_train_loss_has_the_single_process_scale(two_process_run: tuple[Path, Path, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A summed loss: two processes report (and back-propagate) the loss of the global batch."""
    root, out, _ = two_process_run
    real = builders.build_loss
    monkeypatch.setattr(
        builders, "build_loss", lambda *a, **k: NaNAtSteps(real(*a, **k), {NAN_STEP})
    )
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(tmp_path), *OPTIONS]
    )
    train.main(args)
    single = checkpoint.load_checkpoint(tmp_path / "last.pt")["history"][0]
    double = checkpoint.load_checkpoint(out / "last.pt")["history"][0]
    assert single["skipped_steps"] == double["skipped_steps"] == 1
    assert single["train_loss"] > 10  # ASL summed over 16 images x 26 attributes
    # Same images per step; only BatchNorm's half-batch statistics differ. Unscaled: ratio 0.5.
    assert double["train_loss"] / single["train_loss"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.slow
def test_oversampler_shards_are_disjoint_across_ranks(
    two_process_run: tuple[Path, Path, str],
) -> None:
    """What each process's sampler dealt in the run: disjoint slots of one shared epoch list."""
    root, out, _ = two_process_run
    probes = out.parent / "probes"
    dealt = [json.loads((probes / f"rank{r}-epoch0.json").read_text()) for r in range(2)]
    assert [d["sampler"] for d in dealt] == ["MinorityOversampler"] * 2
    shard0, shard1 = dealt[0]["indices"], dealt[1]["indices"]
    # The full epoch list, built independently in one process from the same seed and epoch.
    config = checkpoint.load_checkpoint(out / "last.pt")["config"]
    groups = pipeline.read_groups(root)
    targets = AttributeImageDataset(root, "train", groups=groups, check_files=False).targets
    whole = MinorityOversampler(targets, groups, seed=config["seed"], num_replicas=1, rank=0)
    whole.set_epoch(0)
    epoch = list(whole)
    assert len(epoch) > len(targets)  # minority images repeated
    padded = (epoch * 2)[: 2 * len(shard0)]
    assert len(shard0) == len(shard1) == -(-len(epoch) // 2)
    assert padded[0::2] == shard0 and padded[1::2] == shard1  # slot k goes to rank k % 2 only
    assert Counter(shard0) + Counter(shard1) == Counter(padded)
