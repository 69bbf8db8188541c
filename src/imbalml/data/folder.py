"""Read and write the attribute-folder layout (the fashion-attributes course layout).

The layout, rooted at one folder::

    root/
      img/00000.jpg ...             the images
      split/train.txt               image paths relative to root, one per line
      split/train_attr.txt          G space-separated 0-based attribute indices per line
      split/val.txt, val_attr.txt   the same for validation
      split/test.txt                test images; test_attr.txt is usually withheld
      split/list_attr_cloth.txt     line 1: attribute count; line 2: a header;
                                    then one line per attribute: ``<name> <group id>``

Every reader checks its input completely and names the file and the (1-based) line of the first
problem. Real copies of the data differ from the course's files in ways the readers accept: a
header line at the top of an image list or label file (``picture_filename``,
``category1 ... category6``; recognised, skipped and logged once per file), Windows line endings, a
UTF-8 byte-order mark, trailing spaces and tabs, and trailing blank lines. Anything else
malformed is an error; nothing is skipped silently.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from imbalml._layout_checks import check_groups, check_hard_target
from imbalml._validation import as_tensor, first_true, position
from imbalml.data.atomic import atomic_write
from imbalml.groups import AttributeGroups

__all__ = [
    "ATTRIBUTE_LIST",
    "AttributeImageDataset",
    "load_rgb",
    "read_attribute_list",
    "read_labels",
    "read_split",
    "write_predictions",
]

#: Path of the attribute list inside a dataset root.
ATTRIBUTE_LIST = "split/list_attr_cloth.txt"

_INT = re.compile(r"[+-]?[0-9]+")
_MAX_LISTED = 5

log = logging.getLogger(__name__)
_HEADERS_LOGGED: set[str] = set()


def _skip_header(lines: list[str], path: Path, is_header: bool) -> int:
    """Return 1 (and log it, once per file) when line 1 is a header, else 0."""
    if not (lines and is_header):
        return 0
    key = str(path.resolve())
    if key not in _HEADERS_LOGGED:
        _HEADERS_LOGGED.add(key)
        log.info("%s: line 1 is a header (%r), skipped", path, lines[0])
    return 1


def _is_label_header(line: str) -> bool:
    """A label file's header: words only, no integer (``category1 category2 ...``)."""
    tokens = line.split()
    return bool(tokens) and not any(_INT.fullmatch(t) for t in tokens)


def _is_path_header(lines: list[str]) -> bool:
    """An image list's header: a bare word (no folder, no file suffix) above paths that have one.

    ``picture_filename`` above ``img/00000.jpg`` is a header; a list whose every line is a bare
    name (or one line long) has none.
    """
    if len(lines) < 2 or not lines[0]:
        return False
    first, second = lines[0], lines[1]
    bare = "/" not in first and "\\" not in first and not Path(first).suffix
    return bare and ("/" in second or bool(Path(second).suffix))


def _read_lines(path: Path) -> list[str]:
    """Return the lines of a text file, stripped, without the trailing blank lines."""
    if not path.is_file():
        raise FileNotFoundError(f"Expected the file {path}, but it does not exist.")
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _parse_int(token: str, path: Path, lineno: int, what: str, line: str) -> int:
    if not _INT.fullmatch(token):
        raise ValueError(
            f"Expected {what} to be an integer on line {lineno} of {path}, "
            f"but got {token!r} (line: {line!r})."
        )
    return int(token)


