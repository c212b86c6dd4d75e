"""Segmentation metrics from one confusion matrix accumulated over a whole split.

The conventions are those of the official Cityscapes evaluation
(``cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling``), and a test checks the numbers
against it:

- pixels whose ground truth is ignored (255) are not counted at all;
- class IoU = TP / (TP + FP + FN) from the summed matrix (not a mean of per-image scores),
  NaN where a class is neither in the ground truth nor predicted;
- mIoU = the mean over the classes whose IoU is not NaN;
- category IoU merges the classes of a category (a car predicted as truck is a hit for 'vehicle').

A prediction outside ``0..C-1`` (a model trained on more classes) counts as a miss of the ground
truth class and as nobody's false positive, as a void label ID does in the official script.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np

IGNORE = 255


class ConfusionMatrix:
    """Counts ``matrix[gt, pred]`` over every evaluated pixel; ``pred == C`` is "no valid class"."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE) -> None:
        if num_classes < 1:
            raise ValueError("num_classes must be positive")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.matrix = np.zeros((self.num_classes, self.num_classes + 1), np.int64)

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add one image: ``gt`` and ``pred`` are label maps of the same shape (train IDs)."""
        if gt.shape != pred.shape:
            raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
        gt = gt.reshape(-1).astype(np.int64)
        pred = pred.reshape(-1).astype(np.int64)
        keep = gt != self.ignore_index
        gt, pred = gt[keep], pred[keep]
        if gt.size and (gt.min() < 0 or gt.max() >= self.num_classes):
            raise ValueError(f"ground truth holds {int(gt.max())}, outside 0..{self.num_classes - 1}")
        pred = np.where((pred < 0) | (pred >= self.num_classes), self.num_classes, pred)
        width = self.num_classes + 1
        self.matrix += np.bincount(gt * width + pred, minlength=self.num_classes * width).reshape(self.num_classes, width)

    @property
    def square(self) -> np.ndarray:
        """The C x C part (predictions of a valid class)."""
        return self.matrix[:, : self.num_classes]

    @property
    def total(self) -> int:
        """Evaluated pixels (ground truth not ignored)."""
        return int(self.matrix.sum())

    def class_iou(self) -> np.ndarray:
        return _iou(self.matrix)

    def miou(self) -> float:
        return nanmean(self.class_iou())

    def grouped(self, groups: Sequence[int] | np.ndarray, num_groups: int) -> "ConfusionMatrix":
        """The matrix with classes merged: ``groups[c]`` is the group index of class ``c``."""
        g = np.asarray(groups, np.int64)
        if g.shape != (self.num_classes,):
            raise ValueError(f"need one group per class ({self.num_classes}), got {g.shape}")
        out = ConfusionMatrix(num_groups, self.ignore_index)
        cols = np.append(g, num_groups)  # the "no valid class" column stays one
        rows = np.zeros((num_groups, self.num_classes + 1), np.int64)
        np.add.at(rows, g, self.matrix)
        np.add.at(out.matrix.T, cols, rows.T)
        return out

    def pixel_accuracy(self) -> float:
        total = self.total
        return float(np.trace(self.square)) / total if total else math.nan

    def class_accuracy(self) -> np.ndarray:
        """Per class: the fraction of its ground-truth pixels predicted right (NaN if absent)."""
        rows = self.matrix.sum(1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(rows > 0, np.diag(self.square) / rows, np.nan)

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        if other.matrix.shape != self.matrix.shape:
            raise ValueError("cannot merge confusion matrices of different class counts")
        self.matrix += other.matrix
        return self

    def summary(self, class_names: Sequence[str], categories: Optional[Sequence[str]] = None,
                class_to_category: Optional[Sequence[int] | np.ndarray] = None) -> Dict[str, object]:
        """Everything as plain JSON-able values (NaN becomes None), scores as fractions 0..1."""
        iou = self.class_iou()
        out: Dict[str, object] = {
            "miou": nan_to_none(self.miou()),
            "pixel_accuracy": nan_to_none(self.pixel_accuracy()),
            "mean_class_accuracy": nan_to_none(nanmean(self.class_accuracy())),
            "class_iou": {name: nan_to_none(float(v)) for name, v in zip(class_names, iou)},
            "classes_scored": int(np.count_nonzero(~np.isnan(iou))),
            "pixels": self.total,
            "confusion_matrix": self.matrix.tolist(),
        }
        if categories is not None and class_to_category is not None:
            cat = self.grouped(class_to_category, len(categories))
            out["category_miou"] = nan_to_none(cat.miou())
            out["category_iou"] = {name: nan_to_none(float(v)) for name, v in zip(categories, cat.class_iou())}
        return out


def _iou(matrix: np.ndarray) -> np.ndarray:
    c = matrix.shape[0]
    tp = np.diag(matrix[:, :c]).astype(np.float64)
    fn = matrix.sum(1) - tp
    fp = matrix[:, :c].sum(0) - tp
    denom = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)


def nanmean(values: np.ndarray) -> float:
    """Mean over the non-NaN entries; NaN when there is none (no RuntimeWarning)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else math.nan


def nan_to_none(value: float) -> Optional[float]:
    return None if value is None or math.isnan(value) else float(value)


def disagreement(matrix: np.ndarray, class_names: Sequence[str]) -> List[Dict[str, object]]:
    """Per class of A (rows of an A-vs-B matrix): how much of it B labels differently, and as what.

    Returns one entry per class A predicted at all, largest disagreement first.
    """
    c = len(class_names)
    rows = []
    for i in range(c):
        n = int(matrix[i].sum())
        if n == 0:
            continue
        other = matrix[i].astype(np.int64).copy()
        other[i] = 0
        differ = int(other.sum())
        j = int(np.argmax(other))
        rows.append({
            "class": class_names[i], "pixels": n, "differ": differ, "fraction": differ / n,
            "mostly_as": (class_names[j] if j < c else "(other)") if differ else None,
            "mostly_as_fraction": int(other[j]) / n if differ else 0.0,
        })
    rows.sort(key=lambda r: -float(r["fraction"]))  # type: ignore[arg-type]
    return rows
