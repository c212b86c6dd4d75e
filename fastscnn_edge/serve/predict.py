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
become ``<name>.mp4`` (mp4v) in colour or overlay; a ROS 2 bag (``--image-topic``) becomes a bag of the
same name with the label topic (and the colour topic for ``color``/``overlay``) at the input's
timestamps (:mod:`fastscnn_edge.serve.bags`). Every output is written atomically.

Videos, cameras and bags run through the stream runtime (:mod:`fastscnn_edge.serve.stream`): decode,
preprocess, inference, rendering and encoding each in their own thread, all of them as streams of
one pipeline through one runner (micro-batched with ``batch`` where the artifact allows).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.data.datasets import IMAGE_SUFFIXES, NUM_CITYSCAPES_CLASSES, TRAIN_TO_LABEL_ID
from fastscnn_edge.serve.stream import StreamReport

OUTPUT_FORMATS = ("color", "overlay", "trainids", "cityscapes-labelids")
VIDEO_FORMATS = ("color", "overlay")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
Warn = Callable[[str], None]


@dataclass
class Source:
    """One input: an image or video file (``path``) or a camera (``camera`` index)."""

    kind: str  # image | video | camera | bag
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
    stream: Optional[StreamReport] = None  # videos, cameras, bags: throughput, latency, drops, bottleneck


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
    from fastscnn_edge.serve.bags import is_bag

    for item in inputs:
        path = Path(item)
        if is_bag(path):
            name = path.name if path.is_dir() else path.stem
            sources.append(Source("bag", Path(name), path=path))
        elif path.is_dir():
            sources += _folder_sources(path, exclude)
        elif path.is_file():
            kind = "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
            sources.append(Source(kind, Path(path.stem + (".mp4" if kind == "video" else ".png")), path=path))
        elif str(item).isdigit():
            sources.append(Source("camera", Path(f"camera{item}.mp4"), camera=int(str(item))))
        else:
            raise UserError(f"input {item} does not exist.",
                            fix="pass image files, folders, video files, ROS 2 bags or a camera index (0, 1, ...).")
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
    if format not in VIDEO_FORMATS and any(s.kind in ("video", "camera") for s in sources):
        raise UserError(f"--format {format} writes label PNGs; video and camera inputs are written as video.",
                        fix="use --format color or overlay for videos and cameras.")
    if format == "cityscapes-labelids" and any(s.kind == "bag" for s in sources):
        raise UserError("a bag's labels are written as train IDs (mono8), not Cityscapes label IDs.",
                        fix="use --format trainids (labels only), color or overlay (labels and a colour topic).")


def render(bgr: np.ndarray, labels: np.ndarray, format: str, num_classes: int) -> np.ndarray:
    """The output image for one frame: BGR colours, or 8-bit label IDs."""
    from fastscnn_edge.serve.stream import render_frame

    if format == "cityscapes-labelids":
        return TRAIN_TO_LABEL_ID[labels]
    return render_frame(bgr, labels, format, num_classes)


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    from fastscnn_edge.core.fileio import atomic_write_bytes

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"cannot encode {path}.", fix="report this with the input that caused it.")
    atomic_write_bytes(path, buf.tobytes())