def read_attribute_list(
    path: str | os.PathLike[str], *, group_names: Sequence[str] | None = None
) -> AttributeGroups:
    r"""Read an attribute list (``list_attr_cloth.txt``) into :class:`~imbalml.AttributeGroups`.

    Format: line 1 holds the number of attributes, line 2 a header (ignored), then one line per
    attribute, ``<attribute name> <group id>``, separated by any whitespace. The name is everything
    before the last token, so names may contain single spaces (runs of whitespace collapse to one).
    Group ids must be consecutive and non-decreasing, starting at 1 (the course layout) or 0.

    Args:
        path: The attribute list file.
        group_names: Names of the groups (the file does not name them); default ``"group0"``, ...

    Returns:
        The label layout, attributes in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the count line is not an integer or does not match the number of attribute
            lines, a line lacks a name or an integer group id, the ids are not consecutive, names
            repeat, or ``group_names`` has the wrong length. The message names the file and line.

    Example:
        >>> import tempfile, pathlib
        >>> from imbalml.data import read_attribute_list
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp, "list_attr_cloth.txt")
        ...     _ = path.write_text("5\nattribute_name attribute_type\n"
        ...                         "red 1\ngreen 1\nblue 1\nsmall 2\nlarge 2\n")
        ...     groups = read_attribute_list(path, group_names=["colour", "size"])
        >>> groups
        AttributeGroups(colour=3, size=2; C=5)
        >>> groups.attribute_names
        ('red', 'green', 'blue', 'small', 'large')
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise ValueError(
            f"Expected the attribute count on line 1 of {path}, but the file is empty."
        )
    tokens = lines[0].split()
    if len(tokens) != 1:
        raise ValueError(
            f"Expected the attribute count (one integer) on line 1 of {path}, but got {lines[0]!r}."
        )
    count = _parse_int(tokens[0], path, 1, "the attribute count", lines[0])
    if count < 2:
        raise ValueError(
            f"Expected an attribute count of at least 2 on line 1 of {path}, but got {count}."
        )
    body = lines[2:]
    if len(body) != count:
        raise ValueError(
            f"Expected {count} attribute lines after the header of {path} (line 1 says {count}), "
            f"but got {len(body)}" + (f" (lines 3-{len(lines)})." if body else ".")
        )
    names: list[str] = []
    ids: list[int] = []
    for lineno, line in enumerate(body, start=3):
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(
                f"Expected '<attribute name> <group id>' on line {lineno} of {path}, "
                f"but got {line!r}."
            )
        gid = _parse_int(parts[-1], path, lineno, "the group id", line)
        if not ids:
            if gid not in (0, 1):
                raise ValueError(
                    f"Expected the first group id on line {lineno} of {path} to be 1 (or 0), "
                    f"but got {gid}."
                )
        elif gid not in (ids[-1], ids[-1] + 1):
            raise ValueError(
                f"Expected group ids to be consecutive and non-decreasing: group id {ids[-1]} or "
                f"{ids[-1] + 1} on line {lineno} of {path}, but got {gid}."
            )
        names.append(" ".join(parts[:-1]))
        ids.append(gid)
    seen: dict[str, int] = {}
    for lineno, name in enumerate(names, start=3):
        if name in seen:
            raise ValueError(
                f"Expected unique attribute names in {path}, but {name!r} appears on lines "
                f"{seen[name]} and {lineno}."
            )
        seen[name] = lineno
    try:
        return AttributeGroups.from_assignments(names, ids, names=group_names)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{err} (reading {path})") from err


def read_labels(path: str | os.PathLike[str], groups: AttributeGroups) -> torch.Tensor:
    r"""Read a label file: one line per image, one 0-based attribute index per group.

    This is the format of ``train_attr.txt``, ``val_attr.txt`` and of ``prediction.txt``
    (see :func:`write_predictions`).

    Args:
        path: The label file.
        groups: The label layout; gives the number of columns and the range of each.

    Returns:
        A long tensor ``(N, G)``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is empty, a line is blank, has the wrong number of columns, a
            non-integer or an index outside its group. The message names the file and line.

    Example:
        >>> import tempfile, pathlib
        >>> from imbalml import AttributeGroups
        >>> from imbalml.data import read_labels
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp, "val_attr.txt")
        ...     _ = path.write_text("2 0\n0 1\n")
        ...     read_labels(path, AttributeGroups([3, 2]))
        tensor([[2, 0],
                [0, 1]])
    """
    check_groups(groups)
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise ValueError(f"Expected at least one label line in {path}, but the file is empty.")
    start = _skip_header(lines, path, _is_label_header(lines[0]))
    if start == len(lines):
        raise ValueError(
            f"Expected at least one label line in {path} after its header, but got none."
        )
    num_groups, sizes, group_names = groups.num_groups, groups.sizes, groups.names
    rows: list[list[int]] = []
    for lineno, line in enumerate(lines[start:], start=start + 1):
        tokens = line.split()
        if len(tokens) != num_groups:
            raise ValueError(
                f"Expected {num_groups} space-separated integers (one per attribute group) on "
                f"line {lineno} of {path}, but got {len(tokens)}: {line!r}."
            )
        row = []
        for col, token in enumerate(tokens):
            what = f"column {col + 1} (group {group_names[col]!r})"
            value = _parse_int(token, path, lineno, what, line)
            if not 0 <= value < sizes[col]:
                raise ValueError(
                    f"Expected {what} on line {lineno} of {path} to be an attribute index in "
                    f"[0, {sizes[col] - 1}], but got {value}."
                )
            row.append(value)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


def _read_paths(path: Path) -> list[str]:
    lines = _read_lines(path)
    if not lines:
        raise ValueError(f"Expected at least one image path in {path}, but the file is empty.")
    start = _skip_header(lines, path, _is_path_header(lines))
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line:
            raise ValueError(
                f"Expected an image path on every line of {path}, but line {lineno} is empty."
            )
    return lines[start:]


def read_split(
    root: str | os.PathLike[str],
    split: str,
    groups: AttributeGroups,
    *,
    require_labels: bool = False,
) -> tuple[list[str], torch.Tensor | None]:
    r"""Read the image paths and labels of one split (``split/<split>.txt`` and ``<split>_attr.txt``).

    Args:
        root: The dataset folder.
        split: The split name, e.g. ``"train"``, ``"val"`` or ``"test"``.
        groups: The label layout.
        require_labels: Raise if the split has no label file (instead of returning ``None``).

    Returns:
        ``(paths, labels)``: the image paths as written in the file (relative to ``root``) and a
        long tensor ``(N, G)``, or ``None`` when ``split/<split>_attr.txt`` does not exist.

    Raises:
        FileNotFoundError: If the path list (or, with ``require_labels``, the label file) is missing.
        ValueError: If a file is malformed (see :func:`read_labels`) or the label file does not
            have one line per image.

    Example:
        >>> import tempfile, pathlib
        >>> from imbalml import AttributeGroups
        >>> from imbalml.data import read_split
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     (pathlib.Path(tmp) / "split").mkdir()
        ...     _ = pathlib.Path(tmp, "split", "val.txt").write_text("img/0.jpg\nimg/1.jpg\n")
        ...     _ = pathlib.Path(tmp, "split", "val_attr.txt").write_text("2 0\n0 1\n")
        ...     _ = pathlib.Path(tmp, "split", "test.txt").write_text("img/2.jpg\n")
        ...     val = read_split(tmp, "val", AttributeGroups([3, 2]))
        ...     test = read_split(tmp, "test", AttributeGroups([3, 2]))
        >>> val
        (['img/0.jpg', 'img/1.jpg'], tensor([[2, 0],
                [0, 1]]))
        >>> test
        (['img/2.jpg'], None)
    """
    check_groups(groups)
    if not isinstance(split, str) or not split or "/" in split or "\\" in split:
        raise ValueError(f"Expected `split` to be a plain name such as 'train', but got {split!r}.")
    root = Path(root)
    list_path = root / "split" / f"{split}.txt"
    label_path = root / "split" / f"{split}_attr.txt"
    if not list_path.is_file():
        raise FileNotFoundError(
            f"Expected the image list of split {split!r} at {list_path}, but it does not exist."
        )
    paths = _read_paths(list_path)
    if not label_path.is_file():
        if require_labels:
            raise FileNotFoundError(
                f"Expected the labels of split {split!r} at {label_path}, but it does not exist."
            )
        return paths, None
    labels = read_labels(label_path, groups)
    if labels.shape[0] != len(paths):
        raise ValueError(
            f"Expected {label_path} to have one label line per image listed in {list_path} "
            f"({len(paths)}), but got {labels.shape[0]} lines."
        )
    return paths, labels


def load_rgb(path: str | os.PathLike[str]) -> Any:
    """Open an image with PIL, decode it fully and convert it to RGB.

    This is the default loader of :class:`AttributeImageDataset`. A truncated file is an error
    (unless PIL's global ``ImageFile.LOAD_TRUNCATED_IMAGES`` was switched on elsewhere).

    Args:
        path: The image file.

    Returns:
        A ``PIL.Image.Image`` in mode ``"RGB"``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If PIL cannot decode it (not an image, truncated), naming the path.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from imbalml.data import load_rgb
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     Image.new("L", (4, 3)).save(pathlib.Path(tmp, "a.png"))
        ...     image = load_rgb(pathlib.Path(tmp, "a.png"))
        >>> image.mode, image.size
        ('RGB', (4, 3))
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"Expected the image {path}, but it does not exist.") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"Could not decode the image {path}: {err}") from err


