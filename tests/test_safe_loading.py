"""Checkpoints and weights are never unpickled beyond torch's weights-only allowlist.

A file whose pickle would run code when loaded (an object whose ``__reduce__`` calls ``exec``,
here writing a marker file) must be refused by every entry point that reads checkpoints or
weights: ``load_checkpoint``, ``predict.py``, ``train.py --resume``, ``train.py --pretrained``
(timm's loader) and ``load_weights``; and the marker must not exist afterwards. A control
shows that the same file does write the marker when loaded unsafely, so the refusal is real.
safetensors files (which hold no code) load through both weight paths.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from _helpers.fashion_example import EXAMPLE_DIR, import_example
from _helpers.tiny_runs import REPO, TINY, make_tiny_dataset
from safetensors.torch import save_file

from imbalml.models import load_weights

train = import_example("train")
predict = import_example("predict")
checkpoint = import_example("checkpoint")
builders = import_example("builders")

REFUSED = r"UnpicklingError: Unsupported global: GLOBAL (builtins\.)?exec was not an allowed global by default"


class WritesMarker:
    """Unpickling this calls ``exec``: it creates the file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.path)!r}, 'w').close()",))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = make_tiny_dataset(
        tmp_path_factory.mktemp("safe") / "data", num_train=32, num_val=16, num_test=8
    )
    run = tmp_path_factory.mktemp("run")
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(run), *TINY, "--epochs", "1"]
    )
    train.main(args)
    return root, run


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "code-ran.txt"
    yield path
    assert not path.exists(), "unpickling ran code from the file"


def evil_checkpoint(run: Path, path: Path, marker: Path, where: str) -> Path:
    """A real ``last.pt`` with the code-running object hidden at ``where``."""
    state = checkpoint.load_checkpoint(run / "last.pt")
    payload = WritesMarker(marker)
    if where == "top":
        state["extra"] = payload
    elif where == "config":
        state["config"] = dict(state["config"], note=payload)
    else:  # inside the model's state dict
        state["model"] = dict(state["model"], **{"head.extra": payload})
    torch.save(state, path)
    return path


def test_control_the_payload_runs_when_loaded_unsafely(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    flag = tmp_path / "control.txt"
    path = evil_checkpoint(finished[1], tmp_path / "evil.pt", flag, "top")
    torch.load(path, weights_only=False)  # what these scripts must never do
    assert flag.exists()


@pytest.mark.parametrize("where", ["top", "config", "model"])
def test_load_checkpoint_refuses(
    finished: tuple[Path, Path], tmp_path: Path, marker: Path, where: str
) -> None:
    path = evil_checkpoint(finished[1], tmp_path / "evil.pt", marker, where)
    with pytest.raises(
        ValueError,
        match=rf"Checkpoint .*evil\.pt could not be loaded safely \(weights_only=True\): {REFUSED}",
    ):
        checkpoint.load_checkpoint(path)


def test_predict_refuses(finished: tuple[Path, Path], tmp_path: Path, marker: Path) -> None:
    root, run = finished
    path = evil_checkpoint(run, tmp_path / "best_score.pt", marker, "config")
    args = predict.get_args_parser().parse_args(
        [str(path), "--data-root", str(root), "--workers", "0"]
    )
    with pytest.raises(
        ValueError,
        match=rf"best_score\.pt could not be loaded safely \(weights_only=True\): {REFUSED}",
    ):
        predict.main(args)
    assert not (tmp_path / "prediction.txt").exists()


def test_resume_refuses(finished: tuple[Path, Path], tmp_path: Path, marker: Path) -> None:
    root, run = finished
    path = evil_checkpoint(run, tmp_path / "last.pt", marker, "model")
    args = train.get_args_parser().parse_args(
        ["--data-root", str(root), "--out-dir", str(tmp_path / "out"), *TINY, "--epochs", "2",
         "--resume", str(path)]
    )  # fmt: skip
    with pytest.raises(
        ValueError, match=rf"last\.pt could not be loaded safely \(weights_only=True\): {REFUSED}"
    ):
        train.main(args)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def evil_weights(path: Path, marker: Path) -> Path:
    state: dict[str, Any] = dict(timm.create_model("test_van").state_dict())
    torch.save({"state_dict": state, "args": WritesMarker(marker)}, path)
    return path


def test_load_weights_refuses(tmp_path: Path, marker: Path) -> None:
    path = evil_weights(tmp_path / "van.pth", marker)
    with pytest.raises(
        ValueError, match=rf"Could not read a checkpoint from '.*van\.pth' \({REFUSED}\)"
    ):
        load_weights(timm.create_model("test_van"), path)


def test_pretrained_option_refuses(tmp_path: Path, marker: Path) -> None:
    """``--pretrained FILE`` goes through :func:`imbalml.models.load_weights` (weights_only=True)."""
    path = evil_weights(tmp_path / "van.pth", marker)
    config = train.resolve_config(
        train.get_args_parser().parse_args([*TINY, "--pretrained", str(path)])
    )
    groups = train.AttributeGroups([7, 3, 3, 4, 6, 3])
    with pytest.raises(
        ValueError,
        match=r"^--pretrained: Could not read a checkpoint from '.*van\.pth' \(UnpicklingError: Unsupported global: "
        r"GLOBAL exec was not an allowed global by default\)$",
    ):
        builders.build_model(config, groups)


def test_safetensors_weights_load_both_ways(tmp_path: Path) -> None:
    source = timm.create_model("test_van", num_classes=0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    path = tmp_path / "van.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = timm.create_model("test_van", num_classes=0)
    assert load_weights(model, path).layout == "imbalml"
    config = train.resolve_config(
        train.get_args_parser().parse_args([*TINY, "--pretrained", str(path)])
    )
    built = builders.build_model(config, train.AttributeGroups([7, 3, 3, 4, 6, 3]))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
        assert torch.equal(built.backbone.state_dict()[key], value), key


def torch_load_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
    ]  # fmt: skip


def test_every_torch_load_in_the_code_is_weights_only() -> None:
    """A static guard: each ``torch.load(...)`` in src/ and the example passes weights_only=True."""
    files = [*sorted((REPO / "src").rglob("*.py")), *sorted(EXAMPLE_DIR.rglob("*.py"))]
    found = 0
    for path in files:
        for call in torch_load_calls(path):
            found += 1
            flags = {k.arg: k.value for k in call.keywords}
            value = flags.get("weights_only")
            assert isinstance(value, ast.Constant) and value.value is True, f"{path}:{call.lineno}"
    assert found >= 2  # load_checkpoint and load_weights at least