def predict(artifact: str | Path, inputs: Sequence[str | Path], out_dir: str | Path = "predictions",
            format: str = "color", *, backend: str = "auto", device: str = "auto",
            res: Optional[Tuple[int, int]] = None, threads: Optional[int] = None, max_frames: Optional[int] = None,
            image_topic: Optional[str] = None, batch: int = 1,
            progress: Optional[Progress] = None, warn: Warn = _stderr_warning) -> PredictResult:
    """Segment every input and write the results under ``out_dir`` (see the module doc).

    Unreadable images are skipped with a warning and listed in ``skipped``; ``max_frames`` caps
    each video/camera/bag (a camera otherwise runs until Ctrl-C, which ends it: the frames in flight
    are finished and the video written, and ``result.stream.interrupted_by`` holds the interrupt);
    ``image_topic`` names the topic read from bags. Ctrl-C with a video or bag among the streams
    stops everything and writes none of the streams' outputs.
    """
    from fastscnn_edge.runtime.backends import open_runner

    out = Path(out_dir)
    if max_frames is not None and max_frames < 1:
        raise UserError(f"--frames {max_frames} is not positive.", fix="pass a frame count >= 1, or leave it out.")
    sources = collect_sources(inputs, exclude=out)
    if batch < 1:
        raise UserError(f"--batch {batch} is below 1.", fix="pass 1 or more.")
    if any(s.kind == "bag" for s in sources) and not image_topic:
        from fastscnn_edge.serve.bags import image_topics

        bag = next(s.path for s in sources if s.kind == "bag")
        found = ", ".join(sorted(image_topics(bag))) or "none"  # type: ignore[arg-type]
        raise UserError(f"{bag} is a ROS 2 bag; which topic holds the images? (image topics: {found})",
                        fix="pass --image-topic TOPIC.")
    _check_not_overwriting(sources, out)
    _check_some_image_readable(sources)
    result = PredictResult()
    t0 = time.perf_counter()
    spin = all(s.kind == "image" for s in sources)  # streams: the pipeline's other stages need the cores
    with open_runner(artifact, backend=backend, device=device, resolution=res, threads=threads, spin=spin) as runner:
        result.random_weights = runner.meta.random_weights
        nc = runner.meta.num_classes
        check_format(format, nc, sources)
        images = [s for s in sources if s.kind == "image"]
        if images:
            _predict_images(runner, images, out, format, result, progress, warn)
        streams = [s for s in sources if s.kind != "image"]
        if streams:
            _predict_streams(runner, streams, out, format, result, max_frames, image_topic, batch, progress)
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
    from fastscnn_edge.bench.evaluate import predict_labels
    from fastscnn_edge.data.preprocess import read_image_bgr

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


def _predict_streams(runner, sources: Sequence[Source], out: Path, format: str, result: PredictResult,  # noqa: ANN001
                     max_frames: Optional[int], image_topic: Optional[str], batch: int,
                     progress: Optional[Progress]) -> None:
    """Every video, camera and bag as one stream of one pipeline (see :mod:`fastscnn_edge.serve.stream`)."""
    from fastscnn_edge.serve import stream

    srcs: List[stream.Source] = []
    sinks: List[stream.Sink] = []
    for s in sources:
        if s.kind == "bag":
            from fastscnn_edge.serve.bags import BagSink, BagSource

            src: stream.Source = BagSource(s.path, image_topic, max_frames)  # type: ignore[arg-type]
            src.open()
            sink: stream.Sink = BagSink(out / s.output, num_classes=runner.meta.num_classes,
                                        class_names=runner.meta.class_names,
                                        render=format if format in VIDEO_FORMATS else None,
                                        storage=src.storage, version=src.version)  # type: ignore[attr-defined]
        else:
            video = stream.VideoSource(s.path, s.camera, max_frames, name=str(s.output.name))
            video.open()
            src, sink = video, stream.VideoSink(out / s.output, format, video.fps)
        srcs.append(src)
        sinks.append(sink)
    totals = [s.total for s in srcs]
    total = sum(totals) if all(t is not None for t in totals) else None  # type: ignore[misc]
    task = sources[0].output.name if len(sources) == 1 else f"{len(sources)} streams"
    try:
        rep = stream.Pipeline(runner, srcs, sinks, batch=batch).run(progress, task=task, total=total)
    finally:
        for src in srcs:
            src.close()
    for s, st, sink in zip(sources, rep.streams, sinks):
        if not st["frames_out"]:
            what = s.path or f"camera {s.camera}"
            raise UserError(f"{what} gave no frame.", fix="check the video file, the bag topic or the camera.")
        target = out / s.output
        result.outputs.append(target)
        result.video_fps[str(target)] = float(st["fps"] or 0.0)  # type: ignore[arg-type]
    result.frames += rep.frames
    result.stream = rep
