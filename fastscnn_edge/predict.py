"""Segment real inputs: image files, folders of images, video files, a camera.

Every frame goes through the same path as ``eval`` (resize to the artifact's resolution, run,
labels back to the frame's own size, nearest-neighbour), then is written as:

- ``color``: the Cityscapes palette (BGR PNG / video);
- ``overlay``: the colours blended over the input;
- ``trainids``: 8-bit PNG of train IDs (0..C-1);
- ``cityscapes-labelids``: 8-bit PNG of Cityscapes label IDs, named after the input
  (``<city>_<seq>_<frame>_leftImg8bit.png``): the official evaluation script finds the prediction
  for ``<city>_<seq>_<frame>_gtFine_labelIds.png`` by globbing ``<city>_<seq>_<frame>*.png``.

Images keep their name (``.png``) and, inside a folder input, their sub-folder; videos and cameras
become ``<name>.mp4`` (mp4v) in colour or overlay. Every file is written atomically.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.datasets import IMAGE_SUFFIXES, NUM_CITYSCAPES_CLASSES, TRAIN_TO_LABEL_ID
from fastscnn_edge.errors import UserError
from fastscnn_edge.progress import Progress, report

OUTPUT_FORMATS = ("color", "overlay", "trainids", "cityscapes-labelids")
VIDEO_FORMATS = ("color", "overlay")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
Warn = Callable[[str], None]


@dataclass
class Source:
    """One input: an image or video file (``path``) or a camera (``camera`` index)."""

    kind: str  # image | video | camera
    output: Path  # relative to the output folder
    path: Optional[Path] = None
    camera: Optional[int] = None


@dataclass
class PredictResult:
    outputs: List[Path] = field(default_factory=list)
    images: int = 0
    frames: int = 0  # video and camera frames
    skipped: List[str] = field(default_factory=list)
    seconds: float = 0.0
    video_fps: Dict[str, float] = field(default_factory=dict)  # output -> processed frames per second
    random_weights: bool = False  # the artifact was exported without trained weights


def _stderr_warning(message: str) -> None:
    import sys

    print(f"warning: {message}", file=sys.stderr)


def collect_sources(inputs: Sequence[str | Path], exclude: Optional[Path] = None) -> List[Source]:
    """Expand the command-line inputs; raises UserError for a missing path or an empty folder.

    Images under ``exclude`` (the output folder, when it lies inside an input folder) are left
    out, so that a second run does not segment the first run's results.
    """
    if not inputs:
        raise UserError("no input given.", fix="pass image files, folders, a video file or a camera index.")
    sources: List[Source] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            sources += _folder_sources(path, exclude)
        elif path.is_file():
            kind = "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
            sources.append(Source(kind, Path(path.stem + (".mp4" if kind == "video" else ".png")), path=path))
        elif str(item).isdigit():
            sources.append(Source("camera", Path(f"camera{item}.mp4"), camera=int(str(item))))
        else:
            raise UserError(f"input {item} does not exist.", fix="pass image files, folders, a video file or a camera index (0, 1, ...).")
    _check_unique(sources)
    return sources


def _folder_sources(folder: Path, exclude: Optional[Path]) -> List[Source]:
    skip = exclude.resolve() if exclude is not None else None
    images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                    and (skip is None or skip not in p.resolve().parents))
    if not images:
        raise UserError(f"folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)}).",
                        fix="pass a folder of images, or the image files themselves.")
    return [Source("image", p.relative_to(folder).with_suffix(".png"), path=p) for p in images]


def _check_unique(sources: Sequence[Source]) -> None:
    seen: Dict[Path, Source] = {}
    for s in sources:
        if s.output in seen:
            raise UserError(f"{seen[s.output].path or s.output} and {s.path or s.output} would both be written as {s.output}.",
                            fix="predict them into separate --out folders.")
        seen[s.output] = s


def check_format(format: str, num_classes: int, sources: Sequence[Source]) -> None:
    if format not in OUTPUT_FORMATS:
        raise UserError(f"unknown output format {format!r}.", fix=f"use one of: {', '.join(OUTPUT_FORMATS)}.")
    if format == "cityscapes-labelids" and num_classes != NUM_CITYSCAPES_CLASSES:
        raise UserError(f"the model predicts {num_classes} classes, not the 19 Cityscapes train IDs.",
                        fix="use --format trainids for other class sets.")
    if format not in VIDEO_FORMATS and any(s.kind != "image" for s in sources):
        raise UserError(f"--format {format} writes label PNGs; video and camera inputs are written as video.",
                        fix="use --format color or overlay for videos and cameras.")


def render(bgr: np.ndarray, labels: np.ndarray, format: str, num_classes: int) -> np.ndarray:
    """The output image for one frame: BGR colours, or 8-bit label IDs."""
    from fastscnn_edge import palette

    if format == "color":
        return palette.colorize(labels, num_classes)
    if format == "overlay":
        return palette.overlay(bgr, labels, num_classes)
    if format == "trainids":
        return labels.astype(np.uint8)
    return TRAIN_TO_LABEL_ID[labels]


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    from fastscnn_edge.fileio import atomic_write_bytes

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"cannot encode {path}.", fix="report this with the input that caused it.")
    atomic_write_bytes(path, buf.tobytes())


def predict(artifact: str | Path, inputs: Sequence[str | Path], out_dir: str | Path = "predictions",
            format: str = "color", *, backend: str = "auto", device: str = "auto",
            res: Optional[Tuple[int, int]] = None, threads: Optional[int] = None, max_frames: Optional[int] = None,
            progress: Optional[Progress] = None, warn: Warn = _stderr_warning) -> PredictResult:
    """Segment every input and write the results under ``out_dir`` (see the module doc).

    Unreadable images are skipped with a warning and listed in ``skipped``; ``max_frames`` caps
    each video/camera (a camera otherwise runs until Ctrl-C, which ends it cleanly).
    """
    from fastscnn_edge.evaluate import open_runner

    out = Path(out_dir)
    if max_frames is not None and max_frames < 1:
        raise UserError(f"--frames {max_frames} is not positive.", fix="pass a frame count >= 1, or leave it out.")
    sources = collect_sources(inputs, exclude=out)
    _check_not_overwriting(sources, out)
    _check_some_image_readable(sources)
    result = PredictResult()
    t0 = time.perf_counter()
    with open_runner(artifact, backend=backend, device=device, res=res, threads=threads) as runner:
        result.random_weights = runner.meta.random_weights
        nc = runner.meta.num_classes
        check_format(format, nc, sources)
        images = [s for s in sources if s.kind == "image"]
        if images:
            _predict_images(runner, images, out, format, result, progress, warn)
        for s in sources:
            if s.kind != "image":
                _predict_stream(runner, s, out, format, result, max_frames, progress)
    result.seconds = time.perf_counter() - t0
    if not result.outputs:
        raise UserError("no input could be read; nothing was written.", fix="check the input files.")
    return result


def _check_some_image_readable(sources: Sequence[Source]) -> None:
    """Refuse before loading the model when every input is an image file and none is decodable
    (OpenCV sniffs the header); a few unreadable ones among good ones are skipped and counted."""
    import cv2

    if not sources or any(s.kind != "image" for s in sources):
        return
    for s in sources:
        if s.path is not None and s.path.stat().st_size > 0 and cv2.haveImageReader(str(s.path)):
            return
    raise UserError(f"none of the {len(sources)} input file(s) is an image OpenCV can read (first: {sources[0].path}); "
                    "nothing was written.",
                    fix="pass PNG/JPEG/BMP/TIFF/WebP images, a folder of them, a video file or a camera index.")


def _check_not_overwriting(sources: Sequence[Source], out: Path) -> None:
    for s in sources:
        if s.path is not None and os.path.abspath(out / s.output) == os.path.abspath(s.path):
            raise UserError(f"the output for {s.path} would overwrite it.", fix="choose another --out folder.")


def _predict_images(runner, sources: Sequence[Source], out: Path, format: str, result: PredictResult,  # noqa: ANN001
                    progress: Optional[Progress], warn: Warn) -> None:
    from fastscnn_edge.evaluate import predict_labels
    from fastscnn_edge.preprocess import read_image_bgr

    for i, s in enumerate(sources, 1):
        try:
            bgr = read_image_bgr(s.path)  # type: ignore[arg-type]
        except UserError:
            result.skipped.append(str(s.path))
            warn(f"cannot read image {s.path}; skipped.")
        else:
            target = out / s.output
            _write_png(target, render(bgr, predict_labels(runner, bgr), format, runner.meta.num_classes))
            result.outputs.append(target)
            result.images += 1
        report(progress, "images", i, len(sources))


def _open_capture(source: Source):  # noqa: ANN202 - cv2.VideoCapture
    import cv2
    from cv2.utils import logging as cv_log

    # FFmpeg prints its own lines ("moov atom not found") for a bad file; we report it in one line.
    # Read when OpenCV first opens a video; set OPENCV_FFMPEG_LOGLEVEL yourself to see them.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    level = cv_log.getLogLevel()
    cv_log.setLogLevel(cv_log.LOG_LEVEL_ERROR)  # a failed open is reported below, in one line
    try:
        cap = cv2.VideoCapture(str(source.path) if source.path is not None else source.camera)  # type: ignore[arg-type]
    finally:
        cv_log.setLogLevel(level)
    if not cap.isOpened():
        what = f"video {source.path}" if source.path is not None else f"camera {source.camera}"
        raise UserError(f"cannot open {what}.", fix="check the file (codec) or the camera index.")
    return cap


def _frames(cap, max_frames: Optional[int], live: bool) -> Iterator[np.ndarray]:  # noqa: ANN001
    n = 0
    try:
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                return
            n += 1
            yield frame
    except KeyboardInterrupt:
        if not live:  # a file is stopped by Ctrl-C as an error; a camera that way as its normal end
            raise


def _predict_stream(runner, source: Source, out: Path, format: str, result: PredictResult,  # noqa: ANN001
                    max_frames: Optional[int], progress: Optional[Progress]) -> None:
    import cv2

    from fastscnn_edge.evaluate import predict_labels
    from fastscnn_edge.fileio import atomic_path
    from fastscnn_edge.preprocess import to_bgr8

    cap = _open_capture(source)
    live = source.kind == "camera"
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 30.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not live else 0
    total = min(count, max_frames) if count > 0 and max_frames else (count or max_frames or None)
    target = out / source.output
    frames = 0
    t0 = time.perf_counter()
    try:
        with atomic_path(target) as tmp:
            video_tmp = tmp.with_name(tmp.name + ".mp4")  # OpenCV picks the container from the suffix
            writer = None
            try:
                for frame in _frames(cap, max_frames, live):
                    bgr = to_bgr8(frame)
                    if writer is None:
                        writer = cv2.VideoWriter(str(video_tmp), cv2.VideoWriter.fourcc(*"mp4v"), fps_in,
                                                 (bgr.shape[1], bgr.shape[0]))
                        if not writer.isOpened():
                            raise UserError(f"OpenCV cannot write mp4v video to {target}.",
                                            fix="use an OpenCV build with video support (opencv-python).")
                    writer.write(render(bgr, predict_labels(runner, bgr), format, runner.meta.num_classes))
                    frames += 1
                    report(progress, str(source.output.name), frames, total)
                if writer is None:
                    raise UserError(f"{source.path or f'camera {source.camera}'} gave no frame.",
                                    fix="check the video file or the camera.")
                writer.release()
                os.replace(video_tmp, tmp)
            finally:
                if writer is not None:
                    writer.release()
                video_tmp.unlink(missing_ok=True)
    finally:
        cap.release()
    seconds = time.perf_counter() - t0
    result.frames += frames
    result.outputs.append(target)
    result.video_fps[str(target)] = frames / seconds if seconds > 0 else 0.0
