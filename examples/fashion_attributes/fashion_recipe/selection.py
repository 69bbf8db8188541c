"""The selection split: where checkpoints are chosen and methods tuned when ``val`` has no labels.

The real course copy withholds ``split/val_attr.txt``: its ``val`` images are a held-out test,
scored outside the project. Checkpoint selection and tuning then happen on a stratified part of the
labelled training images (:func:`imbalml.data.stratified_split`, seeded, every attribute's share
kept on both sides, the rarest ones present in both where their counts allow). ``--holdout
FRACTION`` carves it even when ``val`` is labelled.

The split is stored with the run (``selection_split.json`` beside the outputs and inside every
checkpoint), so that ``--resume`` and ``predict.py --split selection`` use the same images.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from imbalml import AttributeGroups, label_counts
from imbalml.data import stratified_split

log = logging.getLogger("fashion")

#: Fraction of the training images held out when ``val`` has no labels and no ``holdout`` is set:
#: 1000 of the 5000 course images, the size of the course's own validation split.
DEFAULT_FRACTION = 0.2


@dataclass(frozen=True)
class Selection:
    """Which training images train and which select: sorted indices into ``split/train.txt``."""

    train: torch.Tensor
    select: torch.Tensor
    fraction: float
    seed: int

    def to_dict(self, paths: list[str]) -> dict[str, Any]:
        """A JSON-able record (indices and the image paths they name)."""
        return {"fraction": self.fraction, "seed": self.seed,
                "train": self.train.tolist(), "select": self.select.tolist(),
                "select_paths": [paths[i] for i in self.select.tolist()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> Selection:
        """The inverse of :meth:`to_dict`; a malformed record is an error naming ``source``."""
        try:
            train = torch.tensor(data["train"], dtype=torch.long)
            select = torch.tensor(data["select"], dtype=torch.long)
            fraction, seed = float(data["fraction"]), int(data["seed"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: expected a selection split record, but {exc!r}.") from exc
        return cls(train, select, fraction, seed)


def needs_selection(config: dict[str, Any], root: Path) -> bool:
    """Whether this run selects on a part of ``train``: asked for, or ``val`` has no labels."""
    return config["holdout"] is not None or not (root / "split" / "val_attr.txt").is_file()


def carve(targets: torch.Tensor, groups: AttributeGroups, fraction: float, seed: int) -> Selection:
    """A stratified selection split of ``fraction`` of the images (deterministic in ``seed``)."""
    split = stratified_split(targets, groups, test_size=fraction, seed=seed)
    return Selection(split.train, split.test, fraction, seed)


def selection_for_run(config: dict[str, Any], targets: torch.Tensor, groups: AttributeGroups,
                      paths: list[str], resumed: dict[str, Any] | None) -> Selection:
    """The run's selection split: the resumed checkpoint's, else carved from ``config``.

    A resumed run keeps its split (a changed ``holdout`` or ``holdout_seed`` is refused: it
    would select on images the first part of the run trained on).
    """
    fraction = config["holdout"] if config["holdout"] is not None else DEFAULT_FRACTION
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"Expected --holdout to be a fraction in (0, 1), but got {fraction}.")
    if resumed is not None:
        sel = Selection.from_dict(resumed, f"--resume {config['resume']}")
        if (sel.fraction, sel.seed) != (fraction, config["holdout_seed"]):
            raise ValueError(
                f"--resume {config['resume']}: the run selected on holdout={sel.fraction} "
                f"(holdout_seed {sel.seed}), but this run asks for holdout={fraction} "
                f"(holdout_seed {config['holdout_seed']}); resume with the same values."
            )
        if len(sel.train) + len(sel.select) != len(targets):
            raise ValueError(
                f"--resume {config['resume']}: its selection split covers "
                f"{len(sel.train) + len(sel.select)} training images, but the data has {len(targets)}."
            )
        return sel
    sel = carve(targets, groups, fraction, config["holdout_seed"])
    counts = label_counts(targets[sel.select], groups).positives
    rare = counts.argmin().item()
    log.info("selection split: %d of %d training images held out (holdout %.3g, seed %d), "
             "stratified; rarest attribute %s: %d there, %d left to train",
             len(sel.select), len(targets), fraction, sel.seed, groups.attribute_names[rare],
             counts[rare], int(label_counts(targets[sel.train], groups).positives[rare]))
    log.info("selection split counts per attribute: %s", counts.tolist())
    return sel


def write_selection(sel: Selection, paths: list[str], path: Path) -> None:
    """``selection_split.json`` beside the outputs."""
    path.write_text(json.dumps(sel.to_dict(paths)))
