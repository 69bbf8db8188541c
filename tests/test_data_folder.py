import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.fashion_example import fashion, synthetic
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imbalml import AttributeGroups
from imbalml.data import (
    ATTRIBUTE_LIST,
    AttributeImageDataset,
    load_rgb,
    read_attribute_list,
    read_labels,
    read_split,
    write_predictions,
)

GROUPS = AttributeGroups(
    [3, 2], names=["colour", "size"], attribute_names=["red", "green", "blue", "small", "large"]
)
ATTR_LIST = "5\nattribute_name  attribute_type\nred 1\ngreen 1\nblue 1\nsmall 2\nlarge 2\n"


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def save_jpeg(path: Path, size=(6, 8), colour=(200, 10, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="JPEG")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A hand-written 3-image dataset with 2 groups (sizes 3, 2)."""
    write(tmp_path, ATTRIBUTE_LIST, ATTR_LIST)
    for i in range(3):
        save_jpeg(tmp_path / "img" / f"{i}.jpg", colour=(80 * i, 10, 10))
    write(tmp_path, "split/train.txt", "img/0.jpg\nimg/1.jpg\nimg/2.jpg\n")
    write(tmp_path, "split/train_attr.txt", "0 1\n2 0\n1 1\n")
    write(tmp_path, "split/test.txt", "img/2.jpg\nimg/0.jpg\n")
    return tmp_path


def msg(*parts: str) -> str:
    """A regex matching the literal parts in order, anything between them."""
    return ".*".join(re.escape(p) for p in parts)


# ---------------------------------------------------------------------------- attribute list
def test_read_attribute_list(root: Path) -> None:
    groups = read_attribute_list(root / ATTRIBUTE_LIST, group_names=["colour", "size"])
    assert groups == GROUPS
    assert read_attribute_list(root / ATTRIBUTE_LIST).names == ("group0", "group1")


def test_read_attribute_list_tolerates_spacing(tmp_path: Path) -> None:
    text = "\ufeff 4 \r\nname type\r\nsolid  colour\t 0\r\nstriped 0\r\n a  b  1 \r\nc 1\r\n\r\n\n"
    groups = read_attribute_list(write(tmp_path, "list.txt", text))
    assert groups.sizes == (2, 2)
    assert groups.attribute_names == ("solid colour", "striped", "a b", "c")


def test_fashion_attribute_list_round_trip(tmp_path: Path) -> None:
    root = synthetic.make_synthetic_dataset(
        tmp_path, num_train=8, num_val=8, num_test=0, image_size=32
    )
    path = root / ATTRIBUTE_LIST
    assert read_attribute_list(path, group_names=fashion.GROUP_NAMES) == fashion.FASHION_GROUPS


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", msg("attribute count on line 1 of", "list.txt", "empty")),
        ("\n\n", msg("attribute count on line 1 of", "list.txt", "empty")),
        ("five\nh\na 1\nb 1\n", msg("attribute count to be an integer on line 1 of", "'five'")),
        ("2 3\nh\na 1\nb 1\n", msg("count (one integer) on line 1 of", "but got '2 3'")),
        ("1\nh\na 1\n", msg("count of at least 2 on line 1 of", "but got 1")),
        (
            "3\nh\na 1\nb 1\n",
            msg("Expected 3 attribute lines after the header of", "(line 1 says 3)", "got 2"),
        ),
        ("2\nh\na 1\nb 1\nc 1\n", msg("Expected 2 attribute lines", "but got 3 (lines 3-5)")),
        ("2\nattribute_name attribute_type\n", msg("Expected 2 attribute lines", "but got 0.")),
        ("2\nh\na 1\nb\n", msg("'<attribute name> <group id>' on line 4 of", "but got 'b'")),
        ("2\nh\na 1\nb one\n", msg("group id to be an integer on line 4 of", "'one'")),
        ("2\nh\na 1\nb 1.0\n", msg("group id to be an integer on line 4 of", "'1.0'")),
        ("2\nh\na 2\nb 2\n", msg("first group id on line 3 of", "be 1 (or 0), but got 2")),
        (
            "4\nh\na 1\nb 1\nc 3\nd 3\n",
            msg("consecutive and non-decreasing: group id 1 or 2 on line 5 of", "but got 3"),
        ),
        ("4\nh\na 1\nb 1\nc 2\nd 1\n", msg("group id 2 or 3 on line 6 of", "but got 1")),
        ("3\nh\na 1\nb 1\na 2\n", msg("unique attribute names in", "'a' appears on lines 3 and 5")),
        ("2\nh\na 1\n\nb 1\n", msg("Expected 2 attribute lines", "but got 3")),
        ("3\nh\na 1\nb 2\nc 2\n", msg("at least 2 attributes", "(reading", "list.txt)")),
    ],
)
def test_read_attribute_list_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        read_attribute_list(write(tmp_path, "list.txt", text))


def test_read_attribute_list_group_names_error(root: Path) -> None:
    with pytest.raises(ValueError, match=msg("Expected 2 `names`, but got 1", ATTRIBUTE_LIST)):
        read_attribute_list(root / ATTRIBUTE_LIST, group_names=["colour"])


def test_read_attribute_list_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=msg("Expected the file", "nope.txt", "not exist")):
        read_attribute_list(tmp_path / "nope.txt")


# ---------------------------------------------------------------------------- labels and splits
def test_read_split(root: Path) -> None:
    paths, labels = read_split(root, "train", GROUPS)
    assert paths == ["img/0.jpg", "img/1.jpg", "img/2.jpg"]
    assert labels is not None and labels.dtype == torch.long
    assert labels.tolist() == [[0, 1], [2, 0], [1, 1]]
    assert read_split(root, "test", GROUPS) == (["img/2.jpg", "img/0.jpg"], None)


def test_read_split_tolerates_spacing(root: Path) -> None:
    write(root, "split/train.txt", "  img/0.jpg \r\nimg/1.jpg\r\nimg/2.jpg\r\n\r\n")
    write(root, "split/train_attr.txt", "0\t1\r\n 2  0 \r\n1 1\n\n\n")
    paths, labels = read_split(root, "train", GROUPS)
    assert paths == ["img/0.jpg", "img/1.jpg", "img/2.jpg"]
    assert labels.tolist() == [[0, 1], [2, 0], [1, 1]]


# Real copies of the data: a header line, Windows line endings, a byte-order mark, trailing
# spaces and blank lines, alone and together (the shared course copy has headers).
PATHS, LABELS = ["img/0.jpg", "img/1.jpg", "img/2.jpg"], [[0, 1], [2, 0], [1, 1]]
VARIANTS = {
    "plain": ("img/0.jpg\nimg/1.jpg\nimg/2.jpg\n", "0 1\n2 0\n1 1\n"),
    "header": ("picture_filename\nimg/0.jpg\nimg/1.jpg\nimg/2.jpg\n",
               "category1 category2\n0 1\n2 0\n1 1\n"),
    "crlf": ("img/0.jpg\r\nimg/1.jpg\r\nimg/2.jpg\r\n", "0 1\r\n2 0\r\n1 1\r\n"),
    "bom": ("\ufeffimg/0.jpg\nimg/1.jpg\nimg/2.jpg\n", "\ufeff0 1\n2 0\n1 1\n"),
    "trailing": ("img/0.jpg  \nimg/1.jpg\t\nimg/2.jpg \n\n\n", "0 1 \n2 0\t\n1 1  \n\n \n"),
    "all": ("\ufeffpicture_filename \r\nimg/0.jpg\r\nimg/1.jpg \r\nimg/2.jpg\r\n\r\n",
            "\ufeffcategory1 category2\r\n0 1\r\n2 0 \r\n1 1\r\n\r\n"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_read_split_real_copy_variants(root: Path, variant: str, caplog: pytest.LogCaptureFixture) -> None:
    paths, labels = VARIANTS[variant]
    write(root, "split/train.txt", paths.encode("utf-8"))
    write(root, "split/train_attr.txt", labels.encode("utf-8"))
    with caplog.at_level("INFO", logger="imbalml.data.folder"):
        got_paths, got_labels = read_split(root, "train", GROUPS)
        read_split(root, "train", GROUPS)  # a second read logs nothing new
    assert got_paths == PATHS
    assert got_labels.tolist() == LABELS
    headers = [r.getMessage() for r in caplog.records if "is a header" in r.getMessage()]
    if variant in ("header", "all"):
        assert len(headers) == 2, headers  # once per file, not once per read
        assert any("train.txt: line 1 is a header ('picture_filename')" in h for h in headers)
        assert any("train_attr.txt: line 1 is a header ('category1 category2')" in h for h in headers)
    else:
        assert headers == []
    dataset = AttributeImageDataset(root, "train", groups=GROUPS)
    assert dataset.paths == PATHS and len(dataset) == 3


@pytest.mark.parametrize(
    ("paths", "labels", "match"),
    [
        # only line 1 may be a header; a word line further down is still an error naming its line
        ("img/0.jpg\nimg/1.jpg\nimg/2.jpg\n", "0 1\ncategory1 category2\n2 0\n1 1\n",
         msg("column 1 (group 'colour') to be an integer on line 2 of", "'category1'")),
        # a header with numbers in it is not a header: it is a malformed first line
        ("img/0.jpg\nimg/1.jpg\nimg/2.jpg\n", "labels 2\n0 1\n2 0\n1 1\n",
         msg("column 1 (group 'colour') to be an integer on line 1 of", "'labels'")),
        # a header and nothing else
        ("img/0.jpg\nimg/1.jpg\nimg/2.jpg\n", "category1 category2\n",
         msg("at least one label line in", "train_attr.txt", "after its header, but got none")),
        # a header, then 3 paths but 2 labels: the counts are compared without the headers
        ("picture_filename\nimg/0.jpg\nimg/1.jpg\nimg/2.jpg\n", "category1 category2\n0 1\n2 0\n",
         msg("one label line per image listed in", "train.txt (3), but got 2 lines")),
        # a blank line inside a path list after the header names its line in the file
        ("picture_filename\nimg/0.jpg\n\nimg/2.jpg\n", "0 1\n2 0\n1 1\n",
         msg("image path on every line of", "train.txt", "line 3 is empty")),
    ],
)
def test_read_split_header_errors(root: Path, paths: str, labels: str, match: str) -> None:
    write(root, "split/train.txt", paths)
    write(root, "split/train_attr.txt", labels)
    with pytest.raises(ValueError, match=match):
        read_split(root, "train", GROUPS)


def test_read_split_bare_names_have_no_header(root: Path) -> None:
    # a list of bare names (no folder, no suffix) keeps its first line: nothing marks it a header
    for name in ("a", "b", "c"):
        save_jpeg(root / name)
    write(root, "split/train.txt", "a\nb\nc\n")
    assert read_split(root, "train", GROUPS)[0] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", msg("at least one label line in", "train_attr.txt", "empty")),
        (
            "0 1\n2 0 1\n1 1\n",
            msg(
                "Expected 2 space-separated integers (one per attribute group) on line 2 of",
                "train_attr.txt",
                "but got 3: '2 0 1'",
            ),
        ),
        ("0 1\n2\n1 1\n", msg("2 space-separated integers", "line 2 of", "got 1: '2'")),
        ("0 1\n\n1 1\n", msg("2 space-separated integers", "line 2 of", "got 0: ''")),
        (
            "0 1\n2 0\n1 x\n",
            msg("column 2 (group 'size') to be an integer on line 3 of", "train_attr.txt", "'x'"),
        ),
        ("0 1.0\n2 0\n1 1\n", msg("column 2 (group 'size') to be an integer on line 1", "'1.0'")),
        ("0 1\n2 0\n1_0 1\n", msg("column 1 (group 'colour') to be an integer on line 3", "'1_0'")),
        (
            "0 1\n3 0\n1 1\n",
            msg(
                "column 1 (group 'colour') on line 2 of",
                "train_attr.txt",
                "attribute index in [0, 2], but got 3",
            ),
        ),
        ("0 1\n2 0\n1 2\n", msg("column 2 (group 'size') on line 3", "[0, 1], but got 2")),
        ("0 1\n2 -1\n1 1\n", msg("column 2 (group 'size') on line 2", "but got -1")),
        ("0 1\n-100 0\n1 1\n", msg("column 1 (group 'colour') on line 2", "but got -100")),
    ],
)
def test_read_split_label_errors(root: Path, text: str, match: str) -> None:
    write(root, "split/train_attr.txt", text)
    with pytest.raises(ValueError, match=match):
        read_split(root, "train", GROUPS)
    with pytest.raises(ValueError, match=match):
        AttributeImageDataset(root, "train", groups=GROUPS)


@pytest.mark.parametrize(("labels", "count"), [("0 1\n2 0\n", 2), ("0 1\n2 0\n1 1\n0 0\n", 4)])
def test_read_split_length_mismatch(root: Path, labels: str, count: int) -> None:
    write(root, "split/train_attr.txt", labels)
    with pytest.raises(
        ValueError,
        match=msg(
            "train_attr.txt to have one label line per image listed in",
            "train.txt (3), but got",
            f"{count} lines",
        ),
    ):
        read_split(root, "train", GROUPS)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", msg("at least one image path in", "train.txt", "empty")),
        (
            "img/0.jpg\n\nimg/2.jpg\n",
            msg("image path on every line of", "train.txt", "line 2 is empty"),
        ),
    ],
)
def test_read_split_path_errors(root: Path, text: str, match: str) -> None:
    write(root, "split/train.txt", text)
    with pytest.raises(ValueError, match=match):
        read_split(root, "train", GROUPS)


def test_read_split_missing_files(root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=msg("image list of split 'val' at", "val.txt")):
        read_split(root, "val", GROUPS)
    with pytest.raises(FileNotFoundError, match=msg("labels of split 'test' at", "test_attr.txt")):
        read_split(root, "test", GROUPS, require_labels=True)
    with pytest.raises(FileNotFoundError, match="labels of split 'test'"):
        AttributeImageDataset(root, "test", groups=GROUPS, require_labels=True)


@pytest.mark.parametrize("split", ["", "../train", "a\\b"])
def test_read_split_bad_name(root: Path, split: str) -> None:
    with pytest.raises(ValueError, match="Expected `split` to be a plain name"):
        read_split(root, split, GROUPS)


def test_read_labels_groups_type(root: Path) -> None:
    with pytest.raises(TypeError, match="Expected `groups` to be an imbalml.AttributeGroups"):
        read_labels(root / "split/train_attr.txt", [3, 2])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- dataset
def test_dataset_items(root: Path) -> None:
    ds = AttributeImageDataset(root, "train")
    assert len(ds) == 3 and ds.has_labels and ds.split == "train" and ds.root == root
    assert ds.groups.sizes == (3, 2) and ds.groups.attribute_names == GROUPS.attribute_names
    assert ds.paths == ["img/0.jpg", "img/1.jpg", "img/2.jpg"]
    assert ds.targets.tolist() == [[0, 1], [2, 0], [1, 1]]
    image, labels = ds[1]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (6, 8)
    assert abs(image.getpixel((3, 4))[0] - 80) < 10  # img/1.jpg was saved with red = 80
    assert labels.dtype == torch.long and labels.tolist() == [2, 0]
    labels[0] = 1  # items are copies: the dataset's targets are unchanged
    assert ds.targets[1].tolist() == [2, 0]
    assert "3 images, labelled" in repr(ds)


def test_dataset_unlabelled_split(root: Path) -> None:
    ds = AttributeImageDataset(root, "test", groups=GROUPS)
    assert not ds.has_labels and ds.targets is None and ds.groups is GROUPS
    image, labels = ds[0]
    assert image.size == (6, 8)
    assert labels.dtype == torch.long and labels.tolist() == [-100, -100]
    assert "unlabelled" in repr(ds)


def test_dataset_transform_loader_and_dataloader(root: Path) -> None:
    seen: list[Path] = []

    def loader(path: Path) -> torch.Tensor:
        seen.append(path)
        return torch.full((2, 2), float(len(seen)))

    ds = AttributeImageDataset(root, "train", loader=loader, transform=lambda x: x * 10)
    images, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert seen == [root / "img/0.jpg", root / "img/1.jpg", root / "img/2.jpg"]
    assert images.shape == (3, 2, 2) and images[:, 0, 0].tolist() == [10.0, 20.0, 30.0]
    assert labels.tolist() == [[0, 1], [2, 0], [1, 1]]


def test_dataset_on_synthetic_data(tmp_path: Path) -> None:
    root = synthetic.make_synthetic_dataset(
        tmp_path, num_train=10, num_val=6, num_test=4, image_size=40
    )
    train = AttributeImageDataset(root, "train", groups=fashion.FASHION_GROUPS)
    val = AttributeImageDataset(root, "val", groups=fashion.FASHION_GROUPS)
    test = AttributeImageDataset(root, "test", groups=fashion.FASHION_GROUPS)
    assert (len(train), len(val), len(test)) == (10, 6, 4)
    assert val.paths[0] == "img/00010.jpg" and test.paths[-1] == "img/00019.jpg"
    assert train.targets.shape == (10, 6) and not test.has_labels
    image, labels = val[5]
    assert image.mode == "RGB" and image.size == (30, 40)
    assert torch.equal(labels, val.targets[5])


def test_dataset_missing_images(root: Path) -> None:
    (root / "img" / "1.jpg").unlink()
    (root / "img" / "2.jpg").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=msg(
            "Expected the 3 images listed in",
            "train.txt to exist under",
            "but 2 are missing: img/1.jpg (line 2), img/2.jpg (line 3).",
        ),
    ):
        AttributeImageDataset(root, "train")
    ds = AttributeImageDataset(root, "train", check_files=False)  # fails only at load time
    assert ds[0][1].tolist() == [0, 1]
    with pytest.raises(FileNotFoundError, match=msg("Expected the image", "1.jpg", "not exist")):
        ds[1]


def test_dataset_many_missing_images_listed_briefly(root: Path) -> None:
    write(root, "split/test.txt", "".join(f"img/missing{i}.jpg\n" for i in range(8)))
    with pytest.raises(
        FileNotFoundError,
        match=msg("but 8 are missing: img/missing0.jpg (line 1)", "(line 5), and 3 more."),
    ):
        AttributeImageDataset(root, "test")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_dataset_truncated_jpeg(root: Path, keep: float) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "img" / "1.jpg", format="JPEG")
    data = (root / "img" / "1.jpg").read_bytes()
    (root / "img" / "1.jpg").write_bytes(data[: int(len(data) * keep)])
    ds = AttributeImageDataset(root, "train")  # it exists: the construction check passes
    with pytest.raises(
        ValueError, match="(?i)" + msg("Could not decode the image", "1.jpg", "truncated")
    ):
        ds[1]


def test_dataset_not_an_image(root: Path) -> None:
    write(root, "img/2.jpg", b"this is not a jpeg")
    ds = AttributeImageDataset(root, "train")
    with pytest.raises(ValueError, match=msg("Could not decode the image", "2.jpg")):
        ds[2]


def test_dataset_construction_errors(root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=msg("dataset folder", "nowhere")):
        AttributeImageDataset(root / "nowhere", "train")
    with pytest.raises(TypeError, match="Expected `transform` to be callable or None"):
        AttributeImageDataset(root, "train", transform="resize")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Expected `groups` to be an imbalml.AttributeGroups"):
        AttributeImageDataset(root, "train", groups=(3, 2))  # type: ignore[arg-type]
    (root / ATTRIBUTE_LIST).unlink()
    with pytest.raises(
        FileNotFoundError, match=msg("attribute list at", "list_attr_cloth.txt (or pass `groups=`)")
    ):
        AttributeImageDataset(root, "train")
    assert len(AttributeImageDataset(root, "train", groups=GROUPS)) == 3


def test_load_rgb_converts_modes(tmp_path: Path) -> None:
    Image.new("L", (5, 4), 77).save(tmp_path / "grey.png")
    Image.new("RGBA", (5, 4), (1, 2, 3, 4)).save(tmp_path / "rgba.png")
    Image.new("P", (5, 4)).save(tmp_path / "p.gif")
    for name in ("grey.png", "rgba.png", "p.gif"):
        image = load_rgb(tmp_path / name)
        assert image.mode == "RGB" and image.size == (5, 4)
    assert load_rgb(tmp_path / "grey.png").getpixel((0, 0)) == (77, 77, 77)


# ---------------------------------------------------------------------------- predictions
def test_write_predictions_format(tmp_path: Path) -> None:
    preds = torch.tensor([[5, 2, 2, 3, 2, 2], [0, 1, 0, 1, 4, 0]])
    out = write_predictions(tmp_path / "prediction.txt", preds, groups=fashion.FASHION_GROUPS)
    assert out == tmp_path / "prediction.txt"
    assert out.read_bytes() == b"5 2 2 3 2 2\n0 1 0 1 4 0\n"
    assert os.listdir(tmp_path) == ["prediction.txt"]  # no temporary file left behind
    assert (out.stat().st_mode & 0o777) == 0o644
    assert torch.equal(read_labels(out, fashion.FASHION_GROUPS), preds)


def test_write_predictions_numpy_and_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path, "prediction.txt", "old\n")
    write_predictions(str(path), np.array([[1, 0]], dtype=np.int32))
    assert path.read_text() == "1 0\n"


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=30))
@settings(max_examples=30, deadline=None)
def test_write_read_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    path = tmp_path_factory.mktemp("pred") / "prediction.txt"
    preds = torch.tensor(rows)
    write_predictions(path, preds, groups=GROUPS)
    assert torch.equal(read_labels(path, GROUPS), preds)


@pytest.mark.parametrize(
    ("preds", "error", "match"),
    [
        (
            torch.zeros(2, 6),
            TypeError,
            "integer attribute indices of shape (N, G), but got dtype torch.float32",
        ),
        (torch.zeros(2, 6, dtype=torch.bool), TypeError, "but got dtype torch.bool"),
        ("01", TypeError, "`preds` to be a torch.Tensor, numpy.ndarray or list, but got str"),
        (
            torch.zeros(6, dtype=torch.long),
            ValueError,
            "shape (N, G) with N >= 1 and G >= 1, but got (6,)",
        ),
        (torch.zeros(0, 6, dtype=torch.long), ValueError, "but got (0, 6)"),
        (
            torch.tensor([[0, 1], [2, -1]]),
            ValueError,
            "non-negative attribute indices in `preds`, but got -1 at row 1, column 1",
        ),
    ],
)
def test_write_predictions_errors(tmp_path: Path, preds, error, match) -> None:
    with pytest.raises(error, match=re.escape(match)):
        write_predictions(tmp_path / "prediction.txt", preds)
    assert not (tmp_path / "prediction.txt").exists()


def test_write_predictions_checks_groups(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("Expected `preds` of shape (N, G) = (1, 2)")):
        write_predictions(tmp_path / "p.txt", torch.tensor([[0, 1, 0]]), groups=GROUPS)
    with pytest.raises(
        ValueError, match=re.escape("`preds[:, 1]` (group 'size', 2 attributes) in [0, 1]")
    ):
        write_predictions(tmp_path / "p.txt", torch.tensor([[0, 1], [0, 2]]), groups=GROUPS)
    assert os.listdir(tmp_path) == []


def test_write_predictions_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "prediction.txt", "0 0\n")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_predictions(path, torch.tensor([[1, 1]]))
    assert path.read_text() == "0 0\n"  # the old file is intact
    assert os.listdir(tmp_path) == ["prediction.txt"]  # and the temporary file is gone


def test_write_predictions_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=msg("folder of the prediction file", "prediction.txt to exist, but", "no does not.")):
        write_predictions(tmp_path / "no" / "prediction.txt", torch.tensor([[1, 1]]))
