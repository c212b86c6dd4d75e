"""Calibration data for INT8: the image set, the reader that feeds it, and the range cache.

The images are read with OpenCV and go through :mod:`fastscnn_edge.data.preprocess` exactly as at
inference time, so the ranges describe what the deployed model will see. The cache stores the
per-tensor ranges as plain floats, keyed by the source ONNX and the image list, so a rebuild needs
neither the images nor a new calibration pass. torch-free (numpy, OpenCV, onnxruntime).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.progress import Progress, report

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
HARD_MIN_IMAGES = 8  # below this the ranges describe a handful of frames, not a domain
WARN_MIN_IMAGES = 100  # hundreds of images are what calibration needs to be representative
CACHE_FORMAT = "fastscnn-edge calibration cache v1"
METHODS = ("entropy", "minmax", "percentile")
FORMS = ("tensorrt", "cpu")  # the INT8 Q/DQ forms (TensorRT's placement; onnxruntime's x86 kernels)

Log = Optional[Callable[[str], None]]


@dataclass
class CalibrationSet:
    """The usable calibration images, in a fixed order, and what was skipped (and why)."""

    root: Path  # names in the cache key are relative to this folder
    paths: List[Path]
    sha256: List[str]
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)
    found: int = 0  # usable images before the held-out split and --calib-count
    heldout: List[Path] = field(default_factory=list)  # never calibrated on: where agreement is measured

    @property
    def names(self) -> List[str]:
        return [_rel(p, self.root) for p in self.paths]

    def digest(self) -> str:
        """sha256 of the ordered (name, content hash) list: the image half of the cache key."""
        return image_list_digest(self.names, self.sha256)


def image_list_digest(names: List[str], hashes: List[str]) -> str:
    h = hashlib.sha256()
    for name, sha in zip(names, hashes):
        h.update(f"{name}\t{sha}\n".encode("utf-8"))
    return h.hexdigest()


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _candidates(source: Path) -> Tuple[Path, List[Path], List[Tuple[str, str]]]:
    """(root, candidate files, skipped) for a folder (recursive) or a ``.txt`` list."""
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        skipped = [(str(p), "not an image file extension") for p in files if p.suffix.lower() not in IMAGE_EXTS]
        return source, [p for p in files if p.suffix.lower() in IMAGE_EXTS], skipped
    if source.is_file() and source.suffix.lower() == ".txt":
        root = source.parent
        out: List[Path] = []
        for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
            entry = line.split("#", 1)[0].strip()
            if entry:
                p = Path(entry)
                out.append(p if p.is_absolute() else root / p)
        return root, out, []
    if not source.exists():
        raise UserError(f"image source {source} does not exist.",
                        fix="pass a folder of images or a .txt file listing them.")
    raise UserError(f"image source {source} is neither a folder nor a .txt list.",
                    fix="pass a folder of images or a .txt file with one image path per line.")


def _readable(path: Path) -> Tuple[bool, str]:
    import cv2

    if not path.is_file():
        return False, "missing"
    if path.stat().st_size == 0:
        return False, "empty file"
    if not cv2.haveImageReader(str(path)):
        return False, "not an image OpenCV can read"
    return True, ""


def collect_images(source: str | Path, *, count: Optional[int] = None, holdout: float = 0.0,
                   hard_min: int = HARD_MIN_IMAGES, log: Log = None) -> CalibrationSet:
    """Find the calibration images in a folder (recursive) or a ``.txt`` list.

    List format: one path per line, relative to the list's folder (or absolute); ``#`` starts a
    comment; blank lines are ignored. Unreadable and non-image files are skipped and counted (the
    count is logged). ``holdout`` (0..0.5) sets aside every k-th image of the sorted list, k =
    round(1 / holdout), in ``heldout``: those are never calibrated on. ``count`` then picks that
    many of the rest, evenly spaced, so a sequence of frames is sampled over its whole length.
    Raises UserError when no usable image remains, fewer than ``hard_min`` or ``count`` remain to
    calibrate on; logs a warning under 100.
    """
    source = Path(source)
    if count is not None and count < 1:
        raise UserError(f"--calib-count {count} is not a positive number.", fix="pass --calib-count 1 or more.")
    if not 0.0 <= holdout <= 0.5:
        raise UserError(f"--holdout {holdout} is not a fraction in 0..0.5.", fix="pass e.g. --holdout 0.1, or 0 with --val DIR.")
    root, paths, skipped = usable_images(source, log)
    found = len(paths)
    heldout: List[Path] = []
    if holdout > 0:
        k = max(2, int(round(1.0 / holdout)))
        heldout = paths[k - 1::k]
        paths = [p for i, p in enumerate(paths) if i % k != k - 1]
    split = f" after holding out {len(heldout)} for validation" if heldout else ""
    if count is not None and len(paths) < count:
        raise UserError(f"--calib-count {count} asks for more images than the {len(paths)} readable in {source}{split}.",
                        fix=f"add images, or pass --calib-count {len(paths)} or less.")
    if len(paths) < hard_min:
        raise UserError(f"only {len(paths)} readable calibration image(s) in {source}{split}; at least {hard_min} "
                        "are needed.", fix="add images from the deployment domain (hundreds are recommended).")
    if count is not None and count < len(paths):
        idx = np.linspace(0, len(paths) - 1, count).round().astype(int)
        paths = [paths[i] for i in idx]
    if len(paths) < WARN_MIN_IMAGES and log is not None:
        log(f"warning: {len(paths)} calibration images; {WARN_MIN_IMAGES} or more (hundreds) from the "
            "deployment domain give more reliable INT8 ranges.")
    from fastscnn_edge.core.fileio import sha256_file

    return CalibrationSet(root, paths, [sha256_file(p) for p in paths], skipped, found, heldout)


def usable_images(source: Path, log: Log = None) -> Tuple[Path, List[Path], List[Tuple[str, str]]]:
    """(root, readable images in order, skipped (path, reason)); UserError when none is readable."""
    root, candidates, skipped = _candidates(source)
    paths: List[Path] = []
    for p in candidates:
        ok, why = _readable(p)
        if ok:
            paths.append(p)
        else:
            skipped.append((str(p), why))
    if skipped and log is not None:
        reasons: Dict[str, int] = {}
        for _, why in skipped:
            reasons[why] = reasons.get(why, 0) + 1
        detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        log(f"warning: skipped {len(skipped)} file(s) in {source} ({detail}).")
    if not paths:
        raise UserError(f"no readable images in {source} ({len(skipped)} file(s) skipped).",
                        fix=f"point at a folder of {'/'.join(IMAGE_EXTS)} images or a .txt list of them.")
    return root, paths, skipped


def validation_images(source: str | Path, calibrated_sha256: Iterable[str], log: Log = None) -> List[Path]:
    """The images of ``source`` (folder, Cityscapes root or ``.txt`` list) whose content is none of
    ``calibrated_sha256``: agreement must be measured on images calibration never saw.

    A Cityscapes root (``leftImg8bit/val`` inside) means its val split.
    """
    from fastscnn_edge.core.fileio import sha256_file

    source = Path(source)
    if (source / "leftImg8bit" / "val").is_dir():
        source = source / "leftImg8bit" / "val"
    _, paths, _ = usable_images(source, log)
    seen = set(calibrated_sha256)
    kept = [p for p in paths if sha256_file(p) not in seen]
    if len(kept) < len(paths) and log is not None:
        log(f"warning: {len(paths) - len(kept)} --val image(s) are also calibration images; left out of validation.")
    if not kept:
        raise UserError(f"every image in {source} is also a calibration image.",
                        fix="validate on images calibration never saw (another split or folder).")
    return kept


def policy_string(meta: ModelMeta, res: Tuple[int, int]) -> str:
    """What the calibration frames went through, recorded in the output's metadata."""
    from fastscnn_edge.data.preprocess import POLICY

    norm = "in-graph" if meta.input_format != "float" else f"mean={list(meta.mean)} std={list(meta.std)}"
    return (f"{POLICY} to {res[0]}x{res[1]}, OpenCV imread -> BGR8 (gray/alpha converted), "
            f"input={meta.input_format} order={meta.channel_order} normalization {norm}")


