"""Calibration sets: folder and list discovery, skipped-file accounting, limits, preprocessing, cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.data.preprocess import read_image_bgr, to_network_input
from fastscnn_edge.quantize import calibration as cal


def write_images(folder: Path, n: int, *, seed: int = 0) -> list[Path]:
    """n small camera-like frames; #1 is grayscale and #2 has an odd size."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = (37, 91) if i == 2 else (48, 96)
        img = cv2.resize(rng.integers(0, 256, (4, 8, 3), dtype=np.uint8), (w, h))
        if i == 1:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        p = folder / f"frame_{i:03d}.{'jpg' if i % 3 == 0 else 'png'}"
        assert cv2.imwrite(str(p), img)
        out.append(p)
    return out


def test_folder_is_recursive_sorted_and_counts_skipped_files(tmp_path):
    write_images(tmp_path / "a", 6)
    write_images(tmp_path / "a" / "sub", 4, seed=1)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "broken.png").write_bytes(b"this is no png")
    (tmp_path / "a" / "empty.jpg").write_bytes(b"")
    messages: list[str] = []
    s = cal.collect_images(tmp_path / "a", log=messages.append)
    assert len(s.paths) == 10 and s.found == 10
    assert s.names == sorted(s.names) and "sub/frame_000.jpg" in s.names
    reasons = sorted(why for _, why in s.skipped)
    assert reasons == ["empty file", "not an image OpenCV can read", "not an image file extension"]
    assert any("skipped 3 file(s)" in m for m in messages)
    assert any("100 or more" in m for m in messages)  # under 100 images: a warning, not an error


def test_list_file_relative_paths_comments_and_missing(tmp_path):
    imgs = write_images(tmp_path / "data", 9)
    lst = tmp_path / "data" / "calib.txt"
    lines = ["# calibration set", ""] + [f"{p.name}  # frame" for p in imgs] + ["gone.png"]
    lst.write_text("\n".join(lines) + "\n")
    s = cal.collect_images(lst)
    assert [p.name for p in s.paths] == [p.name for p in imgs]  # list order kept
    assert s.skipped == [(str(tmp_path / "data" / "gone.png"), "missing")]


def test_count_picks_evenly_spaced_images_and_refuses_more_than_available(tmp_path):
    write_images(tmp_path, 12)
    s = cal.collect_images(tmp_path, count=4)
    assert [p.name for p in s.paths] == ["frame_000.jpg", "frame_004.png", "frame_007.png", "frame_011.png"]
    with pytest.raises(UserError, match="--calib-count 13"):
        cal.collect_images(tmp_path, count=13)


@pytest.mark.parametrize("case", ["empty", "only-junk", "too-few", "missing", "not-a-list"])
def test_unusable_sources_are_one_line_errors(tmp_path, case):
    src = tmp_path / "src"
    if case == "empty":
        src.mkdir()
    elif case == "only-junk":
        src.mkdir()
        (src / "a.png").write_bytes(b"junk")
        (src / "b.csv").write_text("1,2")
    elif case == "too-few":
        write_images(src, cal.HARD_MIN_IMAGES - 1)
    elif case == "not-a-list":
        src = tmp_path / "x.csv"
        src.write_text("a.png")
    with pytest.raises(UserError) as err:
        cal.collect_images(src)
    assert "\n" not in str(err.value) and err.value.fix


def test_digest_follows_content_not_location(tmp_path):
    write_images(tmp_path / "one", 8)
    d1 = cal.collect_images(tmp_path / "one").digest()
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    assert cal.collect_images(tmp_path / "two").digest() == d1
    write_images(tmp_path / "two", 1, seed=5)  # overwrite frame_000 with other pixels
    assert cal.collect_images(tmp_path / "two").digest() != d1


