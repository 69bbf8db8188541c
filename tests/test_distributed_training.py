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

The last tests start the two processes themselves (no ``torchrun``, which would kill one when the
other fails) with a deadline, and take the deferred non-finite check that GPU runs use: a NaN in
one process must make both skip (identical, finite weights) or both stop (one message, no hang).
They also check that the processes draw different random numbers for the same images, and that
two identical runs end with identical weights.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
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
           "label_distribution.png", "loss.png", "score.png", "val_report.json", "prediction.txt", "summary.json"}  # fmt: skip


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


# ------------------------------------------------------- processes started one by one (no torchrun)
#: The deferred (GPU-style) non-finite check, selected on the CPU, with every random draw on:
#: augmentation, mixup of all images, dropout. Both processes are dealt the same images in the same
#: order (``SAME_ORDER``), so their batches differ only by what they draw.
DEFERRED = [*TINY, "--epochs", "1", "--nonfinite-check", "deferred", "--mixup", "all",
            "--augment", "true", "--head-dropout", "0.3"]  # fmt: skip
DEADLINE = 480  # seconds for a whole two-process run (~45 s idle); a hang fails the test, not CI


def launch(out: Path, root: Path, *options: str, nproc: int = 2) -> list[tuple[int, str]]:
    """Start ``nproc`` processes of ``ddp_train.py`` by hand (``RANK``, ``MASTER_PORT``, ...).

    Returns each process's exit status and output, in rank order. Unlike ``torchrun``, nothing
    kills the other processes when one fails, so a process left waiting in a collective shows
    up as a hang: every process must end within ``DEADLINE`` seconds, or all are killed and the
    test fails.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    probes = out.parent / "probes"
    probes.mkdir(exist_ok=True)
    port = free_port()
    procs, logs = [], []
    for rank in range(nproc):
        env = subprocess_env()
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo",
                   NAN_LOSS_AT=f"1:{NAN_STEP}", SAME_ORDER="1", PROBE_DIR=str(probes),
                   SAMPLER_PROBE_DIR=str(probes))  # fmt: skip
        log = (out.parent / f"rank{rank}.log").open("w")
        logs.append(log)
        command = [PYTHON, str(REPO / "tests" / "_helpers" / "ddp_train.py"),
                   "--data-root", str(root), "--out-dir", str(out), *options]  # fmt: skip
        procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      cwd=out.parent))  # fmt: skip
    start = time.monotonic()
    try:
        for p in procs:
            p.wait(timeout=max(1.0, DEADLINE - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"a process was still running after {DEADLINE} s (waiting for the other?)")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    return [(p.returncode, (out.parent / f"rank{r}.log").read_text()) for r, p in enumerate(procs)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("ddp-data") / "data")


@pytest.fixture(scope="module")
def deferred_runs(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two identical two-process runs with ``on_nonfinite: skip``; their base folders."""
    bases = []
    for name in ("first", "second"):
        base = tmp_path_factory.mktemp(f"deferred-{name}")
        results = launch(base / "out", dataset, *DEFERRED, "--on-nonfinite", "skip")
        for rank, (code, log) in enumerate(results):
            assert code == 0, f"rank {rank}:\n{log[-6000:]}"
        bases.append(base)
    return bases


def _weights(base: Path, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(base / "probes" / f"rank{rank}-weights.pt", weights_only=True)


@pytest.mark.slow
def test_deferred_nan_in_one_process_is_skipped_by_both(deferred_runs: list[Path]) -> None:
    """The deferred check under DDP: the NaN of process 1 makes both skip; weights stay equal."""
    base = deferred_runs[0]
    history = checkpoint.load_checkpoint(base / "out" / "last.pt")["history"][0]
    assert history["skipped_steps"] == 1 and math.isfinite(history["train_loss"])
    w0, w1 = _weights(base, 0), _weights(base, 1)
    assert w0.keys() == w1.keys() and len(w0) > 10
    for key, value in w0.items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key
        assert torch.equal(value, w1[key]), key  # DDP only keeps them equal if both skip alike
    message = (
        f"WARNING skipping step: non-finite training loss at epoch 1, step {NAN_STEP} "
        "(loss nan in 1 of 2 processes)"
    )
    for rank in range(2):  # both processes saw the same decision, in the same words
        assert message in (base / f"rank{rank}.log").read_text(), rank


@pytest.mark.slow
def test_processes_draw_different_random_numbers(deferred_runs: list[Path]) -> None:
    """Same images in the same order in both processes: their first batches differ only by the
    draws (flips, rotations, jitter, mixup partners and lambdas), which must not be shared."""
    probes = deferred_runs[0] / "probes"
    dealt = [json.loads((probes / f"rank{r}-epoch0.json").read_text()) for r in range(2)]
    assert dealt[0]["indices"] == dealt[1]["indices"]  # the same images ...
    first = [torch.load(probes / f"rank{r}-epoch0-batch0.pt", weights_only=True) for r in range(2)]
    assert first[0]["seed"] != first[1]["seed"]
    assert first[0]["seed"] == train.seed_epoch(0, 0)  # rank 0 keeps the single-process seed
    assert first[0]["images"].shape == first[1]["images"].shape == (8, 3, 32, 32)
    same_image = [torch.equal(a, b) for a, b in zip(first[0]["images"], first[1]["images"])]
    assert not any(same_image)  # ... augmented differently, image by image
    assert not torch.equal(first[0]["targets"], first[1]["targets"])  # and mixed differently


@pytest.mark.slow
def test_two_identical_runs_give_identical_weights(deferred_runs: list[Path]) -> None:
    first, second = deferred_runs
    for rank in range(2):
        a, b = _weights(first, rank), _weights(second, rank)
        for key, value in a.items():
            assert torch.equal(value, b[key]), (rank, key)
    ha = checkpoint.load_checkpoint(first / "out" / "last.pt")["history"][0]
    hb = checkpoint.load_checkpoint(second / "out" / "last.pt")["history"][0]
    assert ha["train_loss"] == hb["train_loss"] and ha["val_score"] == hb["val_score"]


@pytest.mark.slow
def test_deferred_stop_stops_every_process_alike(dataset: Path, tmp_path: Path) -> None:
    """``on_nonfinite: stop`` with the deferred check: both processes raise, with one message, and
    neither waits for the other (bounded by ``DEADLINE``)."""
    results = launch(tmp_path / "out", dataset, *DEFERRED, "--on-nonfinite", "stop")
    errors = []
    for rank, (code, log) in enumerate(results):
        assert code != 0, f"rank {rank} did not stop:\n{log[-3000:]}"
        found = re.findall(r"^(?:\[rank\d\]: )?FloatingPointError: (.*)$", log, flags=re.MULTILINE)
        assert len(found) == 1, f"rank {rank}:\n{log[-3000:]}"
        errors.append(found[0])
    assert errors[0] == errors[1]
    assert errors[0].startswith(
        f"non-finite training loss at epoch 1, step {NAN_STEP} (loss nan in 1 of 2 processes); "
    )
    assert not (tmp_path / "out" / "last.pt").exists()  # stopped within the first epoch
