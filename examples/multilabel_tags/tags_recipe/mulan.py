"""Reading MULAN-format multi-label data: an ARFF file (sparse or dense) and its labels.

MULAN stores a multi-label data set as one ARFF file whose binary label attributes sit among the
feature attributes (in practice after them), plus an XML file naming the label attributes. The
ARFF syntax is read by ``liac-arff`` (sparse rows ``{index value, ...}`` or dense rows); which
attributes are labels comes from the XML file, or from a count of trailing attributes. Nothing
here knows a particular data set.

Every error names the file, and the line where the file has one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import arff
import torch

__all__ = ["MulanData", "read_arff", "read_label_names", "split_labels"]


@dataclass(frozen=True)
class MulanData:
    """An ARFF file as tensors: every attribute's values and names, in file order.

    Attributes:
        values: ``(N, A)`` float32 values of the ``A`` attributes (a nominal value that is a number,
            as in ``{0,1}``, reads as that number; other nominal values as their declared index).
        names: The ``A`` attribute names.
        source: The file it came from (for messages).
    """

    values: torch.Tensor
    names: list[str]
    source: str


def _data_lines(path: Path) -> list[int]:
    """1-based line numbers of the data rows of an ARFF file (after ``@data``; no blanks, comments)."""
    lines, in_data = [], False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not in_data:
                in_data = text.lower().startswith("@data")
                continue
            if text and not text.startswith("%"):
                lines.append(number)
    return lines


def _nominal_values(declared: list[str]) -> dict[str, float]:
    """A nominal attribute's values as numbers: ``{0,1}`` as 0/1, other names as their index."""
    try:
        return {value: float(value) for value in declared}
    except ValueError:
        return {value: float(index) for index, value in enumerate(declared)}


def read_arff(path: str | Path) -> MulanData:
    """Read a sparse or dense ARFF file of numeric or nominal attributes.

    Args:
        path: The ARFF file.

    Returns:
        A :class:`MulanData` with every attribute (features and labels).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: For a malformed file (naming the file and the line), a string attribute, or a
            missing value (``?``) (naming the file, the line and the attribute).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ARFF file not found: {path}")
    text = path.read_text(encoding="utf-8")
    decoder = arff.ArffDecoder()
    try:
        try:
            decoded = decoder.decode(text, encode_nominal=False, return_type=arff.LOD)
            sparse = True
        except arff.BadLayout:  # dense rows: decode again as a dense table
            decoder = arff.ArffDecoder()
            decoded = decoder.decode(text, encode_nominal=False, return_type=arff.DENSE)
            sparse = False
    except arff.ArffException as error:
        line = getattr(error, "line", None)
        raise ValueError(f"{path}: line {line}: malformed ARFF: {error.message}") from error
    attributes = decoded["attributes"]
    names = [name for name, _ in attributes]
    nominal: list[dict[str, float] | None] = []
    for name, kind in attributes:
        if isinstance(kind, str) and kind.upper() == "STRING":
            raise ValueError(f"{path}: attribute {name!r} is a STRING attribute; expected numeric or nominal.")
        nominal.append(_nominal_values(kind) if isinstance(kind, list) else None)
    rows = decoded["data"]
    values = torch.zeros(len(rows), len(names), dtype=torch.float32)
    for i, row in enumerate(rows):
        items = row.items() if sparse else enumerate(row)
        for j, value in items:
            if value is None:
                line = _data_lines(path)[i]
                raise ValueError(
                    f"{path}: line {line}: missing value '?' for attribute {names[j]!r}; expected a number."
                )
            mapping = nominal[j]
            values[i, j] = float(value) if mapping is None else mapping[value]
    return MulanData(values, names, str(path))


def read_label_names(path: str | Path) -> list[str]:
    """The label attribute names of a MULAN XML label file (``<label name="...">``, nested or not).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the XML is malformed (naming the file and the line) or names no label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label XML file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        line, column = error.position
        raise ValueError(f"{path}: line {line}, column {column}: malformed XML: {error}") from error
    names = [
        element.attrib["name"]
        for element in root.iter()
        if element.tag.rsplit("}", 1)[-1] == "label" and "name" in element.attrib
    ]
    if not names:
        raise ValueError(f"{path}: expected <label name=\"...\"> elements, but found none.")
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a label name appears twice.")
    return names


def split_labels(
    data: MulanData, label_names: list[str] | None = None, num_labels: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Split an ARFF table into features and 0/1 labels.

    Give exactly one of ``label_names`` (from the XML file: those attributes are labels, wherever
    they are) or ``num_labels`` (the last ``num_labels`` attributes are labels).

    Returns:
        ``(features (N, F) float32, labels (N, C) long, feature_names, label_names)``.

    Raises:
        ValueError: If a label is not an attribute of the file, the count is out of range, or a
            label value is not 0/1 (naming the file, the line and the label).
    """
    if (label_names is None) == (num_labels is None):
        raise ValueError("Expected exactly one of `label_names` (an XML label file) or `num_labels`.")
    if num_labels is not None:
        if not 1 <= num_labels < len(data.names):
            raise ValueError(
                f"{data.source}: expected --num-labels in [1, {len(data.names) - 1}] (the file has "
                f"{len(data.names)} attributes), but got {num_labels}."
            )
        label_names = data.names[-num_labels:]
    assert label_names is not None
    index = {name: i for i, name in enumerate(data.names)}
    missing = [name for name in label_names if name not in index]
    if missing:
        raise ValueError(
            f"{data.source}: the label attribute {missing[0]!r} (of {len(label_names)} labels) is "
            "not an attribute of this file."
        )
    label_columns = [index[name] for name in label_names]
    is_label = set(label_columns)
    feature_columns = [i for i in range(len(data.names)) if i not in is_label]
    labels = data.values[:, label_columns]
    bad = (labels != 0) & (labels != 1)
    if bool(bad.any()):
        row, column = (int(v) for v in bad.nonzero()[0])
        line = _data_lines(Path(data.source))[row]
        raise ValueError(
            f"{data.source}: line {line}: label {label_names[column]!r} has value "
            f"{labels[row, column].item():g}; expected 0 or 1."
        )
    features = data.values[:, feature_columns]
    return features, labels.long(), [data.names[i] for i in feature_columns], list(label_names)