@pytest.mark.parametrize("fmt", ["float", "rgb8", "bgr8"])
def test_reader_feeds_exactly_the_inference_preprocessing(tmp_path, fmt):
    paths = write_images(tmp_path, 3)  # grayscale and odd-sized included
    meta = ModelMeta(input_format=fmt, resolution=(64, 128))
    reader = cal.ImageReader(paths, meta, (64, 128), "x")
    items = list(reader)
    assert len(items) == 3 and not reader.failed
    for p, item in zip(paths, items):
        want = to_network_input(read_image_bgr(p), meta, (64, 128))
        assert item["x"].dtype == want.dtype and item["x"].shape == want.shape
        np.testing.assert_array_equal(item["x"], want)
    assert items[0]["x"].shape == ((1, 3, 64, 128) if fmt == "float" else (1, 64, 128, 3))


def test_reader_skips_and_counts_frames_that_fail_to_decode(tmp_path):
    paths = write_images(tmp_path, 2)
    bad = tmp_path / "truncated.png"
    bad.write_bytes(paths[1].read_bytes()[:40])  # a PNG signature, then nothing
    seen = []
    reader = cal.ImageReader([paths[0], bad, paths[1]], ModelMeta(), (64, 128), "x", on_frame=lambda: seen.append(1))
    assert len(list(reader)) == 2 and reader.failed == [str(bad)] and len(seen) == 3


def test_cache_round_trip_is_exact_and_validated(tmp_path):
    write_images(tmp_path / "imgs", 8)
    images = cal.collect_images(tmp_path / "imgs")
    ranges = {"t1": (float(np.float32(-1.2345678)), float(np.float32(3.3))), "t0": (0.0, float(np.float32(0.1)))}
    path = cal.save_cache(tmp_path / "m.calib.json", onnx_sha256="ab" * 32, images=images, method="minmax",
                          form="tensorrt", policy="p", ranges=ranges)
    doc = cal.load_cache(path)
    assert doc["key"] == cal.cache_key("ab" * 32, images.digest(), "minmax", "tensorrt")
    assert cal.ranges_from_cache(doc) == ranges
    assert all(np.float32(v) == v for lo_hi in cal.ranges_from_cache(doc).values() for v in lo_hi)
    assert doc["count"] == 8 and len(doc["images"]) == 8
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(UserError, match="not a fastscnn-edge calibration cache"):
        cal.load_cache(tmp_path / "other.json")
    with pytest.raises(UserError, match="does not exist"):
        cal.load_cache(tmp_path / "nope.json")


def test_holdout_sets_every_kth_image_aside_before_count(tmp_path):
    write_images(tmp_path / "imgs", 20)
    s = cal.collect_images(tmp_path / "imgs", holdout=0.25)  # k = 4: images 3, 7, 11, 15, 19
    assert [p.name for p in s.heldout] == [f"frame_{i:03d}.{'jpg' if i % 3 == 0 else 'png'}" for i in (3, 7, 11, 15, 19)]
    assert len(s.paths) == 15 and not set(s.paths) & set(s.heldout) and s.found == 20
    counted = cal.collect_images(tmp_path / "imgs", holdout=0.25, count=5)
    assert counted.heldout == s.heldout and not set(counted.paths) & set(s.heldout) and len(counted.paths) == 5
    with pytest.raises(UserError, match="after holding out 10"):
        cal.collect_images(tmp_path / "imgs", holdout=0.5, hard_min=11)
    with pytest.raises(UserError, match="--holdout 0.9"):
        cal.collect_images(tmp_path / "imgs", holdout=0.9)


def test_validation_images_leave_out_calibration_content_and_read_cityscapes_roots(tmp_path):
    root = tmp_path / "city"
    train = write_images(root / "leftImg8bit" / "train" / "a", 8)
    val = write_images(root / "leftImg8bit" / "val" / "b", 3, seed=3)
    shutil.copy(train[0], root / "leftImg8bit" / "val" / "b" / "copy_of_train.png")
    calibrated = cal.collect_images(root / "leftImg8bit" / "train")
    messages: list[str] = []
    kept = cal.validation_images(root, calibrated.sha256, log=messages.append)  # a root means its val split
    assert sorted(p.name for p in kept) == sorted(p.name for p in val)
    assert any("also calibration images" in m for m in messages)
    with pytest.raises(UserError, match="also a calibration image"):
        cal.validation_images(root / "leftImg8bit" / "train", calibrated.sha256)
