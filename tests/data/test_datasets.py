"""Cityscapes and folder datasets: the label table, discovery, label mapping and bad input.

``write_cityscapes`` and ``write_folder`` build tiny datasets; the other dataset tests import them.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.data import datasets
from fastscnn_edge.data.datasets import Sample, class_names, find_samples, read_label, read_pair, scan_samples

CITY_FRAMES: Tuple[Tuple[str, str], ...] = (
    ("aachen", "aachen_000000_000019"), ("aachen", "aachen_000001_000019"), ("bochum", "bochum_000000_000313"),
)


def synthetic_label_ids(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """Blocks of random Cityscapes label IDs 0..33: void (0..6) and ignored (9, 14, ...) included."""
    h, w = size
    blocks = rng.integers(0, 34, size=(h // 8 + 1, w // 8 + 1)).astype(np.uint8)
    ids = np.kron(blocks, np.ones((8, 8), np.uint8))[:h, :w]
    ids[: h // 4, : w // 4] = 7  # enough road that every image has a large evaluated region
    return np.ascontiguousarray(ids)


def write_cityscapes(root: Path, *, split: str = "val", size: Tuple[int, int] = (64, 128), seed: int = 0,
                     frames: Sequence[Tuple[str, str]] = CITY_FRAMES) -> List[Path]:
    """A tiny Cityscapes-layout dataset; returns the label files written."""
    rng = np.random.default_rng(seed)
    labels = []
    for city, name in frames:
        img = root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png"
        lab = root / "gtFine" / split / city / f"{name}_gtFine_labelIds.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        lab.parent.mkdir(parents=True, exist_ok=True)
        ids = synthetic_label_ids(rng, size)
        colours = np.array([c.color[::-1] for c in datasets.CITYSCAPES_LABELS], np.uint8)[ids]
        noise = rng.integers(0, 30, size=(*size, 3), dtype=np.uint8)
        assert cv2.imwrite(str(img), cv2.add(colours, noise))
        assert cv2.imwrite(str(lab), ids)
        labels.append(lab)
    return labels


def write_folder(root: Path, *, classes: Sequence[str] = ("bg", "thing", "stuff"), n: int = 3,
                 size: Tuple[int, int] = (64, 128), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    for i in range(n):
        mask = rng.integers(0, len(classes), size=size, dtype=np.uint8)
        mask[:4] = 255
        assert cv2.imwrite(str(root / "images" / f"im{i}.jpg"), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        assert cv2.imwrite(str(root / "masks" / f"im{i}.png"), mask)


def test_label_table_equals_cityscapesscripts():
    from cityscapesscripts.helpers import labels as official

    ours = [tuple(lab) for lab in datasets.CITYSCAPES_LABELS]
    theirs = [tuple(lab) for lab in official.labels if lab.id >= 0]
    assert ours == theirs
    trained = sorted((lab for lab in official.labels if lab.trainId not in (255, -1)), key=lambda lab: lab.trainId)
    assert list(datasets.CITYSCAPES_CLASS_NAMES) == [lab.name for lab in trained]
    assert datasets.TRAIN_TO_LABEL_ID.tolist() == [lab.id for lab in trained]
    assert [tuple(c) for c in datasets.CITYSCAPES_PALETTE.tolist()] == [lab.color for lab in trained]
    cats = [c for c in official.category2labels if c != "void"]
    assert list(datasets.CITYSCAPES_CATEGORIES) == cats


def test_class_names_match_the_metadata_default():
    from fastscnn_edge.core.metadata import CITYSCAPES_CLASSES

    assert tuple(class_names("unused", "cityscapes")) == CITYSCAPES_CLASSES


def test_cityscapes_discovery_and_label_mapping(tmp_path):
    write_cityscapes(tmp_path)
    samples = find_samples(tmp_path, "cityscapes", "val")
    assert [s.name for s in samples] == [name for _, name in CITY_FRAMES]
    s = samples[0]
    assert s.label is not None and s.label.name == f"{s.name}_gtFine_labelIds.png"
    ids = cv2.imread(str(s.label), cv2.IMREAD_UNCHANGED)
    train = read_label(s, "cityscapes")
    assert train.dtype == np.uint8 and train.shape == ids.shape
    assert set(np.unique(train)) <= set(range(19)) | {255}
    assert (train[ids <= 6] == 255).all() and (train[ids == 7] == 0).all() and (train[ids == 33] == 18).all()
    assert (train[ids == 9] == 255).all()  # parking: not evaluated
    image, label = read_pair(s)
    assert image.shape == (64, 128, 3) and label.shape == (64, 128)


def test_missing_ground_truth_is_counted_and_skipped(tmp_path):
    labels = write_cityscapes(tmp_path)
    labels[1].unlink()
    messages: List[str] = []
    samples = find_samples(tmp_path, "cityscapes", "val", warn=messages.append)
    assert len(samples) == 2 and len(messages) == 1 and messages[0].startswith("1 image(s) without ground truth")
    scan = scan_samples(tmp_path, "cityscapes", "val", require_labels=False)
    assert len(scan.samples) == 3 and [s.label is None for s in scan.samples] == [False, True, False]
    for lab in labels:
        lab.unlink(missing_ok=True)
    with pytest.raises(UserError, match="has ground truth"):
        find_samples(tmp_path, "cityscapes", "val")


@pytest.mark.parametrize("make", ["empty", "missing", "wrong-split"])
def test_no_images_is_a_user_error(tmp_path, make):
    if make != "missing":
        (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    if make == "wrong-split":
        write_cityscapes(tmp_path, split="train")
    root = tmp_path if make != "missing" else tmp_path / "nope"
    with pytest.raises(UserError) as info:
        find_samples(root, "cityscapes", "val")
    assert info.value.fix  # says what layout was expected


def test_unknown_format_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown dataset format"):
        find_samples(tmp_path, "coco")


def test_cityscapes_label_with_train_ids_is_rejected(tmp_path):
    labels = write_cityscapes(tmp_path, frames=CITY_FRAMES[:1])
    cv2.imwrite(str(labels[0]), np.full((64, 128), 200, np.uint8))
    with pytest.raises(UserError, match=str(labels[0].name)):
        read_label(find_samples(tmp_path)[0], "cityscapes")


def test_colour_label_is_rejected(tmp_path):
    labels = write_cityscapes(tmp_path, frames=CITY_FRAMES[:1])
    cv2.imwrite(str(labels[0]), np.zeros((64, 128, 3), np.uint8))
    with pytest.raises(UserError, match="single-channel"):
        read_label(find_samples(tmp_path)[0], "cityscapes")


def test_label_of_the_wrong_size_names_the_file(tmp_path):
    labels = write_cityscapes(tmp_path, frames=CITY_FRAMES[:1])
    cv2.imwrite(str(labels[0]), np.full((32, 64), 7, np.uint8))
    with pytest.raises(UserError, match="32x64 but its image"):
        read_pair(find_samples(tmp_path)[0])


def test_folder_format(tmp_path):
    write_folder(tmp_path)
    assert class_names(tmp_path, "folder") == ["bg", "thing", "stuff"]
    samples = find_samples(tmp_path, "folder", "val")
    assert [s.name for s in samples] == ["im0", "im1", "im2"]
    lab = read_label(samples[0], "folder", num_classes=3)
    stored = cv2.imread(str(samples[0].label), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(lab, stored)
    with pytest.raises(UserError, match="holds class 2, but there are 2 classes"):
        read_label(samples[0], "folder", num_classes=2)


def test_folder_split_subfolders(tmp_path):
    write_folder(tmp_path / "val", n=2)
    write_folder(tmp_path / "train", n=3, classes=("a", "b", "c"))
    assert len(find_samples(tmp_path, "folder", "val")) == 2
    assert len(find_samples(tmp_path, "folder", "train")) == 3
    assert class_names(tmp_path, "folder", "train") == ["a", "b", "c"]


def test_folder_without_classes_txt(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "classes.txt").unlink()
    with pytest.raises(UserError, match="classes.txt"):
        class_names(tmp_path, "folder")


def test_sample_without_label_cannot_be_read(tmp_path):
    with pytest.raises(UserError, match="no ground truth"):
        read_label(Sample(image=tmp_path / "x.png", label=None, name="x"), "folder")


def test_label_for_image_finds_ground_truth_in_both_layouts(tmp_path):
    from fastscnn_edge.data.datasets import label_for_image
    from fastscnn_edge.data.synth import generate, scene_paths

    generate(tmp_path / "c", 1, 1, (32, 64))
    generate(tmp_path / "f", 1, 0, (32, 64), format="folder")
    img, lab = scene_paths(tmp_path / "c", "val", 0)
    assert label_for_image(img) == (lab, "cityscapes")
    img, lab = scene_paths(tmp_path / "f", "train", 0, "folder")
    assert label_for_image(img) == (lab, "folder")
    lab.unlink()
    assert label_for_image(img) is None  # no ground truth: agreement only
    assert label_for_image(tmp_path / "elsewhere" / "x.png") is None
