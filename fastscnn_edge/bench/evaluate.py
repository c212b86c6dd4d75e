"""Accuracy of any artifact on a labelled split (``eval``), and of two artifacts against each
other (``compare``).

Both run every frame through the same path as ``bench`` and ``predict``:
``read_image_bgr -> runner.preprocess`` (resize to the artifact's resolution) ``-> runner ->
runner.labels -> labels_to_size`` (nearest, back to the label's full size), and accumulate one
confusion matrix over the split (:mod:`fastscnn_edge.data.metrics`, the official Cityscapes
conventions). Scores in the returned dicts are fractions (0..1); tables print percentages.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, cast

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.data import datasets
from fastscnn_edge.data.metrics import ConfusionMatrix, disagreement, nan_to_none
from fastscnn_edge.runtime.backends import open_runner
from fastscnn_edge.runtime.runner import Runner

Warn = Callable[[str], None]


def _stderr_warning(message: str) -> None:
    import sys

    print(f"warning: {message}", file=sys.stderr)


def predict_labels(runner: Runner, bgr: np.ndarray) -> np.ndarray:
    """One frame -> HxW int64 train-ID labels at the frame's own size."""
    from fastscnn_edge.data.preprocess import labels_to_size

    labels = runner.labels(runner(runner.preprocess(bgr)))[0]
    return labels_to_size(labels, bgr.shape[:2])


def _read_or_skip(path: Path, skipped: List[str], warn: Warn) -> Optional[np.ndarray]:
    """A corrupt or unreadable image is skipped with a warning and counted, not fatal."""
    from fastscnn_edge.data.preprocess import read_image_bgr

    try:
        return read_image_bgr(path)
    except UserError:
        skipped.append(str(path))
        warn(f"cannot read image {path}; skipped.")
        return None


def _class_setup(root: Path, format: str, split: str, runner: Runner) -> Tuple[List[str], bool]:
    names = datasets.class_names(root, format, split)
    if runner.meta.num_classes != len(names):
        raise UserError(f"the model predicts {runner.meta.num_classes} classes but the dataset has {len(names)}.",
                        fix="evaluate on data with the model's classes (check classes.txt and --format).")
    return names, tuple(names) == datasets.CITYSCAPES_CLASS_NAMES


def _limited(samples: List[datasets.Sample], limit: Optional[int]) -> List[datasets.Sample]:
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit} is not positive.", fix="pass a count of images >= 1, or leave it out.")
    return samples[:limit] if limit else samples


def evaluate(artifact: str | Path, root: str | Path, format: str = "cityscapes", split: str = "val",
             limit: Optional[int] = None, res: Optional[Tuple[int, int]] = None, backend: str = "auto", *,
             device: str = "auto", threads: Optional[int] = None, progress: Optional[Progress] = None,
             warn: Warn = _stderr_warning) -> Dict[str, object]:
    """mIoU, per-class and category IoU and pixel accuracy of ``artifact`` on ``split`` of ``root``.

    Returns a JSON-able dict: the metrics (fractions, NaN as None), what was run (artifact,
    backend, device, precision, resolution), how many images were scored and which were skipped
    (no ground truth, unreadable), and the throughput in images/s (reading and resizing included).
    """
    root = Path(root)
    scan = datasets.scan_samples(root, format, split)
    if scan.missing_labels:
        warn(f"{len(scan.missing_labels)} image(s) without ground truth skipped (first: {scan.missing_labels[0]}).")
    samples = _limited(scan.samples, limit)
    unreadable: List[str] = []
    with open_runner(artifact, backend=backend, device=device, resolution=res, threads=threads) as runner:
        names, cityscapes = _class_setup(root, format, split, runner)
        cm = ConfusionMatrix(len(names))
        t0 = time.perf_counter()
        for i, sample in enumerate(samples, 1):
            image = _read_or_skip(sample.image, unreadable, warn)
            if image is not None:
                label = datasets.read_label(sample, format, len(names))
                datasets.check_label_size(sample, label, image)
                cm.update(label, predict_labels(runner, image))
            report(progress, "eval", i, len(samples))
        seconds = time.perf_counter() - t0
        scored = len(samples) - len(unreadable)
        if scored == 0:
            raise UserError(f"none of the {len(samples)} images could be read.", fix="check the image files.")
        result: Dict[str, object] = {
            "artifact": str(artifact), **_runner_facts(runner),
            "data": {"root": str(root), "format": format, "split": split, "limit": limit},
            "images": scored,
            "skipped": {"no_ground_truth": len(scan.missing_labels), "unreadable": len(unreadable),
                        "unreadable_files": unreadable},
            "seconds": seconds, "images_per_s": scored / seconds if seconds > 0 else None,
        }
    result.update(cm.summary(names, datasets.CITYSCAPES_CATEGORIES if cityscapes else None,
                             datasets.TRAIN_TO_CATEGORY if cityscapes else None))
    return result


