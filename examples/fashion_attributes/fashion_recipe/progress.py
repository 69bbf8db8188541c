"""Progress of a long loop: a tqdm bar on a terminal, plain log lines elsewhere.

One small helper for every loop of the example (training, evaluation, feature extraction)::

    for batch in progress(loader, total=len(loader), desc="epoch 3 train", mode=config["progress"]):
        ...

``mode`` is the ``--progress`` option: ``"auto"`` draws a tqdm bar when the stream (standard error
by default) is a terminal and logs plain lines otherwise; ``"on"`` always draws the bar, ``"off"``
neither. The plain lines go to the ``fashion`` logger at INFO, one every ``interval`` seconds, and a
last one when the loop ends if it logged any (a short loop stays silent), so a log file of a long
run shows where it is without one line per batch. The helper reads nothing from the items, so a
loop on a GPU gets no extra host synchronisation.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

log = logging.getLogger("fashion")

MODES = ("auto", "on", "off")

T = TypeVar("T")


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "",
    mode: str = "auto",
    *,
    stream: IO[str] | None = None,
    interval: float = 30.0,
) -> Iterator[T]:
    """Yield the items of ``iterable``, showing the loop's progress as ``mode`` says.

    Args:
        iterable: the loop's items, yielded unchanged and in order.
        total: the number of items, when known (default: ``len(iterable)`` if it has one).
        desc: what the loop does, the bar's or the log line's prefix.
        mode: ``"auto"`` (a bar when ``stream`` is a terminal, log lines otherwise), ``"on"`` (a
            bar) or ``"off"`` (nothing).
        stream: where the bar is drawn (default ``sys.stderr``).
        interval: seconds between two plain log lines.

    Returns:
        An iterator over the items of ``iterable``.

    Raises:
        ValueError: If ``mode`` is not one of ``"auto"``, ``"on"``, ``"off"``.

    Example:
        >>> import io
        >>> list(progress(range(3), desc="demo", mode="off"))
        [0, 1, 2]
        >>> bar = io.StringIO()
        >>> sum(progress(range(4), desc="demo", mode="on", stream=bar))
        6
        >>> "demo:" in bar.getvalue()
        True
    """
    if mode not in MODES:
        raise ValueError(f"Expected `mode` (--progress) in {MODES}, but got {mode!r}.")
    if mode == "off":
        return iter(iterable)
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    stream = sys.stderr if stream is None else stream
    if mode == "on" or _is_terminal(stream):
        from tqdm import tqdm

        return iter(
            tqdm(iterable, total=total, desc=desc, file=stream, dynamic_ncols=True, leave=False)
        )
    return _log_lines(iterable, total, desc, interval)


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _log_lines(iterable: Iterable[T], total: int | None, desc: str, interval: float) -> Iterator[T]:
    start = last = time.monotonic()
    done, logged = 0, False
    of = f"/{total}" if total is not None else ""
    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= interval:
            log.info("%s: %d%s (%.3g it/s)", desc, done, of, done / max(now - start, 1e-9))
            last, logged = now, True
    if logged:
        log.info("%s: done, %d%s in %.1f s", desc, done, of, time.monotonic() - start)
