"""The example's training loop: the deferred (GPU) non-finite check keeps the per-step semantics.

On CUDA, ``train_one_epoch`` reads no value back inside the step loop: a non-finite loss sets the
fused optimizer's ``found_inf`` flag on the device and the epoch's end reads the flags once. Fused
Adam runs on the CPU too, so the deferred path is exercised here by selecting it
(``nonfinite_check: deferred``), and compared with the per-step check that CPU runs use. The one
private hook it relies on (fused optimizers honour ``found_inf``) is probed, and an optimizer that
ignores the flag is refused. The CUDA-only tests check that the loop really runs without host
synchronisation (``torch.cuda.set_sync_debug_mode("error")``); the two-process runs are in
``tests/test_distributed_training.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from _helpers.fashion_example import import_example, synthetic
from torch import nn

from imbalml import AsymmetricLoss, AttributeGroups

train = import_example("train")
nonfinite = import_example("nonfinite")
config_mod = import_example("config")
pipeline = import_example("pipeline")
builders = import_example("builders")

GROUPS = AttributeGroups([7, 3, 3, 4, 6, 3])


def _batches(
    bad_steps: tuple[int, ...], n_steps: int = 5
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for step in range(n_steps):
        images = torch.randn(8, 3, 4, 4, generator=g)
        if step in bad_steps:
            images[2, 0, 0, 0] = float("nan")
        hard = torch.stack([torch.randint(0, k, (8,), generator=g) for k in GROUPS.sizes], 1)
        out.append((images, GROUPS.to_one_hot(hard)))
    return out


def _run(
    monkeypatch: pytest.MonkeyPatch, deferred: bool, on_nonfinite: str, bad_steps: tuple[int, ...]
):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, GROUPS.num_attributes)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=3e-4, fused=True)
    runtime = train.Runtime({"device": "cpu", "amp": "off"})
    criterion = AsymmetricLoss(GROUPS, reduction="sum", validate_args=False)
    config = {
        "channels_last": False,
        "on_nonfinite": on_nonfinite,
        "nonfinite_check": "deferred" if deferred else "step",
    }
    assert train.defer_nonfinite_check(runtime, optimizer, config["nonfinite_check"]) == deferred
    result = train.train_one_epoch(
        model, criterion, _batches(bad_steps), optimizer, runtime, GROUPS, 0, config
    )
    return model, optimizer, result


@pytest.mark.parametrize("bad_steps", [(), (2,), (1, 3)])
def test_deferred_skip_equals_per_step_skip(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, bad_steps: tuple[int, ...]
) -> None:
    with caplog.at_level(logging.WARNING, logger="fashion"):
        model_a, opt_a, res_a = _run(monkeypatch, False, "skip", bad_steps)
        per_step_log = caplog.text
        caplog.clear()
        model_b, opt_b, res_b = _run(monkeypatch, True, "skip", bad_steps)
        deferred_log = caplog.text
    assert res_a["skipped_steps"] == res_b["skipped_steps"] == len(bad_steps)
    assert res_a["train_loss"] == pytest.approx(res_b["train_loss"], rel=1e-12)
    assert res_a["train_score"] == res_b["train_score"]
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(opt_a.state.values(), opt_b.state.values()):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(a[key], b[key]), key
    assert not hasattr(opt_b, "found_inf")
    if bad_steps:
        first = f"epoch 1, step {bad_steps[0] + 1} (loss nan"
        assert "skipping step: non-finite training loss at " + first in per_step_log
        assert "skipping step: non-finite training loss at " + first in deferred_log
        if len(bad_steps) > 1:
            assert f"{len(bad_steps) - 1} later step(s) of this epoch too" in deferred_log
    else:
        assert per_step_log == deferred_log == ""


@pytest.mark.parametrize("deferred", [False, True])
def test_nonfinite_stop_names_the_first_step(
    monkeypatch: pytest.MonkeyPatch, deferred: bool
) -> None:
    with pytest.raises(
        FloatingPointError,
        match=r"non-finite training loss at epoch 1, step 2 \(loss nan.*--on-nonfinite skip",
    ):
        _run(monkeypatch, deferred, "stop", (1, 3))


def test_deferred_check_only_with_cuda_fused_and_no_scaler() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    fused = torch.optim.Adam(params, fused=True)
    plain = torch.optim.Adam(params)
    off = SimpleNamespace(is_enabled=lambda: False)
    on = SimpleNamespace(is_enabled=lambda: True)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert train.defer_nonfinite_check(SimpleNamespace(device=cuda, scaler=off), fused)
    assert not train.defer_nonfinite_check(SimpleNamespace(device=cuda, scaler=off), plain)
    assert not train.defer_nonfinite_check(SimpleNamespace(device=cuda, scaler=on), fused)
    assert not train.defer_nonfinite_check(SimpleNamespace(device=cpu, scaler=off), fused)
    # selected explicitly: "step" never defers, "deferred" does on any device
    assert not train.defer_nonfinite_check(SimpleNamespace(device=cuda, scaler=off), fused, "step")
    assert train.defer_nonfinite_check(SimpleNamespace(device=cpu, scaler=off), fused, "deferred")


class _IgnoresFoundInf(torch.optim.Adam):
    """A fused Adam that claims the AMP hook but steps whatever the flag says (a future torch)."""

    def step(self, closure=None):  # type: ignore[override]
        self.__dict__.pop("found_inf", None)
        return super().step(closure)


def test_found_inf_hook_is_probed_not_assumed() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    assert nonfinite.skips_step_on_found_inf(torch.optim.Adam(params, fused=True))
    assert not nonfinite.skips_step_on_found_inf(torch.optim.Adam(params))  # no hook: per step
    ignoring = _IgnoresFoundInf(params, fused=True)
    assert ignoring._step_supports_amp_scaling  # it claims the hook ...
    assert not nonfinite.skips_step_on_found_inf(ignoring)  # ... and the probe finds it false
    off = SimpleNamespace(is_enabled=lambda: False)
    cuda = SimpleNamespace(device=torch.device("cuda"), scaler=off)
    assert not train.defer_nonfinite_check(cuda, ignoring)  # auto falls back to the per-step check
    with pytest.raises(
        ValueError,
        match=r"Expected --nonfinite-check deferred with a fused optimizer and no fp16 scaler, but "
        r"got a _IgnoresFoundInf that does not skip its step on a device flag \(not fused\); use "
        r"--nonfinite-check step or auto\.",
    ):
        train.defer_nonfinite_check(cuda, ignoring, "deferred")
    on = SimpleNamespace(
        device=torch.device("cpu"), scaler=SimpleNamespace(is_enabled=lambda: True)
    )
    with pytest.raises(ValueError, match=r"but got --amp fp16 \(its GradScaler checks"):
        train.defer_nonfinite_check(on, torch.optim.Adam(params, fused=True), "deferred")


def _run_scheduled(nonfinite_check: str, on_nonfinite: str, bad_steps: tuple[int, ...]):
    """Five steps of the loop with a per-batch schedule (the recipe's one-cycle)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, GROUPS.num_attributes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=5)
    runtime = train.Runtime({"device": "cpu", "amp": "off"})
    criterion = AsymmetricLoss(GROUPS, reduction="sum", validate_args=False)
    config = {
        "channels_last": False,
        "on_nonfinite": on_nonfinite,
        "nonfinite_check": nonfinite_check,
    }
    result = train.train_one_epoch(
        model, criterion, _batches(bad_steps), optimizer, runtime, GROUPS, 0, config, scheduler
    )
    return scheduler, optimizer, result


@pytest.mark.parametrize("check", ["step", "auto"])
def test_a_skipped_step_does_not_advance_a_per_step_schedule(check: str) -> None:
    scheduler, optimizer, result = _run_scheduled(check, "skip", (1, 3))
    assert result["skipped_steps"] == 2
    assert scheduler.last_epoch == 3  # three optimizer steps, three schedule steps
    reference = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-2)
    ref = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=1e-2, total_steps=5)
    for _ in range(3):
        reference.step()
        ref.step()
    assert optimizer.param_groups[0]["lr"] == reference.param_groups[0]["lr"]


