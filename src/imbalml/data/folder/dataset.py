"""The images of one split of the attribute-folder layout as a ``torch`` dataset."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from imbalml._layout_checks import check_groups
from imbalml.data.folder.label_files import (
    _MAX_LISTED,
    ATTRIBUTE_LIST,
    read_attribute_list,
    read_split,
)
from imbalml.groups import AttributeGroups

__all__ = ["AttributeImageDataset", "load_rgb"]


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
