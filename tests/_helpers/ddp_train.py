"""``train.py`` under torchrun, with every process but rank 0 forbidden to write its outputs.

Run as ``python -m torch.distributed.run ... tests/_helpers/ddp_train.py <train.py options>``.
On ranks > 0 an audit hook (:func:`sys.addaudithook`) watches every file opened for writing,
created, renamed or removed: anything under ``--out-dir`` raises ``PermissionError`` naming the
rank and the path, so the run fails (and the test with it) if a non-main process writes there.

With ``SAMPLER_PROBE_DIR`` set, every process also records the indices its training sampler deals
in each epoch, as ``rank<r>-epoch<e>.json`` in that folder (outside ``--out-dir``). With
``NAN_LOSS_AT=R:S``, the loss of training step ``S`` (1-based, over the run) is NaN in process
``R`` only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def main(argv: list[str]) -> None:
    train = import_example("train")
    args = train.get_args_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
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