def test_deferred_skip_with_a_per_step_schedule_is_refused() -> None:
    """Deferred, the host cannot know which steps were skipped: the schedule would run ahead."""
    with pytest.raises(
        ValueError,
        match=r"Expected --nonfinite-check step or auto with --on-nonfinite skip and a per-batch "
        r"schedule \(a skipped step does not advance it, .*\), but got --nonfinite-check deferred\.",
    ):
        _run_scheduled("deferred", "skip", (2,))
    scheduler, _, result = _run_scheduled("deferred", "stop", ())  # stop: deferral is still fine
    assert scheduler.last_epoch == 5 and result["skipped_steps"] == 0


def test_auto_checks_every_step_under_skip_with_a_per_step_schedule() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    fused = torch.optim.Adam(params, fused=True)
    cuda = SimpleNamespace(
        device=torch.device("cuda"), scaler=SimpleNamespace(is_enabled=lambda: False)
    )
    defer = train.defer_nonfinite_check
    assert not defer(cuda, fused, per_step_schedule=True, on_nonfinite="skip")
    assert defer(cuda, fused, per_step_schedule=True, on_nonfinite="stop")
    assert defer(cuda, fused, per_step_schedule=False, on_nonfinite="skip")


# --------------------------------------------------------------------------------- CUDA only
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loop") / "data"
    synthetic.make_synthetic_dataset(
        root, num_train=96, num_val=32, num_test=8, image_size=48, seed=2
    )
    return root


