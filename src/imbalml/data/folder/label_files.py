"""Read the text files of the attribute-folder layout: the attribute list, image lists and label files.

The layout is described in ``imbalml.data.folder``. Each reader checks its file completely and names the
file and the (1-based) line of the first problem.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from imbalml._layout_checks import check_groups
from imbalml.groups import AttributeGroups

__all__ = ["ATTRIBUTE_LIST", "read_attribute_list", "read_labels", "read_split"]


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
