"""Segmentation data on disk: the Cityscapes layout and a generic folder of images and masks.

Cityscapes (``--format cityscapes``)::

    ROOT/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    ROOT/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png    (34 label IDs)

Label IDs are mapped to the 19 train IDs (255 = ignored) with a 256-entry lookup table built from
:data:`CITYSCAPES_LABELS`, a copy of ``cityscapesscripts.helpers.labels`` (a test checks the copy).

Folder (``--format folder``)::

    ROOT[/<split>]/images/<name>.<ext>
    ROOT[/<split>]/masks/<name>.png          (train IDs 0..C-1 as stored, 255 = ignored)
    ROOT[/<split>]/classes.txt or ROOT/classes.txt   (one class name per line)

An image without ground truth is skipped with a warning and counted; no ground truth at all is a
:class:`~fastscnn_edge.core.errors.UserError`. torch-free (numpy + OpenCV).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError

FORMATS = ("cityscapes", "folder")
IGNORE = 255
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


class CityscapesLabel(NamedTuple):
    """One row of the official Cityscapes label table (``cityscapesscripts.helpers.labels``)."""

    name: str
    id: int  # the value in *_gtFine_labelIds.png and what the official evaluation reads
    train_id: int  # 0..18, 255 = not trained on / ignored in evaluation
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: Tuple[int, int, int]  # RGB


# The 34 label IDs that occur in label images (the table's 'license plate' has id -1 and never does).
CITYSCAPES_LABELS: Tuple[CityscapesLabel, ...] = (
    #               name                    id trainId category      catId inst   ignore  color
    CityscapesLabel("unlabeled",             0, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("ego vehicle",           1, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("rectification border",  2, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("out of roi",            3, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("static",                4, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("dynamic",               5, 255, "void",         0, False, True,  (111, 74, 0)),
    CityscapesLabel("ground",                6, 255, "void",         0, False, True,  (81, 0, 81)),
    CityscapesLabel("road",                  7, 0,   "flat",         1, False, False, (128, 64, 128)),
    CityscapesLabel("sidewalk",              8, 1,   "flat",         1, False, False, (244, 35, 232)),
    CityscapesLabel("parking",               9, 255, "flat",         1, False, True,  (250, 170, 160)),
    CityscapesLabel("rail track",           10, 255, "flat",         1, False, True,  (230, 150, 140)),
    CityscapesLabel("building",             11, 2,   "construction", 2, False, False, (70, 70, 70)),
    CityscapesLabel("wall",                 12, 3,   "construction", 2, False, False, (102, 102, 156)),
    CityscapesLabel("fence",                13, 4,   "construction", 2, False, False, (190, 153, 153)),
    CityscapesLabel("guard rail",           14, 255, "construction", 2, False, True,  (180, 165, 180)),
    CityscapesLabel("bridge",               15, 255, "construction", 2, False, True,  (150, 100, 100)),
    CityscapesLabel("tunnel",               16, 255, "construction", 2, False, True,  (150, 120, 90)),
    CityscapesLabel("pole",                 17, 5,   "object",       3, False, False, (153, 153, 153)),
    CityscapesLabel("polegroup",            18, 255, "object",       3, False, True,  (153, 153, 153)),
    CityscapesLabel("traffic light",        19, 6,   "object",       3, False, False, (250, 170, 30)),
    CityscapesLabel("traffic sign",         20, 7,   "object",       3, False, False, (220, 220, 0)),
    CityscapesLabel("vegetation",           21, 8,   "nature",       4, False, False, (107, 142, 35)),
    CityscapesLabel("terrain",              22, 9,   "nature",       4, False, False, (152, 251, 152)),
    CityscapesLabel("sky",                  23, 10,  "sky",          5, False, False, (70, 130, 180)),
    CityscapesLabel("person",               24, 11,  "human",        6, True,  False, (220, 20, 60)),
    CityscapesLabel("rider",                25, 12,  "human",        6, True,  False, (255, 0, 0)),
    CityscapesLabel("car",                  26, 13,  "vehicle",      7, True,  False, (0, 0, 142)),
    CityscapesLabel("truck",                27, 14,  "vehicle",      7, True,  False, (0, 0, 70)),
    CityscapesLabel("bus",                  28, 15,  "vehicle",      7, True,  False, (0, 60, 100)),
    CityscapesLabel("caravan",              29, 255, "vehicle",      7, True,  True,  (0, 0, 90)),
    CityscapesLabel("trailer",              30, 255, "vehicle",      7, True,  True,  (0, 0, 110)),
    CityscapesLabel("train",                31, 16,  "vehicle",      7, True,  False, (0, 80, 100)),
    CityscapesLabel("motorcycle",           32, 17,  "vehicle",      7, True,  False, (0, 0, 230)),
    CityscapesLabel("bicycle",              33, 18,  "vehicle",      7, True,  False, (119, 11, 32)),
)

NUM_CITYSCAPES_CLASSES = 19
# The 7 categories the official evaluation scores ('void' has no evaluated class), in catId order.
CITYSCAPES_CATEGORIES: Tuple[str, ...] = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")

_TRAINED = sorted((lab for lab in CITYSCAPES_LABELS if lab.train_id != IGNORE), key=lambda lab: lab.train_id)
CITYSCAPES_CLASS_NAMES: Tuple[str, ...] = tuple(lab.name for lab in _TRAINED)
# train ID -> Cityscapes label ID (what the official evaluation expects in prediction PNGs).
TRAIN_TO_LABEL_ID: np.ndarray = np.array([lab.id for lab in _TRAINED], np.uint8)
# train ID -> category index into CITYSCAPES_CATEGORIES.
TRAIN_TO_CATEGORY: np.ndarray = np.array([CITYSCAPES_CATEGORIES.index(lab.category) for lab in _TRAINED], np.int64)
# train ID -> RGB colour (the Cityscapes palette).
CITYSCAPES_PALETTE: np.ndarray = np.array([lab.color for lab in _TRAINED], np.uint8)


def _label_to_train_lut() -> np.ndarray:
    lut = np.full(256, IGNORE, np.uint8)
    for lab in CITYSCAPES_LABELS:
        lut[lab.id] = lab.train_id
    return lut


LABEL_TO_TRAIN_LUT: np.ndarray = _label_to_train_lut()
_MAX_LABEL_ID = max(lab.id for lab in CITYSCAPES_LABELS)


@dataclass
class Sample:
    """One image and (where it exists) its ground-truth label map."""

    image: Path
    label: Optional[Path]
    name: str  # Cityscapes: <city>_<seq>_<frame>; folder: the file stem


@dataclass
class SampleScan:
    """What :func:`scan_samples` found: usable samples and the images it had to leave out."""

    samples: List[Sample]
    missing_labels: List[Path] = field(default_factory=list)
    root: Path = Path(".")
    format: str = "cityscapes"
    split: str = "val"


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise UserError(f"unknown dataset format {format!r}.", fix=f"use one of: {', '.join(FORMATS)}.")
    return format


def scan_samples(root: str | Path, format: str = "cityscapes", split: str = "val", *,
                 require_labels: bool = True) -> SampleScan:
    """List the images of ``split`` under ``root`` with their label files, sorted by name.

    With ``require_labels`` images without a label file are left out (listed in
    ``missing_labels``); without it they are kept with ``label=None``. Raises UserError when the
    folder holds no image, or (``require_labels``) no image has ground truth.
    """
    root = Path(root)
    check_format(format)
    if not root.is_dir():
        raise UserError(f"dataset folder {root} does not exist.", fix="pass the dataset root with --data.")
    pairs = _cityscapes_pairs(root, split) if format == "cityscapes" else _folder_pairs(root, split)
    found = [Sample(image=img, label=lab if lab.is_file() else None, name=name) for img, lab, name in pairs]
    missing = [s.image for s in found if s.label is None]
    if require_labels:
        found = [s for s in found if s.label is not None]
        if not found:
            raise UserError(f"none of the {len(missing)} images under {root} ({format}, split {split}) has ground truth.",
                            fix=_layout_hint(format, split))
    return SampleScan(samples=found, missing_labels=missing, root=root, format=format, split=split)


def find_samples(root: str | Path, format: str = "cityscapes", split: str = "val", *,
                 require_labels: bool = True, warn: Callable[[str], None] = _stderr_warning) -> List[Sample]:
    """The samples of ``split`` (see :func:`scan_samples`); warns once about images without labels."""
    scan = scan_samples(root, format, split, require_labels=require_labels)
    if scan.missing_labels and require_labels:
        first = scan.missing_labels[0]
        warn(f"{len(scan.missing_labels)} image(s) without ground truth skipped (first: {first}).")
    return scan.samples


def _layout_hint(format: str, split: str) -> str:
    if format == "cityscapes":
        return (f"expected leftImg8bit/{split}/<city>/*_leftImg8bit.png with "
                f"gtFine/{split}/<city>/*_gtFine_labelIds.png beside it (or use --format folder).")
    return f"expected [{split}/]images/* with [{split}/]masks/<same name>.png and classes.txt (or use --format cityscapes)."


def _cityscapes_pairs(root: Path, split: str) -> List[Tuple[Path, Path, str]]:
    img_dir = root / "leftImg8bit" / split
    images = sorted(img_dir.glob("*/*_leftImg8bit.png")) if img_dir.is_dir() else []
    if not images:
        raise UserError(f"no *_leftImg8bit.png images under {img_dir}.", fix=_layout_hint("cityscapes", split))
    out = []
    for img in images:
        name = img.name[: -len("_leftImg8bit.png")]
        label = root / "gtFine" / split / img.parent.name / f"{name}_gtFine_labelIds.png"
        out.append((img, label, name))
    return out


def _folder_base(root: Path, split: str) -> Path:
    return root / split if (root / split / "images").is_dir() else root


def _folder_pairs(root: Path, split: str) -> List[Tuple[Path, Path, str]]:
    base = _folder_base(root, split)
    img_dir = base / "images"
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) \
        if img_dir.is_dir() else []
    if not images:
        raise UserError(f"no images under {img_dir}.", fix=_layout_hint("folder", split))
    return [(img, base / "masks" / f"{img.stem}.png", img.stem) for img in images]


def label_for_image(image: str | Path) -> Optional[Tuple[Path, str]]:
    """(ground-truth file, format) for an image inside either layout, where that file exists.

    Cityscapes: ``.../leftImg8bit/<split>/<city>/<name>_leftImg8bit.png`` ->
    ``.../gtFine/<split>/<city>/<name>_gtFine_labelIds.png``; folder: ``.../images/<name>.<ext>``
    -> ``.../masks/<name>.png``.
    """
    image = Path(image)
    parts = image.parts
    if image.name.endswith("_leftImg8bit.png") and len(parts) >= 4 and parts[-4] == "leftImg8bit":
        name = image.name[: -len("_leftImg8bit.png")]
        label = image.parents[3] / "gtFine" / parts[-3] / parts[-2] / f"{name}_gtFine_labelIds.png"
        return (label, "cityscapes") if label.is_file() else None
    if image.parent.name == "images":
        label = image.parent.parent / "masks" / f"{image.stem}.png"
        return (label, "folder") if label.is_file() else None
    return None


def class_names(root: str | Path, format: str = "cityscapes", split: str = "val") -> List[str]:
    """The class names of the dataset: Cityscapes' 19, or the folder's classes.txt."""
    if check_format(format) == "cityscapes":
        return list(CITYSCAPES_CLASS_NAMES)
    root = Path(root)
    for candidate in (_folder_base(root, split) / "classes.txt", root / "classes.txt"):
        if candidate.is_file():
            try:
                text = candidate.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{candidate} is not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}).",
                                fix="save the class names as UTF-8, one per line.") from None
            except OSError as exc:
                raise UserError(f"cannot read {candidate} ({exc.strerror}).", fix="check the file's permissions.") from None
            names = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if not names:
                raise UserError(f"{candidate} lists no class.", fix="write one class name per line.")
            if len(names) > IGNORE:
                raise UserError(f"{candidate} lists {len(names)} classes; masks are 8-bit with 255 = ignore.",
                                fix="use at most 255 classes.")
            return names
    raise UserError(f"no classes.txt in {root}.", fix="write the class names, one per line, in ROOT/classes.txt.")


def read_label(sample: Sample, format: str = "cityscapes", num_classes: int = NUM_CITYSCAPES_CLASSES) -> np.ndarray:
    """The sample's ground truth as an HxW uint8 map of train IDs (255 = ignored).

    Raises UserError naming the file when it is missing, unreadable, not single-channel 8-bit,
    or holds a value that is neither a class (< ``num_classes``) nor 255 (folder) or not a
    Cityscapes label ID (cityscapes).
    """
    import cv2

    check_format(format)
    if sample.label is None:
        raise UserError(f"{sample.image} has no ground truth.", fix=_layout_hint(format, "<split>"))
    raw = cv2.imread(str(sample.label), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise UserError(f"cannot read label {sample.label} (missing, corrupt or not an image).",
                        fix="check or regenerate the file.")
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise UserError(f"label {sample.label} is not a single-channel 8-bit image "
                        f"({raw.shape[2] if raw.ndim == 3 else 1} channels, {raw.dtype}).",
                        fix="store labels as 8-bit grayscale PNGs of class IDs (not colour masks).")
    if format == "cityscapes":
        bad = raw > _MAX_LABEL_ID
        if bad.any():
            raise UserError(f"label {sample.label} holds value {int(raw[bad].max())}, not a Cityscapes label ID (0..{_MAX_LABEL_ID}).",
                            fix="pass the *_gtFine_labelIds.png files (not trainIds or colour), or use --format folder.")
        return LABEL_TO_TRAIN_LUT[raw]
    bad = (raw >= num_classes) & (raw != IGNORE)
    if bad.any():
        raise UserError(f"label {sample.label} holds class {int(raw[bad].max())}, but there are {num_classes} classes "
                        f"(0..{num_classes - 1}, 255 = ignore).",
                        fix="check the mask, or add the missing names to classes.txt.")
    return raw


def read_pair(sample: Sample, format: str = "cityscapes",
              num_classes: int = NUM_CITYSCAPES_CLASSES) -> Tuple[np.ndarray, np.ndarray]:
    """The sample's image (HxWx3 uint8 BGR) and train-ID label map, checked to be the same size."""
    from fastscnn_edge.data.preprocess import read_image_bgr

    image = read_image_bgr(sample.image)
    label = read_label(sample, format, num_classes)
    check_label_size(sample, label, image)
    return image, label


def check_label_size(sample: Sample, label: np.ndarray, image: np.ndarray) -> None:
    """UserError naming both files when a label map is not the size of its image.

    Resizing it instead would silently score against a different ground truth.
    """
    if label.shape[:2] != image.shape[:2]:
        raise UserError(f"label {sample.label} is {label.shape[0]}x{label.shape[1]} but its image {sample.image} is "
                        f"{image.shape[0]}x{image.shape[1]}.",
                        fix="labels must have the size of their image; regenerate the mask.")