def _runner_facts(runner: Runner) -> Dict[str, object]:
    meta = runner.meta
    return {"backend": runner.backend, "device": runner.device, "runtime": runner.description,
            "precision": meta.precision, "resolution": list(runner.resolution), "head": meta.head,
            "input_format": meta.input_format, "arch": meta.arch, "num_classes": meta.num_classes}


# ---------------------------------------------------------------------------------------------
# compare


def _random_frames(n: int, size: Tuple[int, int], seed: int = 0) -> Iterator[Tuple[np.ndarray, None]]:
    """Smooth random frames (upsampled coarse noise): unlike white noise, they give both models
    regions large enough to segment."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    for _ in range(n):
        coarse = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
        yield cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR), None


def compare(a: str | Path, b: str | Path, root: Optional[str | Path] = None, random: Optional[int] = None,
            res: Optional[Tuple[int, int]] = None, *, format: str = "cityscapes", split: str = "val",
            limit: Optional[int] = None, backend_a: str = "auto", backend_b: str = "auto", device: str = "auto",
            threads: Optional[int] = None, progress: Optional[Progress] = None, warn: Warn = _stderr_warning) -> Dict[str, object]:
    """Where two artifacts (e.g. the fp32 ONNX and the INT8 engine) label the same frames differently.

    Inputs: the images of ``root`` (``format``/``split``; ground truth used where present), or
    ``random`` synthetic frames at A's resolution. Returns pixel agreement, per-class disagreement
    (for each class of A: the fraction of its pixels B labels otherwise, and mostly as what) and,
    with ground truth, the mIoU of each and the difference B - A.
    """
    if (root is None) == (random is None):
        raise UserError("compare needs either a dataset or random frames.", fix="pass --data ROOT or --random N.")
    if random is not None and random < 1:
        raise UserError(f"--random {random} is not positive.", fix="pass a number of frames >= 1.")
    with ExitStack() as stack:
        ra = stack.enter_context(open_runner(a, backend=backend_a, device=device, resolution=res, threads=threads))
        rb = stack.enter_context(open_runner(b, backend=backend_b, device=device, resolution=res, threads=threads))
        if ra.meta.num_classes != rb.meta.num_classes:
            raise UserError(f"{a} predicts {ra.meta.num_classes} classes, {b} {rb.meta.num_classes}.",
                            fix="compare artifacts of the same model.")
        nc = ra.meta.num_classes
        names = list(ra.meta.class_names) if len(ra.meta.class_names) == nc else [str(i) for i in range(nc)]
        unreadable: List[str] = []
        if root is not None:
            scan = datasets.scan_samples(root, format, split, require_labels=False)
            samples = _limited(scan.samples, limit)
            frames = _dataset_frames(samples, format, nc, unreadable, warn)
            total = len(samples)
        else:
            frames, total = _random_frames(int(random), ra.resolution), int(random)  # type: ignore[arg-type]
        ab = ConfusionMatrix(nc, ignore_index=-1)
        gt_a, gt_b = ConfusionMatrix(nc), ConfusionMatrix(nc)
        with_gt = 0
        for i, (image, label) in enumerate(frames, 1):
            if image is not None:
                la, lb = predict_labels(ra, image), predict_labels(rb, image)
                ab.update(la, lb)
                if label is not None:
                    gt_a.update(label, la)
                    gt_b.update(label, lb)
                    with_gt += 1
            report(progress, "compare", i, total)
        if ab.total == 0:
            raise UserError("no frame could be read.", fix="check the image files.")
        result: Dict[str, object] = {
            "a": {"artifact": str(a), **_runner_facts(ra)}, "b": {"artifact": str(b), **_runner_facts(rb)},
        }
    result.update({
        "inputs": {"root": str(root), "format": format, "split": split} if root is not None else {"random": random},
        "frames": total - len(unreadable), "frames_with_ground_truth": with_gt,
        "skipped": {"unreadable": len(unreadable), "unreadable_files": unreadable},
        "pixels": ab.total, "pixel_agreement": ab.pixel_accuracy(),
        "disagreement": disagreement(ab.matrix, names), "class_names": names,
        "confusion_a_vs_b": ab.matrix.tolist(),
    })
    if with_gt:
        ma, mb = gt_a.miou(), gt_b.miou()
        result.update({"miou_a": nan_to_none(ma), "miou_b": nan_to_none(mb), "miou_difference": nan_to_none(mb - ma),
                       "class_iou_a": dict(zip(names, map(nan_to_none, gt_a.class_iou()))),
                       "class_iou_b": dict(zip(names, map(nan_to_none, gt_b.class_iou())))})
    return result


def _dataset_frames(samples: Sequence[datasets.Sample], format: str, num_classes: int, unreadable: List[str],
                    warn: Warn) -> Iterator[Tuple[Optional[np.ndarray], Optional[np.ndarray]]]:
    for sample in samples:
        image = _read_or_skip(sample.image, unreadable, warn)
        label = None
        if image is not None and sample.label is not None:
            label = datasets.read_label(sample, format, num_classes)
            datasets.check_label_size(sample, label, image)
        yield image, label


# ---------------------------------------------------------------------------------------------
# reports


def _pct(v: object) -> str:
    return "-" if v is None else f"{100 * float(v):.2f}"  # type: ignore[arg-type]


def eval_tables(result: Dict[str, object]) -> List[object]:
    """rich Tables for an :func:`evaluate` result: per class, per category, and the summary."""
    from rich.table import Table

    classes = Table(title="IoU per class (%)", show_edge=False)
    classes.add_column("class")
    classes.add_column("IoU", justify="right")
    for name, v in cast(Dict[str, Optional[float]], result["class_iou"]).items():
        classes.add_row(name, _pct(v))
    tables: List[object] = [classes]
    if "category_iou" in result:
        cats = Table(title="IoU per category (%)", show_edge=False)
        cats.add_column("category")
        cats.add_column("IoU", justify="right")
        for name, v in cast(Dict[str, Optional[float]], result["category_iou"]).items():
            cats.add_row(name, _pct(v))
        tables.append(cats)
    summary = Table(title=f"{Path(str(result['artifact'])).name} on {result['images']} images", show_edge=False)
    for col in ("backend", "precision", "res", "mIoU %", "cat. mIoU %", "pixel acc. %", "img/s"):
        summary.add_column(col, justify="right")
    ips = result.get("images_per_s")
    res = result["resolution"]
    summary.add_row(str(result["backend"]), str(result["precision"]), f"{res[0]}x{res[1]}",  # type: ignore[index]
                    _pct(result["miou"]), _pct(result.get("category_miou")), _pct(result["pixel_accuracy"]),
                    "-" if ips is None else f"{float(ips):.1f}")  # type: ignore[arg-type]
    tables.append(summary)
    return tables


def compare_tables(result: Dict[str, object], top: int = 10) -> List[object]:
    """rich Tables for a :func:`compare` result: the summary and where A and B disagree most."""
    from rich.table import Table

    a, b = result["a"], result["b"]
    summary = Table(title=f"A = {Path(a['artifact']).name} ({a['backend']} {a['precision']})   "  # type: ignore[index]
                          f"B = {Path(b['artifact']).name} ({b['backend']} {b['precision']})", show_edge=False)  # type: ignore[index]
    cols = ["frames", "pixel agreement %"] + (["mIoU A %", "mIoU B %", "B - A (points)"] if "miou_a" in result else [])
    for c in cols:
        summary.add_column(c, justify="right")
    row = [str(result["frames"]), f"{100 * float(result['pixel_agreement']):.3f}"]  # type: ignore[arg-type]
    if "miou_a" in result:
        diff = result["miou_difference"]
        row += [_pct(result["miou_a"]), _pct(result["miou_b"]), "-" if diff is None else f"{100 * float(diff):+.2f}"]  # type: ignore[arg-type]
    summary.add_row(*row)
    where = Table(title="where B disagrees with A (per class of A)", show_edge=False)
    for c in ("class of A", "pixels", "B differs %", "mostly as", "%"):
        where.add_column(c, justify="right" if c not in ("class of A", "mostly as") else "left")
    for r in result["disagreement"][:top]:  # type: ignore[index]
        where.add_row(r["class"], str(r["pixels"]), f"{100 * r['fraction']:.2f}", r["mostly_as"] or "-",
                      f"{100 * r['mostly_as_fraction']:.2f}")
    return [summary, where]
