"""fileio: atomic writes (never a half-written file), early writability checks, sizes and hashes."""

import hashlib
import os

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.fileio import atomic_path, atomic_write_bytes, atomic_write_text, check_writable, human_size, sha256_file


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("failed midway")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C too
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and oct(target.stat().st_mode & 0o777) != oct(0o600)
    atomic_write_text(tmp_path / "sub" / "t.txt", "hi\n")
    assert (tmp_path / "sub" / "t.txt").read_text() == "hi\n"


def test_check_writable_refuses_a_folder_and_touches_nothing(tmp_path):
    with pytest.raises(UserError, match="is a folder"):
        check_writable(tmp_path)
    check_writable(tmp_path / "new" / "file.onnx")
    assert not (tmp_path / "new" / "file.onnx").exists()
    assert [p for p in (tmp_path / "new").iterdir()] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UserError, match="cannot write into"):
            check_writable(ro / "x")
    finally:
        ro.chmod(0o700)


def test_sizes_and_hashes(tmp_path):
    assert (human_size(512), human_size(2048), human_size(3 * 2**30)) == ("512 B", "2.0 KB", "3.0 GB")
    p = tmp_path / "f"
    p.write_bytes(b"x" * 3_000_000)
    assert sha256_file(p, chunk=4096) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