class ImageReader:
    """onnxruntime ``CalibrationDataReader``: one preprocessed frame per ``get_next()``.

    Frames that fail to decode are skipped and counted in ``failed``; ``on_frame`` is called once
    per image (the progress bar).
    """

    def __init__(self, paths: List[Path], meta: ModelMeta, res: Tuple[int, int], input_name: str,
                 on_frame: Optional[Callable[[], None]] = None) -> None:
        self.meta, self.res, self.input_name, self.on_frame = meta, res, input_name, on_frame
        self.failed: List[str] = []
        self._it: Iterator[Path] = iter(paths)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        from fastscnn_edge.data.preprocess import read_image_bgr, to_network_input

        for path in self._it:
            if self.on_frame is not None:
                self.on_frame()
            try:
                bgr = read_image_bgr(path)
            except UserError:
                self.failed.append(str(path))
                continue
            return {self.input_name: to_network_input(bgr, self.meta, self.res)}
        return None

    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]:
        while (item := self.get_next()) is not None:
            yield item


def compute_ranges(model_path: Path, op_types: List[str], images: List[Path], meta: ModelMeta,
                   res: Tuple[int, int], method: str, *, progress: Optional[Progress] = None,
                   log: Log = None, input_name: Optional[str] = None,
                   percentile: Optional[float] = None) -> Dict[str, Tuple[float, float]]:
    """Run onnxruntime's calibrator over ``images``; return {tensor: (lowest, highest)}.

    Frames are fed one at a time (``collect_data`` may be called repeatedly), so memory stays
    flat however many images there are, and ``progress`` follows image by image. ``input_name``:
    the graph's input (read from the file where not given).
    """
    import inspect
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    methods = {"entropy": CalibrationMethod.Entropy, "minmax": CalibrationMethod.MinMax,
               "percentile": CalibrationMethod.Percentile}
    ort.set_default_logger_severity(3)  # the calibrator's own sessions warn about unused initializers
    if input_name is None:
        input_name = onnx.load(str(model_path), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="fastscnn-calib.") as tmp:
        kwargs: Dict[str, Any] = {"augmented_model_path": str(Path(tmp) / "augmented.onnx"),
                                  "calibrate_method": methods[method]}
        if "providers" in inspect.signature(create_calibrator).parameters:  # not in older onnxruntime
            # onnxruntime-gpu calibrates on the GPU (hundreds of 1024x2048 frames take minutes on a CPU).
            kwargs["providers"] = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                                   if p in ort.get_available_providers()]
        if percentile is not None:  # the percentile method's cut (onnxruntime's default: 99.999)
            kwargs["extra_options"] = {"percentile": float(percentile)}
        calibrator = create_calibrator(model_path, op_types, **kwargs)
        seen = [0]

        def advance() -> None:
            seen[0] += 1
            report(progress, f"calibrating ({method})", seen[0], len(images))

        reader = ImageReader(images, meta, res, input_name, on_frame=advance)
        fed = 0
        while (item := reader.get_next()) is not None:
            with _quiet():
                calibrator.collect_data(_Single(item))
            fed += 1
        if reader.failed and log is not None:
            log(f"warning: {len(reader.failed)} calibration image(s) failed to decode and were skipped.")
        if fed == 0:
            raise UserError("none of the calibration images could be decoded.",
                            fix="check the files with an image viewer, or pass other images with --calib.")
        with _quiet():  # compute_range: the name before onnxruntime 1.17
            data = (calibrator.compute_data if hasattr(calibrator, "compute_data") else calibrator.compute_range)()
    return {name: _range(td) for name, td in data.items()}


