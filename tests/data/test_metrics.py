"""Confusion-matrix metrics, checked against the official Cityscapes evaluation on the same files.

``official_evaluation`` drives cityscapesscripts' pure-Python path (no Cython, no JSON file); the
eval and predict tests import it.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
from tests.data.test_datasets import write_cityscapes

from fastscnn_edge.data import datasets
from fastscnn_edge.data.datasets import find_samples, read_label
from fastscnn_edge.data.metrics import ConfusionMatrix, disagreement, nanmean


def official_args(monkeypatch, results: Path | None = None):  # noqa: ANN001, ANN201
    """A private copy of the official script's settings, quiet, no JSON, no instance scores."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as ev

    monkeypatch.setattr(ev, "CSUPPORT", False)  # the pure-numpy path, whatever is compiled
    args = copy.copy(ev.args)
    args.quiet = True
    args.JSONOutput = False
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.predictionPath = str(results) if results is not None else None
    args.predictionWalk = None
    return ev, args


def official_evaluation(monkeypatch, predictions: List[Path], ground_truth: List[Path]) -> Dict[str, object]:
    ev, args = official_args(monkeypatch)
    return ev.evaluateImgLists([str(p) for p in predictions], [str(g) for g in ground_truth], args)


def noisy_prediction(rng: np.random.Generator, train_ids: np.ndarray, never: int) -> np.ndarray:
    """Mostly right, a third random, class ``never`` never predicted."""
    pred = np.where(train_ids == 255, rng.integers(0, 19, train_ids.shape), train_ids).astype(np.uint8)
    flip = rng.random(train_ids.shape) < 0.33
    pred[flip] = rng.integers(0, 19, int(flip.sum()))
    pred[pred == never] = 0
    return pred


def test_matches_the_official_cityscapes_evaluation(tmp_path, monkeypatch):
    gt_files = write_cityscapes(tmp_path / "data")
    for f in gt_files:  # no 'train' (31) in the ground truth: its IoU must be NaN on both sides
        ids = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        ids[ids == 31] = 26
        cv2.imwrite(str(f), ids)
    rng = np.random.default_rng(1)
    cm = ConfusionMatrix(19)
    preds = []
    for s in find_samples(tmp_path / "data"):
        train = read_label(s, "cityscapes")
        pred = noisy_prediction(rng, train, never=datasets.CITYSCAPES_CLASS_NAMES.index("train"))
        cm.update(train, pred)
        out = tmp_path / "results" / f"{s.name}_leftImg8bit.png"
        out.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(out), datasets.TRAIN_TO_LABEL_ID[pred])
        preds.append(out)
    ref = official_evaluation(monkeypatch, preds, gt_files)

    ours = cm.summary(datasets.CITYSCAPES_CLASS_NAMES, datasets.CITYSCAPES_CATEGORIES, datasets.TRAIN_TO_CATEGORY)
    for name, value in ours["class_iou"].items():  # type: ignore[union-attr]
        theirs = ref["classScores"][name]
        assert (value is None and math.isnan(theirs)) or value == pytest.approx(theirs, abs=1e-12), name
    assert ours["class_iou"]["train"] is None  # type: ignore[index]
    assert ours["miou"] == pytest.approx(ref["averageScoreClasses"], abs=1e-12)
    for name, value in ours["category_iou"].items():  # type: ignore[union-attr]
        assert value == pytest.approx(ref["categoryScores"][name], abs=1e-12), name
    assert ours["category_miou"] == pytest.approx(ref["averageScoreCategories"], abs=1e-12)
    assert 0.3 < ours["miou"] < 0.9  # type: ignore[operator]  # a real mix of hits and misses
    # every non-ignored pixel of the official matrix is in ours
    ignored_ids = [lab.id for lab in datasets.CITYSCAPES_LABELS if lab.ignore_in_eval]
    conf = np.array(ref["confMatrix"])
    conf[ignored_ids, :] = 0
    assert cm.total == int(conf.sum())


def test_class_absent_from_truth_but_predicted_scores_zero():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 0, 1, 255]], np.uint8), np.array([[0, 2, 1, 2]]))
    iou = cm.class_iou()
    assert iou.tolist() == [0.5, 1.0, 0.0]  # class 2: one false positive, no truth
    assert cm.total == 3 and cm.pixel_accuracy() == pytest.approx(2 / 3)
    assert cm.miou() == pytest.approx(0.5)


def test_class_absent_everywhere_is_not_averaged():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
    assert math.isnan(cm.class_iou()[2])
    assert cm.miou() == pytest.approx((0.5 + 0.5) / 2)


def test_prediction_outside_the_classes_is_a_miss_without_false_positive():
    cm = ConfusionMatrix(2)
    cm.update(np.array([0, 0, 1]), np.array([0, 7, 1]))
    assert cm.class_iou().tolist() == [0.5, 1.0]
    assert cm.matrix[0, 2] == 1


def test_accumulates_over_the_split_not_per_image_mean():
    cm = ConfusionMatrix(2)
    cm.update(np.zeros(100, np.uint8), np.zeros(100))  # class 0: 100 % in a big image
    cm.update(np.zeros(1, np.uint8), np.ones(1))  # and 0 % in a one-pixel image
    assert cm.class_iou()[0] == pytest.approx(100 / 101)


def test_grouped_matches_manual_merge():
    rng = np.random.default_rng(0)
    cm = ConfusionMatrix(4)
    gt, pred = rng.integers(0, 4, 500), rng.integers(-1, 5, 500)
    cm.update(gt, pred)
    groups = [0, 0, 1, 1]
    g = ConfusionMatrix(2)
    g.update(np.array(groups)[gt], np.where((pred < 0) | (pred > 3), 9, np.array(groups + [9])[np.clip(pred, 0, 4)]))
    assert np.array_equal(cm.grouped(groups, 2).matrix, g.matrix)


def test_shape_mismatch_and_bad_truth_raise():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match="differ in shape"):
        cm.update(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="outside"):
        cm.update(np.array([5]), np.array([0]))


def test_disagreement_breakdown():
    m = np.array([[90, 10, 0], [0, 50, 0]])  # A class 0: 10 % labelled 1 by B
    rows = disagreement(m, ["a", "b"])
    assert rows[0] == {"class": "a", "pixels": 100, "differ": 10, "fraction": 0.1, "mostly_as": "b",
                       "mostly_as_fraction": 0.1}
    assert rows[1]["differ"] == 0 and rows[1]["mostly_as"] is None


def test_nanmean_of_nothing_is_nan_without_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(nanmean(np.array([np.nan])))
