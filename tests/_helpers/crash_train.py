"""``train.py`` in a child process that can stop at a chosen moment, for a test to SIGKILL it.

Run as ``python tests/_helpers/crash_train.py <train.py options>``. Environment:

* ``PAUSE_MARKER``: a file this process creates when it reaches the chosen moment; it then
  sleeps until it is killed.
* ``PAUSE_AT_STEP=E:S``: in epoch ``E`` (1-based), once ``S`` training steps are done (so in
  the middle of the epoch, with its optimizer state already changed).
* ``PAUSE_IN_SAVE=NAME:E``: while ``NAME`` (e.g. ``last.pt``) of epoch ``E`` is being written,
  after half of its bytes have reached the temporary file.

Without those variables it is ``train.py`` itself. Nothing else differs, so a run killed here
and resumed must end exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _helpers.fashion_example import import_example  # noqa: E402


def _pause(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    while True:  # until SIGKILL
        time.sleep(1)


def _pause_after_steps(batches: Iterable[Any], steps: int, marker: Path) -> Iterator[Any]:
    for i, batch in enumerate(batches):
        if i == steps:
            _pause(marker)
        yield batch


def main(argv: list[str]) -> None:
    train = import_example("train")
    marker = Path(os.environ.get("PAUSE_MARKER", "pause.marker"))
    if "PAUSE_AT_STEP" in os.environ:
        epoch_no, steps = (int(v) for v in os.environ["PAUSE_AT_STEP"].split(":"))
        real_epoch = train.train_one_epoch

        def train_one_epoch(model: Any, criterion: Any, batches: Any, *args: Any) -> Any:
            epoch = args[3]  # optimizer, runtime, groups, epoch, config
            if epoch + 1 == epoch_no:
                batches = _pause_after_steps(batches, steps, marker)
            return real_epoch(model, criterion, batches, *args)

        train.train_one_epoch = train_one_epoch
    if "PAUSE_IN_SAVE" in os.environ:
        name, epoch_text = os.environ["PAUSE_IN_SAVE"].split(":")
        real_save, real_mkstemp = torch.save, tempfile.mkstemp
        temporaries: dict[int, str] = {}  # open descriptor -> path (save_checkpoint uses mkstemp)

        def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
            fd, path = real_mkstemp(*args, **kwargs)
            temporaries[fd] = path
            return fd, path

        def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            target = temporaries.get(f.fileno(), "") if hasattr(f, "fileno") else ""
            if (
                isinstance(obj, dict)
                and obj.get("epoch") == int(epoch_text)
                and Path(target).name.startswith(f".{name}.")
            ):
                buffer = io.BytesIO()
                real_save(obj, buffer, *args, **kwargs)
                data = buffer.getvalue()
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                _pause(marker)
            real_save(obj, f, *args, **kwargs)

        torch.save = save
        tempfile.mkstemp = mkstemp
    train.main(train.get_args_parser().parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
