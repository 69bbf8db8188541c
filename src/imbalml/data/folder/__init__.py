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

from imbalml.data.folder.dataset import AttributeImageDataset, load_rgb
from imbalml.data.folder.label_files import (
    ATTRIBUTE_LIST,
    read_attribute_list,
    read_labels,
    read_split,
)
from imbalml.data.folder.predictions import write_predictions

__all__ = [
    "ATTRIBUTE_LIST",
    "AttributeImageDataset",
    "load_rgb",
    "read_attribute_list",
    "read_labels",
    "read_split",
    "write_predictions",
]
