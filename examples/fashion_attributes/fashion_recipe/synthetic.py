"""A synthetic stand-in for the fashion-attribute data, in exactly the course layout.

The course images cannot be redistributed, so everything that runs here trains on pictures drawn
by this module: a figure (head, arms, legs) wearing one garment whose look follows its 6 labels.

* **pattern**: floral (small flowers), graphic (one large print on the chest), striped
  (horizontal bands), embroidered (ornamental rows at neckline and hem), pleated (dense vertical
  folds), solid (nothing), lattice (a diagonal grid);
* **sleeve**: long sleeves to the wrist, short sleeves, or bare shoulders with straps;
* **length**: a maxi skirt, a mini skirt, or a top only over trousers (``no_dress``);
* **neckline**: a round (crew) cut, a V cut, a square cut, or a high collar (``no_neckline``);
* **fabric**: denim (blue twill), chiffon (pale, see-through), cotton (flat colour), leather (dark
  with glossy highlights), faux fur (strong speckle), knit (chevron rib);
* **fit**: garment width relative to the body: tight, loose, or conventional.

Nuisance that the model has to ignore: background colour and gradient, figure position, scale and
rotation (up to 6 degrees), skin, hair and trouser colours, garment colours within each fabric, pixel noise and
JPEG compression.

Labels follow the training proportions of the course data (``task.TRAIN_COUNTS``), group by
group and independently across groups: each split holds ``round(n * proportion)`` images of each
attribute (largest remainder, at least one of each when ``n`` allows), in random order. With
``num_train=5000`` the training counts equal the course's exactly. Everything is deterministic
in ``seed``: the same seed gives byte-identical label files and images.

Run ``python examples/fashion_attributes/synthetic.py --help``.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imbalml import AttributeGroups

from .drawing import render_image
from .task import FASHION_GROUPS, NUM_TEST, NUM_TRAIN, NUM_VAL, TRAIN_COUNTS

__all__ = [
    "get_args_parser",
    "main",
    "make_synthetic_dataset",
    "render_image",
    "sample_labels",
    "split_counts",
]

logger = logging.getLogger("synthetic")

SPLITS = ("train", "val", "test")
MIN_IMAGE_SIZE = 32


# ------------------------------------------------------------------------------------ labels
def split_counts(num_samples: int, counts: Sequence[int]) -> list[int]:
    """Share ``num_samples`` among attributes in proportion to ``counts`` (largest remainder).

    Every attribute gets at least one sample when ``num_samples >= len(counts)`` (taken from the
    largest). Ties in the remainders go to the lower index, so the result is deterministic.

    >>> split_counts(5000, [749, 279, 3972])
    [749, 279, 3972]
    >>> split_counts(10, [2086, 826, 19, 2069])
    [3, 2, 1, 4]
    """
    total = sum(counts)
    shares = [num_samples * c // total for c in counts]
    remainders = [num_samples * c % total for c in counts]  # exact integers: no float ties
    order = sorted(range(len(counts)), key=lambda k: (-remainders[k], k))
    for k in order[: num_samples - sum(shares)]:
        shares[k] += 1
    if num_samples >= len(counts):
        for k in range(len(counts)):
            if shares[k] == 0:
                shares[max(range(len(counts)), key=lambda j: (shares[j], -j))] -= 1
                shares[k] = 1
    return shares


def sample_labels(
    num_samples: int,
    rng: np.random.Generator,
    *,
    groups: AttributeGroups = FASHION_GROUPS,
    counts: Sequence[int] = TRAIN_COUNTS,
) -> np.ndarray:
    """Draw ``(num_samples, G)`` labels: per group, :func:`split_counts` of each attribute, shuffled.

    Groups are shuffled independently, so attributes of different groups are independent.

    >>> labels = sample_labels(1000, np.random.default_rng(0))
    >>> labels.shape, np.bincount(labels[:, 0]).tolist()
    ((1000, 6), [154, 171, 67, 84, 22, 481, 21])
    """
    columns = []
    for s, size in zip(groups.slices, groups.sizes):
        shares = split_counts(num_samples, counts[s])
        column = np.repeat(np.arange(size), shares)
        columns.append(rng.permutation(column))
    return np.stack(columns, 1).astype(np.int64)


# ------------------------------------------------------------------------------------ layout
def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_synthetic_dataset(
    root: str | Path,
    *,
    num_train: int = NUM_TRAIN,
    num_val: int = NUM_VAL,
    num_test: int = NUM_TEST,
    image_size: int = 300,
    seed: int = 0,
    overwrite: bool = False,
    test_labels: bool = False,
    workers: int = 1,
) -> Path:
    """Write a synthetic dataset in the course layout and return its root.

    Layout: ``img/00000.jpg`` ... (train, then val, then test, numbered consecutively),
    ``split/{train,val,test}.txt``, ``split/{train,val}_attr.txt`` (and ``test_attr.txt`` with
    ``test_labels=True``; the course withholds it) and ``split/list_attr_cloth.txt`` (group ids
    1-6). The labels of a split depend only on ``seed`` and its size; image ``i`` of a split only
    on ``seed``, the split, ``i`` and its labels.

    Args:
        root: Output folder (created if needed).
        num_train: Training images.
        num_val: Validation images.
        num_test: Test images.
        image_size: Image height in pixels, the long side (width ``round(0.75 * image_size)``).
        seed: Seed of every random choice.
        overwrite: Replace existing ``img/`` and ``split/`` folders under ``root`` (nothing else
            is touched); otherwise their presence is an error.
        test_labels: Also write ``split/test_attr.txt``.
        workers: Processes that render and save the images (the files are the same for any
            number: each image has its own random stream).

    Raises:
        ValueError: If a count is negative, ``num_train`` or ``num_val`` is 0, ``image_size`` is
            below 32 or ``seed`` is negative.
        FileExistsError: If ``root/img`` or ``root/split`` exists and ``overwrite`` is false.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_synthetic_dataset(tmp, num_train=20, num_val=8, num_test=4, image_size=48)
    ...     sorted(p.name for p in (root / "split").iterdir())
    ['list_attr_cloth.txt', 'test.txt', 'train.txt', 'train_attr.txt', 'val.txt', 'val_attr.txt']
    """
    sizes = {"train": num_train, "val": num_val, "test": num_test}
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < (0 if name == "test" else 1):
            low = 0 if name == "test" else 1
            raise ValueError(f"Expected `num_{name}` to be an int >= {low}, but got {n!r}.")
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, int)
        or image_size < MIN_IMAGE_SIZE
    ):
        raise ValueError(
            f"Expected `image_size` to be an int >= {MIN_IMAGE_SIZE}, but got {image_size!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Expected `seed` to be a non-negative int, but got {seed!r}.")
    root = Path(root)
    existing = [root / sub for sub in ("img", "split") if (root / sub).exists()]
    if existing:
        if not overwrite:
            raise FileExistsError(
                f"Expected no {' or '.join(str(p) for p in existing)} (pass overwrite=True / "
                "--overwrite to replace them), but it exists."
            )
        for path in existing:
            shutil.rmtree(path)
    (root / "img").mkdir(parents=True)
    (root / "split").mkdir()

    groups = FASHION_GROUPS
    _write_lines(
        root / "split" / "list_attr_cloth.txt",
        [str(groups.num_attributes), "attribute_name  attribute_type"]
        + [f"{name:<24}{g + 1}" for name, g in zip(groups.attribute_names, groups.attribute_group)],
    )
    total = sum(sizes.values())
    digits = max(5, len(str(total - 1)))
    index = 0
    jobs = []
    for code, split in enumerate(SPLITS):
        n = sizes[split]
        labels = sample_labels(n, np.random.default_rng([seed, 0, code]))
        paths = []
        for i in range(n):
            rel = f"img/{index:0{digits}d}.jpg"
            jobs.append((tuple(labels[i].tolist()), image_size, (seed, 1, code, i), str(root / rel)))
            paths.append(rel)
            index += 1
        _write_lines(root / "split" / f"{split}.txt", paths)
        if split != "test" or test_labels:
            _write_lines(
                root / "split" / f"{split}_attr.txt",
                [" ".join(map(str, row)) for row in labels.tolist()],
            )
    if workers > 1:
        with multiprocessing.Pool(workers) as pool:
            pool.map(_render_to_file, jobs, chunksize=8)
    else:
        for job in jobs:
            _render_to_file(job)
    return root


def _render_to_file(job: tuple[tuple[int, ...], int, tuple[int, ...], str]) -> None:
    labels, image_size, stream, path = job
    image = render_image(labels, image_size=image_size, rng=np.random.default_rng(list(stream)))
    image.save(path, format="JPEG", quality=90)


# ------------------------------------------------------------------------------------ CLI
def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write a synthetic fashion-attribute dataset in the course layout "
        "(img/, split/train.txt, train_attr.txt, ..., list_attr_cloth.txt)."
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--num-train", type=int, default=NUM_TRAIN, help="training images (%(default)s)"
    )
    parser.add_argument(
        "--num-val", type=int, default=NUM_VAL, help="validation images (%(default)s)"
    )
    parser.add_argument("--num-test", type=int, default=NUM_TEST, help="test images (%(default)s)")
    parser.add_argument(
        "--image-size", type=int, default=300, help="image height, the long side (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing img/ and split/")
    parser.add_argument("--test-labels", action="store_true", help="also write split/test_attr.txt")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes (%(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> Path:
    args = get_args_parser().parse_args(argv)
    start = time.perf_counter()
    root = make_synthetic_dataset(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        image_size=args.image_size,
        seed=args.seed,
        overwrite=args.overwrite,
        test_labels=args.test_labels,
        workers=args.workers,
    )
    total = args.num_train + args.num_val + args.num_test
    logger.info("wrote %d images to %s in %.1f s", total, root, time.perf_counter() - start)
    return root


def cli() -> None:
    """``python synthetic.py``: :func:`main` with logging, an error as one line and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        main()
    except (ValueError, FileExistsError) as err:
        sys.exit(f"error: {err}")

