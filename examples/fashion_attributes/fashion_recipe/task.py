"""The fashion-attribute task as data: groups, attribute names, training counts.

Everything the example knows about the course data lives here (see ``RECIPE.md``): 6 attribute
groups of 7, 3, 3, 4, 6 and 3 attributes, 26 in all, and the training-set count of each attribute
(5000 images). The rest of the example takes :data:`FASHION_GROUPS` and never hard-codes sizes.

>>> FASHION_GROUPS
AttributeGroups(pattern=7, sleeve=3, length=3, neckline=4, fabric=6, fit=3; C=26)
>>> [sum(TRAIN_COUNTS[s]) for s in FASHION_GROUPS.slices] == [NUM_TRAIN] * 6
True
"""

from __future__ import annotations

from imbalml import AttributeGroups

__all__ = [
    "ATTRIBUTES",
    "FASHION_GROUPS",
    "GROUP_NAMES",
    "MAJORITY_LABELS",
    "NUM_TEST",
    "NUM_TRAIN",
    "NUM_VAL",
    "TRAIN_COUNTS",
]

#: Split sizes of the course data.
NUM_TRAIN, NUM_VAL, NUM_TEST = 5000, 1000, 1000

#: Per group: its name and ``(attribute name, training count)`` in index order.
ATTRIBUTES: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    (
        "pattern",
        (
            ("floral", 768),
            ("graphic", 853),
            ("striped", 334),
            ("embroidered", 422),
            ("pleated", 109),
            ("solid", 2408),
            ("lattice", 106),
        ),
    ),
    ("sleeve", (("long_sleeve", 1523), ("short_sleeve", 862), ("sleeveless", 2615))),
    ("length", (("maxi_length", 488), ("mini_length", 951), ("no_dress", 3561))),
    (
        "neckline",
        (
            ("crew_neckline", 2086),
            ("v_neckline", 826),
            ("square_neckline", 19),
            ("no_neckline", 2069),
        ),
    ),
    (
        "fabric",
        (
            ("denim", 310),
            ("chiffon", 702),
            ("cotton", 3399),
            ("leather", 105),
            ("faux", 48),
            ("knit", 436),
        ),
    ),
    ("fit", (("tight", 749), ("loose", 279), ("conventional", 3972))),
)

#: Group names (the course numbers them 1-6).
GROUP_NAMES: tuple[str, ...] = tuple(name for name, _ in ATTRIBUTES)

#: The label layout of the task.
FASHION_GROUPS = AttributeGroups(
    [len(attrs) for _, attrs in ATTRIBUTES],
    names=GROUP_NAMES,
    attribute_names=[name for _, attrs in ATTRIBUTES for name, _ in attrs],
)

#: Training-set count of each attribute, in flat order (as :func:`imbalml.label_counts` returns).
TRAIN_COUNTS: tuple[int, ...] = tuple(count for _, attrs in ATTRIBUTES for _, count in attrs)

#: Majority attribute per group on train+val, the report's baseline (scores 6/26 = 0.2308).
MAJORITY_LABELS: tuple[int, ...] = (5, 2, 2, 3, 2, 2)
