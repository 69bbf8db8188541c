"""Shared by the benchmark scripts: timing, the machine's description, RESULTS.md sections.

Each script measures its candidates and its baseline in the same run, prints a table and writes it
as one section of ``benchmarks/RESULTS.md`` (replacing that section's previous version), headed by
the command, the machine, the library versions and the date::

    <!-- section: bench_metrics cpu -->
    ...
    <!-- end: bench_metrics cpu -->
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from imbalml.data import atomic_write

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
TITLE = "# imbalml benchmark results\n\nWritten by the scripts in `benchmarks/` (one section each, replaced on every run).\n"
PACKAGES = (
    "imbalml",
    "torch",
    "torchvision",
    "timm",
    "torchmetrics",
    "scikit-learn",
    "numpy",
    "pillow",
)


# ----------------------------------------------------------------------------------- timing
def round_robin(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int = 7,
    target_s: float = 0.05,
    sync: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per call of each candidate, measured round-robin.

    Each candidate is calibrated to a number of calls taking about ``target_s``; then ``repeats``
    rounds time every candidate in turn, so load that comes and goes on a shared machine hits
    them alike (each ratio compares times from the same rounds). ``clock`` may be
    ``time.thread_time`` for single-threaded CPU work (blind to other processes' load).
    """
    inner: dict[str, int] = {}
    for name, fn in candidates.items():
        fn()
        sync()
        start = clock()
        fn()
        sync()
        once = max(clock() - start, 1e-7)
        inner[name] = max(1, min(10_000, int(target_s / once)))
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = clock()
            for _ in range(inner[name]):
                fn()
            sync()
            times[name].append((clock() - start) / inner[name])
    return {name: statistics.median(t) for name, t in times.items()}


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` (``cpu``, ``cuda`` or ``all``) and ``--threads`` (torch CPU threads)."""
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def selected_devices(args: argparse.Namespace) -> list[torch.device]:
    """Apply ``--threads`` and return the ``--device`` choice (CUDA only when available)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    return devices


def synchronizer(device: torch.device | str) -> Callable[[], None]:
    """``torch.cuda.synchronize`` for a CUDA device, a no-op otherwise."""
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)


# ----------------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device | str | None = None) -> str:
    """One line: CPU, cores usable, torch threads, GPU (when ``device`` is CUDA), OS, Python."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"CPU {_cpu_model()} ({cores} cores usable, {torch.get_num_threads()} torch threads)"]
    if device is not None and torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        parts.append(
            f"GPU {props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
        )
    parts.append(f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    return "; ".join(parts)


def versions(extra: Sequence[str] = ()) -> str:
    """Installed versions of the packages the benchmarks touch."""
    out = []
    for name in (*PACKAGES, *extra):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


# ----------------------------------------------------------------------------------- output
def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--results`` (the file, or ``none``) and ``--note`` (a line about the conditions)."""
    parser.add_argument(
        "--results",
        default=str(RESULTS),
        help="Markdown file to update, or 'none' (default: %(default)s)",
    )
    parser.add_argument(
        "--note", default="", help="a line on the conditions, written with the results"
    )


def write_section(
    name: str,
    body: str,
    args: argparse.Namespace,
    *,
    device: torch.device | str | None = None,
    extra_packages: Sequence[str] = (),
) -> None:
    """Replace (or append) the section ``name`` of the results file, unless ``--results none``."""
    if str(args.results).lower() == "none":
        return
    path = Path(args.results)
    command = " ".join(["python", *sys.argv])
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"## {name}",
        "",
        f"- command: `{command}`",
        f"- date: {when}",
        f"- machine: {machine(device)}",
        f"- versions: {versions(extra_packages)}",
    ]
    if args.note:
        head.append(f"- note: {args.note}")
    section = "\n".join(head) + "\n\n" + body.strip() + "\n"
    begin, end = f"<!-- section: {name} -->", f"<!-- end: {name} -->"
    text = path.read_text() if path.is_file() else TITLE
    block = f"{begin}\n{section}{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with atomic_write(path, encoding="utf-8") as f:
        f.write(text)
    print(f"\nwrote section '{name}' of {path}")