def _range(td: object) -> Tuple[float, float]:
    """TensorData (onnxruntime >= 1.17) or a (min, max[, ...]) tuple (older) -> two floats."""
    lo_hi = td.range_value if hasattr(td, "range_value") else td  # type: ignore[attr-defined]
    return _scalar(lo_hi[0]), _scalar(lo_hi[1])  # type: ignore[index]


def _scalar(value: object) -> float:
    """The calibrators return 0-d or 1-element float32 arrays; the cache stores plain floats."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.size != 1:
        raise ValueError(f"expected one range value per tensor, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def _quiet():  # noqa: ANN202
    """The histogram calibrators print progress lines to stdout, where our results go."""
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


class _Single:
    """A data reader over one prepared frame (lets ``collect_data`` run per image)."""

    def __init__(self, item: Dict[str, np.ndarray]) -> None:
        self._item: Optional[Dict[str, np.ndarray]] = item

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        item, self._item = self._item, None
        return item


# --- the cache -------------------------------------------------------------------------------

def cache_key(onnx_sha256: str, images_sha256: str, method: str, form: str) -> str:
    """The identity of a calibration: same model, same ordered images, same method and form."""
    return hashlib.sha256(f"{onnx_sha256}|{images_sha256}|{method}|{form}".encode()).hexdigest()


def save_cache(path: Path, *, onnx_sha256: str, images: CalibrationSet, method: str, form: str,
               policy: str, ranges: Dict[str, Tuple[float, float]], key_method: Optional[str] = None) -> Path:
    """Write the ranges as JSON (atomically). float32 ranges survive the float64 JSON round trip exactly.
    ``key_method``: the method as the key sees it (``percentile@99.99`` for a non-default cut)."""
    from fastscnn_edge.core.fileio import atomic_write_text

    doc = {
        "format": CACHE_FORMAT,
        "key": cache_key(onnx_sha256, images.digest(), key_method or method, form),
        "onnx_sha256": onnx_sha256,
        "images_sha256": images.digest(),
        "method": method,
        "target": form,
        "count": len(images.paths),
        "policy": policy,
        "images": [[n, s] for n, s in zip(images.names, images.sha256)],
        "ranges": {k: [lo, hi] for k, (lo, hi) in sorted(ranges.items())},
    }
    return atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def _cache_schema() -> Dict[str, Any]:
    """The calibration cache as stored (``format`` is checked first)."""
    from fastscnn_edge.core.schema import Field, hex_digest

    def ordered(pair: List[float]) -> Optional[str]:
        return None if pair[0] <= pair[1] else "[lowest, highest] with lowest <= highest"

    digest = Field(str, check=hex_digest, expect="a sha256 hex digest (64 hex digits)")
    return {
        "key": digest,
        "onnx_sha256": digest,
        "images_sha256": digest,
        "method": Field(str, choices=tuple(METHODS)),
        "target": Field(str, choices=tuple(FORMS)),
        "count": Field(int, lo=0),
        "policy": Field(str, default=""),
        "images": Field(list, default=list, items=Field(list, length=2, items=Field(str))),
        "ranges": Field(dict, keys=Field(str), values=Field(list, length=2, items=Field(float), check=ordered,
                                                            expect="[lowest, highest], two finite numbers"),
                        check=lambda r: None if r else "at least one tensor range"),
    }


def load_cache(path: Path) -> Dict[str, object]:
    """Read a cache written by :func:`save_cache`, every field checked; UserError when it is not one
    (naming the file, the field and what was expected) or was written by a newer fastscnn-edge."""
    from fastscnn_edge.core.schema import check_format_tag, validate

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"calibration cache {path} does not exist.",
                        fix="pass the .calib.json written beside an earlier INT8 model, or calibrate with --calib DIR.") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"calibration cache {path} is not readable JSON ({type(exc).__name__}).",
                        fix="delete it and calibrate again with --calib DIR.") from None
    fix = "delete it and calibrate again with --calib DIR (do not edit the cache by hand)."
    family, _, current = CACHE_FORMAT.rpartition(" v")
    check_format_tag(doc.get("format") if isinstance(doc, dict) else None, family=family, current=int(current),
                     separator=" v", source=str(path), foreign="is not a fastscnn-edge calibration cache",
                     fix_foreign="pass the .calib.json written by `fastscnn-edge quantize --int8`, or calibrate with --calib DIR.")
    d = validate(doc, _cache_schema(), source=str(path), fix=fix, what="calibration cache")
    d["format"] = doc["format"]
    return d


def ranges_from_cache(doc: Dict[str, object]) -> Dict[str, Tuple[float, float]]:
    """{tensor: (lowest, highest)} of a cache read by :func:`load_cache` (already checked)."""
    ranges = doc["ranges"]
    assert isinstance(ranges, dict)
    return {str(k): (float(v[0]), float(v[1])) for k, v in ranges.items()}