def _guarded(batches):
    """Yield the batches with CUDA syncs turned into errors from the second batch to the last."""
    try:
        for i, batch in enumerate(batches):
            if i == 1:
                torch.cuda.set_sync_debug_mode("error")
            yield batch
    finally:
        torch.cuda.set_sync_debug_mode("default")


@needs_cuda
@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_cuda_train_and_eval_loops_do_not_synchronise(
    tiny_root: Path, amp: str
) -> None:  # pragma: no cover
    config = dict(
        config_mod.DEFAULTS,
        device="cuda",
        amp=amp,
        channels_last=True,
        pipeline="tensor",
        backbone="test_van",
        image_size=32,
        resize_size=36,
        batch_size=16,
        head_hidden=[16],
        workers=0,
    )
    runtime = train.Runtime(config)
    data = pipeline.build_data(config, tiny_root, runtime)
    model = builders.build_model(config, data.groups).to(
        runtime.device, memory_format=torch.channels_last
    )
    counts = torch.ones(data.groups.num_attributes)  # the grouped ASL uses no class statistics
    criterion = builders.build_loss(config, data.groups, counts, validate_args=runtime.check_values)
    optimizer = builders.build_optimizer(config, model, runtime.device)
    assert train.defer_nonfinite_check(runtime, optimizer)
    batches = _guarded(data.train_batches(0, 5))
    result = train.train_one_epoch(
        model, criterion.cuda(), batches, optimizer, runtime, data.groups, 0, config
    )
    assert result["skipped_steps"] == 0 and result["train_loss"] == result["train_loss"]
    val = train.evaluate(
        model, criterion, _guarded(iter(data.val_loader)), runtime, data.groups, config
    )
    assert len(val["preds"]) == 32


@needs_cuda
def test_cuda_deferred_skip_leaves_weights_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # pragma: no cover
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, GROUPS.num_attributes)).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    runtime = train.Runtime({"device": "cuda", "amp": "off"})
    assert train.defer_nonfinite_check(runtime, optimizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, target = _batches((0,), n_steps=1)[0]
    criterion = AsymmetricLoss(GROUPS, reduction="sum", validate_args=False)
    result = train.train_one_epoch(
        model,
        criterion,
        [(images.cuda(), target.cuda())],
        optimizer,
        runtime,
        GROUPS,
        0,
        {"channels_last": False, "on_nonfinite": "skip"},
    )
    assert result["skipped_steps"] == 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