class AttributeImageDataset(Dataset):
    r"""Images of one split of the attribute-folder layout with their per-group labels.

    Item ``i`` is ``(image, labels)``: the image loaded by ``loader`` (default: PIL, RGB) and passed
    through ``transform``, and a long tensor ``(G,)`` of attribute indices, all ``-100``
    (``ignore_index``) when the split has no label file (a hidden test set).

    Args:
        root: The dataset folder.
        split: The split name (``"train"``, ``"val"``, ``"test"``).
        groups: The label layout; default: read from ``root/split/list_attr_cloth.txt`` with
            groups named ``"group0"``, ...
        transform: Callable applied to the loaded image.
        loader: Callable ``path -> image``; default opens with PIL and converts to RGB, raising
            ``ValueError`` naming the path for an unreadable file.
        check_files: Check at construction that every listed image exists.
        require_labels: Raise if the split has no label file.

    Attributes:
        root: The dataset folder as a :class:`~pathlib.Path`.
        split: The split name.
        groups: The label layout.
        paths: Image paths relative to ``root``, in file order.
        targets: Long tensor ``(N, G)``, or ``None`` for an unlabelled split.
        has_labels: Whether ``targets`` is not ``None``.

    Raises:
        FileNotFoundError: If a split file, the attribute list (when ``groups`` is ``None``) or,
            with ``check_files``, an image is missing (the first few missing are listed).
        ValueError: If a split file is malformed.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from imbalml.data import AttributeImageDataset
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     root = pathlib.Path(tmp)
        ...     for sub in ("img", "split"):
        ...         (root / sub).mkdir()
        ...     Image.new("L", (8, 6)).save(root / "img" / "0.jpg")
        ...     _ = (root / "split" / "list_attr_cloth.txt").write_text(
        ...         "4\nname group\nred 1\nblue 1\nsmall 2\nlarge 2\n")
        ...     _ = (root / "split" / "train.txt").write_text("img/0.jpg\n")
        ...     _ = (root / "split" / "train_attr.txt").write_text("1 0\n")
        ...     _ = (root / "split" / "test.txt").write_text("img/0.jpg\n")
        ...     train = AttributeImageDataset(root, "train")
        ...     test = AttributeImageDataset(root, "test", groups=train.groups)
        ...     image, labels = train[0]
        ...     _, test_labels = test[0]
        >>> len(train), image.mode, image.size, labels
        (1, 'RGB', (8, 6), tensor([1, 0]))
        >>> test.has_labels, test_labels
        (False, tensor([-100, -100]))
    """

    ignore_index = -100

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        groups: AttributeGroups | None = None,
        transform: Callable[[Any], Any] | None = None,
        loader: Callable[[Path], Any] | None = None,
        check_files: bool = True,
        require_labels: bool = False,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"Expected the dataset folder {self.root}, but it does not exist."
            )
        self.split = split
        if groups is None:
            list_path = self.root / ATTRIBUTE_LIST
            if not list_path.is_file():
                raise FileNotFoundError(
                    f"Expected the attribute list at {list_path} (or pass `groups=`), "
                    "but it does not exist."
                )
            groups = read_attribute_list(list_path)
        self.groups = check_groups(groups)
        for name, value in (("transform", transform), ("loader", loader)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"Expected `{name}` to be callable or None, but got {type(value).__name__}."
                )
        self.transform = transform
        self.loader: Callable[[Path], Any] = load_rgb if loader is None else loader
        self.paths, self.targets = read_split(
            self.root, split, self.groups, require_labels=require_labels
        )
        if check_files:
            self._check_files()

    def _check_files(self) -> None:
        missing = [(i, p) for i, p in enumerate(self.paths) if not (self.root / p).is_file()]
        if missing:
            listed = ", ".join(f"{p} (line {i + 1})" for i, p in missing[:_MAX_LISTED])
            more = f", and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
            raise FileNotFoundError(
                f"Expected the {len(self.paths)} images listed in "
                f"{self.root / 'split' / f'{self.split}.txt'} to exist under {self.root}, "
                f"but {len(missing)} are missing: {listed}{more}."
            )

    @property
    def has_labels(self) -> bool:
        """Whether the split has labels."""
        return self.targets is not None

    def image_path(self, index: int) -> Path:
        """Full path of image ``index``."""
        return self.root / self.paths[index]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        image = self.loader(self.image_path(index))
        if self.transform is not None:
            image = self.transform(image)
        if self.targets is None:
            labels = torch.full((self.groups.num_groups,), self.ignore_index, dtype=torch.long)
        else:
            labels = self.targets[index].clone()
        return image, labels

    def __repr__(self) -> str:
        labelled = "labelled" if self.has_labels else "unlabelled"
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"{len(self)} images, {labelled}, {self.groups!r})"
        )


