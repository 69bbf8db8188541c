"""The fashion example (``examples/fashion_attributes``) as the benchmarks use it.

Imports the example's modules, writes the synthetic stand-in dataset once per size (in parallel),
and builds the report's configuration with overrides.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "fashion_attributes"


def _module(name: str) -> ModuleType:
    """``fashion_recipe.<name>``, the package loaded from its folder (``sys.path`` untouched)."""
    if "fashion_recipe" not in sys.modules:
        package = EXAMPLE / "fashion_recipe"
        spec = importlib.util.spec_from_file_location(
            "fashion_recipe", package / "__init__.py", submodule_search_locations=[str(package)]
        )
        assert spec is not None and spec.loader is not None
        sys.modules["fashion_recipe"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["fashion_recipe"])
    return importlib.import_module(f"fashion_recipe.{name}")


augment = _module("augment")
builders = _module("builders")
config_mod = _module("config")
pipeline = _module("pipeline")
synthetic = _module("synthetic")
train = _module("training")
runtime = _module("runtime")

__all__ = ["add_data_arguments", "augment", "builders", "config_for", "config_mod", "dataset_for", "pipeline", "report_config", "runtime",
           "synthetic_root", "train"]


def synthetic_root(
    base: Path,
    *,
    num_train: int,
    num_val: int,
    num_test: int = 8,
    image_size: int = 300,
    workers: int = 0,
) -> Path:
    """The synthetic dataset of these sizes under ``base``, generated on first use.

    ``workers=0`` uses every usable core. A ``.complete`` file marks a finished dataset.
    """
    root = Path(base) / f"fashion-{num_train}-{num_val}-{num_test}-{image_size}px"
    if not (root / ".complete").is_file():
        workers = workers or len(os.sched_getaffinity(0))
        start = time.perf_counter()
        synthetic.make_synthetic_dataset(
            root,
            num_train=num_train,
            num_val=num_val,
            num_test=num_test,
            image_size=image_size,
            overwrite=True,
            workers=workers,
        )
        (root / ".complete").write_text("")
        total = num_train + num_val + num_test
        print(
            f"generated {total} synthetic images in {root} ({time.perf_counter() - start:.1f} s, {workers} workers)"
        )
    return root


def report_config(**overrides: Any) -> dict[str, Any]:
    """The report's recipe (``configs/report.yaml``) with ``overrides``, checked as the example does."""
    config = dict(config_mod.DEFAULTS)
    config.update(config_mod.load_yaml(EXAMPLE / "configs" / "report.yaml"))
    config.update(pretrained="none")  # nothing to download; speed does not depend on the weights
    config.update(overrides)
    config_mod.check_config(config, "benchmark")
    return config


def add_data_arguments(parser: argparse.ArgumentParser, *, num_train: int, num_val: int) -> None:
    """The options of the synthetic dataset and its batches that every example benchmark takes."""
    parser.add_argument("--num-train", type=int, default=num_train, help="training images of the synthetic set")
    parser.add_argument("--num-val", type=int, default=num_val, help="its validation images")
    parser.add_argument("--source-size", type=int, default=300, help="long side of its JPEGs (the course's: ~300)")
    parser.add_argument("--image-size", type=int, default=224, help="crop (the report: 224)")
    parser.add_argument("--resize-size", type=int, default=256, help="short side before the crop (the report: 256)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (the report: 64)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "bench", help="where the datasets are cached")


def dataset_for(args: argparse.Namespace) -> Path:
    """Apply ``--threads`` and return the synthetic dataset the options of :func:`add_data_arguments` name."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return synthetic_root(args.data_dir, num_train=args.num_train, num_val=args.num_val, image_size=args.source_size)


def config_for(args: argparse.Namespace, root: Path, **overrides: Any) -> dict[str, Any]:
    """:func:`report_config` on ``root`` with the batch options of :func:`add_data_arguments`, then ``overrides``."""
    options = {"data_root": str(root), "workers": args.workers, "batch_size": args.batch_size,
               "image_size": args.image_size, "resize_size": args.resize_size}
    return report_config(**{**options, **overrides})
