"""Atomic file writes: a reader (or a run killed mid-write) never sees half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    r"""Open a temporary file beside ``path``; on a clean exit, flush, fsync and rename it to ``path``.

    On any exception (or ``KeyboardInterrupt``) the temporary file is removed and ``path`` keeps
    its previous content, or stays absent. The result gets the permissions of a file made by
    ``open`` (``0o666`` less the umask), not the private ``0o600`` of ``tempfile.mkstemp``.

    Args:
        path: The file to write. Its folder must exist.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        **open_kwargs: Passed to :func:`os.fdopen` (``encoding``, ``newline``, ...).

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     target = pathlib.Path(tmp, "out.txt")
        ...     with atomic_write(target, encoding="utf-8") as f:
        ...         _ = f.write("done\n")
        ...     print(target.read_text())
        done
        <BLANKLINE>
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"Expected `mode` to be 'w' or 'wb', but got {mode!r}.")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Expected the folder of {path} to exist, but {path.parent} does not."
        )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