def write_predictions(
    path: str | os.PathLike[str], preds: Any, *, groups: AttributeGroups | None = None
) -> Path:
    """Write hard predictions as ``prediction.txt``: one line per image, G integers.

    The file is written atomically (:func:`~imbalml.data.atomic_write`: a temporary file in the
    same folder, then ``os.replace``), so a reader never sees a partial file.

    Args:
        path: The output file.
        preds: Integer attribute indices ``(N, G)`` (tensor or numpy array), e.g. from
            :meth:`~imbalml.AttributeGroups.argmax`.
        groups: If given, also check that ``G == groups.num_groups`` and each index fits its group.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: If the folder of ``path`` does not exist.
        TypeError: If ``preds`` is not an integer tensor or array.
        ValueError: If ``preds`` is not 2-D with at least one row and column, holds negative
            values, or (with ``groups``) does not fit the layout.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from imbalml.data import write_predictions
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = write_predictions(pathlib.Path(tmp, "prediction.txt"),
        ...                             torch.tensor([[5, 2, 2, 3, 2, 2], [0, 1, 0, 1, 4, 0]]))
        ...     print(out.read_text(), end="")
        5 2 2 3 2 2
        0 1 0 1 4 0
    """
    preds = as_tensor(preds, "preds")
    if preds.is_floating_point() or preds.is_complex() or preds.dtype == torch.bool:
        raise TypeError(
            f"Expected `preds` with integer attribute indices of shape (N, G), "
            f"but got dtype {preds.dtype}."
        )
    if preds.ndim != 2 or preds.shape[0] == 0 or preds.shape[1] == 0:
        raise ValueError(
            f"Expected `preds` of shape (N, G) with N >= 1 and G >= 1, but got {tuple(preds.shape)}."
        )
    preds = preds.detach().cpu().long()
    if bool((preds < 0).any()):
        where = first_true(preds < 0)
        raise ValueError(
            f"Expected non-negative attribute indices in `preds`, but got {int(preds[where])} "
            f"at {position(where)}."
        )
    if groups is not None:
        check_groups(groups)
        check_hard_target(preds, groups, "preds")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Expected the folder of the prediction file {path} to exist, but {path.parent} does not."
        )
    text = "".join(" ".join(map(str, row)) + "\n" for row in preds.tolist())
    with atomic_write(path, encoding="utf-8", newline="\n") as f:
        f.write(text)
    return path
