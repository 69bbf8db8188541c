"""`imbalml.data.atomic_write`: all or nothing, never a stray temporary file."""

import os
import stat

import pytest
import torch

from imbalml.data import atomic_write


def test_writes_text_and_bytes(tmp_path):
    with atomic_write(tmp_path / "a.txt", encoding="utf-8", newline="\n") as f:
        f.write("x\ny\n")
    assert (tmp_path / "a.txt").read_bytes() == b"x\ny\n"
    with atomic_write(tmp_path / "t.pt", "wb") as f:
        torch.save({"w": torch.arange(3)}, f)
    assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True)["w"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "t.pt"]


def test_failure_keeps_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_bad_mode_and_missing_folder_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"`mode` to be 'w' or 'wb', but got 'a'"):
        with atomic_write(tmp_path / "a.txt", "a"):
            pass
    with pytest.raises(FileNotFoundError, match="folder of .*nope.*does not"):
        with atomic_write(tmp_path / "nope" / "a.txt"):
            pass


def test_first_true_and_position_name_the_first_bad_entry():
    from imbalml._validation import first_true, position

    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[1, 2] = mask[2, 0] = True
    assert first_true(mask) == (1, 2)
    assert position(first_true(mask)) == "row 1, column 2"
    assert position(first_true(torch.tensor([False, False, True]))) == "index 2"
    assert position((1, 2, 0)) == "index (1, 2, 0)"
