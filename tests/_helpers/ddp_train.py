"""``train.py`` under torchrun, with every process but rank 0 forbidden to write its outputs.

Run as ``python -m torch.distributed.run ... tests/_helpers/ddp_train.py <train.py options>``.
On ranks > 0 an audit hook (:func:`sys.addaudithook`) watches every file opened for writing,
created, renamed or removed: anything under ``--out-dir`` raises ``PermissionError`` naming the
rank and the path, so the run fails (and the test with it) if a non-main process writes there.

With ``SAMPLER_PROBE_DIR`` set, every process also records the indices its training sampler deals
in each epoch, as ``rank<r>-epoch<e>.json`` in that folder (outside ``--out-dir``). With
``NAN_LOSS_AT=R:S``, the loss of training step ``S`` (1-based, over the run) is NaN in process
``R`` only. With ``SAME_ORDER=1`` every process is dealt the whole epoch in the same order (so that
two processes' batches differ only by their random draws). With ``PROBE_DIR`` set, every process
saves its first training batch of each epoch (``rank<r>-epoch<e>-batch0.pt``: images, soft
targets and the seed it was drawn from) and, when training ends, its model's weights
(``rank<r>-weights.pt``) in that folder.

Run it under ``torchrun``, or start the processes yourself with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (``train.py`` initialises the process
group from them), which lets a test read every process's output and wait with a deadline.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from _helpers.fashion_example import import_example  # noqa: E402
from _helpers.tiny_runs import NaNAtSteps  # noqa: E402

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _forbid_writes_under(folder: Path, rank: int) -> None:
    root = os.path.abspath(folder) + os.sep

    def inside(path: Any) -> bool:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return isinstance(path, (str, os.PathLike)) and (
            os.path.abspath(os.fspath(path)) + os.sep
        ).startswith(root)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            paths = [path] if writes else []
        elif event in ("os.rename", "os.remove", "os.mkdir", "os.rmdir", "os.truncate"):
            paths = [args[0], args[1]] if event == "os.rename" else [args[0]]
        else:
            return
        for p in paths:
            if inside(p):
                raise PermissionError(f"rank {rank} wrote to {p} ({event}): only rank 0 may")

    sys.addaudithook(hook)


def _record_sampler_indices(folder: Path, rank: int) -> None:
    pipeline = import_example("pipeline")
    real = pipeline._train_sampler

    def recording(*args: Any, **kwargs: Any) -> Any:
        sampler = real(*args, **kwargs)
        epoch = args[-1] if args else kwargs["epoch"]
        path = folder / f"rank{rank}-epoch{epoch}.json"
        path.write_text(json.dumps({"sampler": type(sampler).__name__, "indices": list(sampler)}))
        return sampler

    pipeline._train_sampler = recording


def _deal_the_same_order() -> None:
    pipeline = import_example("pipeline")
    real = pipeline._train_sampler

    def same_order(
        config: Any, dataset: Any, targets: Any, groups: Any, runtime: Any, epoch: int
    ) -> Any:
        alone = type("OneProcess", (), {"world_size": 1, "rank": 0})()
        return real(config, dataset, targets, groups, alone, epoch)

    pipeline._train_sampler = same_order


def _record_batches_and_weights(folder: Path, rank: int) -> None:
    pipeline = import_example("pipeline")
    train = import_example("train")
    real_build, real_finish = pipeline.build_data, train._finish

    def build_data(*args: Any, **kwargs: Any) -> Any:
        data = real_build(*args, **kwargs)
        make = data.make_train_batches

        def batches(epoch: int, seed: int) -> Any:
            for i, (images, targets) in enumerate(make(epoch, seed)):
                if i == 0:
                    torch.save({"images": images, "targets": targets, "seed": seed},
                               folder / f"rank{rank}-epoch{epoch}-batch0.pt")  # fmt: skip
                yield images, targets

        data.make_train_batches = batches
        return data

    def finish(config: Any, runtime: Any, model: Any, *args: Any) -> Any:
        torch.save(model.state_dict(), folder / f"rank{rank}-weights.pt")
        return real_finish(config, runtime, model, *args)

    pipeline.build_data, train._finish = build_data, finish


def main(argv: list[str]) -> None:
    train = import_example("train")
    args = train.get_args_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    if os.environ.get("SAME_ORDER") == "1":
        _deal_the_same_order()
    if os.environ.get("PROBE_DIR"):
        _record_batches_and_weights(Path(os.environ["PROBE_DIR"]), rank)
    if os.environ.get("SAMPLER_PROBE_DIR"):
        _record_sampler_indices(Path(os.environ["SAMPLER_PROBE_DIR"]), rank)
    if os.environ.get("NAN_LOSS_AT"):
        nan_rank, step = (int(v) for v in os.environ["NAN_LOSS_AT"].split(":"))
        if rank == nan_rank:
            builders = import_example("builders")
            real = builders.build_loss
            builders.build_loss = lambda *a, **k: NaNAtSteps(real(*a, **k), {step})
    if rank > 0:
        _forbid_writes_under(Path(args.out_dir), rank)
    train.main(args)


if __name__ == "__main__":
    main(sys.argv[1:])
