"""The stream runtime: frames from sources through one runner to sinks, every stage in its own thread.

    source (per stream) -> preprocess (per stream) -> infer (one runner, micro-batches)
                        -> postprocess (labels at the output size, render) -> sink (per stream)

Stages are joined by bounded queues, so decoding and encoding overlap inference. Two rules decide
what happens when a stage is slower than its source:

- a **live** source (camera, ROS 2 subscription) keeps only the latest frame: the one waiting is
  replaced and counted as dropped, so latency cannot grow;
- a **file** source (video, image folder, bag) waits for room (backpressure): nothing is dropped.

Every frame carries its capture time (``CLOCK()`` when the source had it); the report gives
throughput, end-to-end latency (capture -> written by its sink) p50/p90/p99, drops, each stage's busy
share of the run, and names the busiest stage: the bottleneck. Frames leave each stream in the order
they came in. ``Pipeline.run`` ends when every source has ended and every frame in flight has been
written, or on Ctrl-C: ``stop(drain=True)`` ends the sources and finishes the frames in flight (a
camera's normal end), an exception aborts, and each sink then discards what it had not finished.

numpy and OpenCV only (no torch): this runs next to TensorRT on a Jetson.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.core.stats import LatencyStats, maybe_summarize, throughput_fps
from fastscnn_edge.runtime.runner import Runner

CLOCK = time.perf_counter
STAGES = ("source", "preprocess", "infer", "postprocess", "sink")
OUTPUT_SIZES = ("input", "model")
"""Where labels come back: at each frame's own size (``input``) or the model's resolution."""
LIVE_SATURATED = 0.8
"""A live run whose busiest stage works less than this share of the time is limited by its sources."""
HELPER_NICE = 10
"""How much nicer than inference the other stages' threads run (Linux; 0: the same)."""
_POLL = 0.05  # seconds a blocked stage waits before it looks at the stop flag again


@dataclass
class Frame:
    """One frame on its way through the pipeline. ``index`` counts the source's frames (a gap is a
    dropped frame); ``meta`` is the source's own (a ROS header, a bag timestamp) for its sink."""

    stream: int
    index: int
    image: np.ndarray  # H x W x 3 BGR uint8, the source's size
    t_capture: float
    meta: Dict[str, Any] = field(default_factory=dict)
    x: Optional[np.ndarray] = None  # the network input (batch of 1)
    labels: Optional[np.ndarray] = None  # train IDs at the output size
    rendered: Optional[np.ndarray] = None  # what the sink writes, where it wants a picture


class Source:
    """A pull source: ``read()`` returns the next (BGR frame, meta) or None at its end. ``live``
    sources drop (keep the latest), file sources apply backpressure. ``total``: frames, if known."""

    name = "source"
    live = False
    total: Optional[int] = None

    def open(self) -> None:
        pass

    def read(self) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Sink:
    """Where one stream's frames go. ``render`` names what ``write`` wants in ``frame.rendered``
    (``color`` / ``overlay``) or None for labels only. ``finish`` makes the output whole (the last
    call on success); ``abort`` discards it (after an error or an interrupted file stream)."""

    name = "sink"
    render: Optional[str] = None

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def finish(self) -> List[Path]:
        return []

    def abort(self) -> None:
        pass


class Inlet:
    """The queue in front of a stream's preprocess stage: latest-frame slot (live) or bounded FIFO."""

    def __init__(self, live: bool, depth: int = 2) -> None:
        self.live = live
        self.depth = 1 if live else depth
        self._items: List[object] = []
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item: object, stop: threading.Event) -> bool:
        """Live: replace what waits (counted as dropped). File: wait for room. False once stopped."""
        with self._cond:
            if self.live:
                if self._items:
                    self._items.clear()
                    self.dropped += 1
            else:
                while len(self._items) >= self.depth and not stop.is_set():
                    self._cond.wait(_POLL)
                if stop.is_set():
                    return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """No more frames: the end marker goes behind whatever waits, never replacing it."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def get(self, stop: threading.Event) -> Optional[object]:
        """The next item; None at the end (closed and empty) or once stopped."""
        with self._cond:
            while not self._items and not self.closed and not stop.is_set():
                self._cond.wait(_POLL)
            if stop.is_set() or not self._items:
                return None
            item = self._items.pop(0)
            self._cond.notify_all()
            return item


_END = object()


@dataclass
class StageStats:
    busy_s: float = 0.0
    frames: int = 0


@dataclass
class StreamStats:
    """One stream's figures (times in ms)."""

    name: str
    live: bool
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    bad: int = 0
    latency_ms: List[float] = field(default_factory=list)
    t_first: Optional[float] = None
    t_last: Optional[float] = None
    outputs: List[Path] = field(default_factory=list)

    def fps(self, t_start: float) -> float:
        """Frames written per second, from the run's start to this stream's last frame."""
        return throughput_fps(self.frames_out, self.t_last - t_start) if self.t_last is not None else 0.0


@dataclass
class StreamReport:
    """What a pipeline run measured. Throughput in frames/s over the run's wall time; latencies in
    ms from capture to written; ``busy`` is each stage's busy share of the run (the busiest thread of a
    per-stream stage), ``bottleneck`` the stage with the largest share."""

    seconds: float
    frames: int
    dropped: int
    fps: float
    latency: Optional[LatencyStats]
    busy: Dict[str, float]
    bottleneck: str
    batch: int
    streams: List[Dict[str, object]]
    interrupted_by: Optional[KeyboardInterrupt] = None  # Ctrl-C/SIGTERM that ended a live run (drained)

    def to_json(self) -> Dict[str, object]:
        return {
            "seconds": self.seconds, "frames": self.frames, "dropped": self.dropped, "fps": self.fps,
            "latency_ms": self.latency.to_json() if self.latency else None,
            "stage_busy_share": self.busy, "bottleneck": self.bottleneck, "batch": self.batch,
            "streams": self.streams, "interrupted": self.interrupted_by is not None,
            "definitions": {
                "fps": "frames written by all sinks / wall seconds of the run",
                "latency_ms": "per frame: capture (the source had it) -> its sink wrote it",
                "dropped": "live sources: frames replaced by a newer one before preprocessing took them",
                "stage_busy_share": "seconds a stage's thread spent working / run seconds (per-stream stages: the busiest stream)",
            },
        }

    def summary(self) -> str:
        lat = (f", latency p50 {self.latency.median:.1f} ms / p99 {self.latency.p99:.1f} ms"
               if self.latency else "")
        share = self.busy.get(self.bottleneck)
        busy = f" ({100 * share:.0f} % busy)" if share is not None else ""
        return (f"{self.frames} frame(s) in {self.seconds:.1f} s: {self.fps:.1f} fps{lat}, {self.dropped} dropped, "
                f"bottleneck {self.bottleneck}{busy}")


def runner_batch(runner: Runner, batch: int) -> int:
    """The micro-batch the runner takes: ``batch`` where its batch dimension is dynamic or equals it.
    Raises UserError where it cannot (a static batch-1 export asked for 4)."""
    if batch < 1:
        raise UserError(f"--batch {batch} is below 1.", fix="pass 1 or more.")
    dim = runner.io.input_shape[0] if runner.io.input_shape else 1
    if batch == 1 and dim in (1, -1):
        return 1
    if dim == -1 or dim == batch:
        return batch
    raise UserError(f"the artifact takes batches of {dim}, not {batch}.",
                    fix="export with --dynamic for micro-batches, or pass --batch 1.")


class Pipeline:
    """Several streams through one runner. ``sources[i]`` feeds ``sinks[i]``; push sources (a ROS 2
    subscription) pass ``None`` as their source and call :meth:`offer` themselves, with ``live[i]``."""

    def __init__(self, runner: Runner, sources: Sequence[Optional[Source]], sinks: Sequence[Sink], *,
                 batch: int = 1, output_size: str = "input", live: Optional[Sequence[bool]] = None,
                 queue_depth: int = 2, on_bad_frame: Optional[Callable[[int, str], None]] = None) -> None:
        if len(sources) != len(sinks) or not sources:
            raise ValueError("one sink per source")
        if output_size not in OUTPUT_SIZES:
            raise UserError(f"unknown output size {output_size!r}.", fix=f"use one of: {', '.join(OUTPUT_SIZES)}.")
        self.runner = runner
        self.sources = list(sources)
        self.sinks = list(sinks)
        self.batch = runner_batch(runner, batch)
        self.output_size = output_size
        lives = list(live) if live is not None else [bool(s and s.live) for s in self.sources]
        self.inlets = [Inlet(lv, queue_depth) for lv in lives]
        n = len(self.sources)
        self._infer_q: "queue.Queue[object]" = queue.Queue(max(queue_depth, self.batch) * n)
        self._post_q: "queue.Queue[object]" = queue.Queue(queue_depth * n)
        self._sink_q: List["queue.Queue[object]"] = [queue.Queue(queue_depth) for _ in range(n)]
        # a live stream keeps at most one preprocessed frame waiting for inference: its preprocess takes
        # the newest frame only once the previous one has gone into the model, so no frame ages in a
        # queue behind the model (latency stays preprocess + at most one inference + its own)
        self._live_slot = [threading.Semaphore(1) if lv else None for lv in lives]
        self._stop = threading.Event()  # abort: every stage leaves at once
        self._ended = threading.Event()  # drain: sources end, frames in flight finish
        self.streams = [StreamStats(getattr(s, "name", f"stream{i}") if s is not None else getattr(self.sinks[i], "name", f"stream{i}"),
                                    lives[i]) for i, s in enumerate(self.sources)]
        self.stage: Dict[str, List[StageStats]] = {k: [StageStats() for _ in range(n if k in ("source", "preprocess", "sink") else 1)]
                                                   for k in STAGES}
        self._lock = threading.Lock()
        self._errors: List[BaseException] = []
        self._deferred: List[BaseException] = []  # raised after the run has drained
        self._threads: List[threading.Thread] = []
        self._next_index = [0] * n
        self.on_bad_frame = on_bad_frame
        self.t_start: Optional[float] = None
        self._done_sinks = 0

    # -- feeding ------------------------------------------------------------------------------

    def offer(self, stream: int, image: np.ndarray, meta: Optional[Dict[str, Any]] = None,
              t_capture: Optional[float] = None) -> bool:
        """Hand a frame to ``stream`` (push sources; thread-safe). Live: replaces a waiting frame."""
        if self._ended.is_set() or self._stop.is_set():
            return False
        with self._lock:
            idx = self._next_index[stream]
            self._next_index[stream] += 1
            self.streams[stream].frames_in += 1
        frame = Frame(stream, idx, image, CLOCK() if t_capture is None else t_capture, dict(meta or {}))
        return self.inlets[stream].put(frame, self._stop)

    def bad_frame(self, stream: int, why: str) -> None:
        """A frame that could not be used (wrong size, bad encoding): counted, reported, not fatal."""
        with self._lock:
            self.streams[stream].bad += 1
        if self.on_bad_frame is not None:
            self.on_bad_frame(stream, why)

    def end_stream(self, stream: int) -> None:
        self.inlets[stream].close()

    # -- stages -------------------------------------------------------------------------------

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        if fn is not self._infer:
            _lower_priority()
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that called run()
            with self._lock:
                self._errors.append(exc)
            self._stop.set()

    def _source(self, i: int) -> None:
        src = self.sources[i]
        assert src is not None
        st = self.stage["source"][i]
        try:
            while not self._stop.is_set() and not self._ended.is_set():
                t0 = CLOCK()
                try:
                    got = src.read()
                except UserError as exc:
                    if not src.live:
                        raise
                    # a camera that vanished: what it gave is finished and written, then the run fails
                    with self._lock:
                        self._deferred.append(exc)
                    break
                if got is None:
                    break
                image, meta = got
                if not src.live:  # a camera's read waits for its next frame: that is its rate, not work
                    st.busy_s += CLOCK() - t0
                st.frames += 1
                if not self.offer(i, image, meta, t_capture=CLOCK()):
                    break
        finally:
            src.close()
            self.end_stream(i)

    def _preprocess(self, i: int) -> None:
        st = self.stage["preprocess"][i]
        slot = self._live_slot[i]
        while True:
            if slot is not None:
                while not slot.acquire(timeout=_POLL):
                    if self._stop.is_set():
                        return
            frame = self.inlets[i].get(self._stop)
            if frame is None:
                break
            assert isinstance(frame, Frame)
            t0 = CLOCK()
            try:
                frame.x = self.runner.preprocess(frame.image)
            except UserError as exc:
                if slot is not None:
                    slot.release()
                self.bad_frame(i, str(exc))
                continue
            st.busy_s += CLOCK() - t0
            st.frames += 1
            if not self._put(self._infer_q, frame):
                return
        with self._lock:
            self.streams[i].dropped = self.inlets[i].dropped
        self._put(self._infer_q, (_END, i))

    def _put(self, q: "queue.Queue[object]", item: object) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: "queue.Queue[object]") -> Optional[object]:
        while not self._stop.is_set():
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue
        return None

    def _infer(self) -> None:
        st = self.stage["infer"][0]
        open_streams = len(self.sources)
        while open_streams:
            item = self._get(self._infer_q)
            if item is None:
                return
            batch: List[Frame] = []
            ends: List[object] = []
            if isinstance(item, Frame):
                batch.append(item)
            else:
                ends.append(item)
            while len(batch) < self.batch and not ends:  # gather what is ready, never wait for it
                try:
                    more = self._infer_q.get_nowait()
                except queue.Empty:
                    break
                (batch if isinstance(more, Frame) else ends).append(more)
            for f in batch:  # into the model: a live stream may preprocess its next frame now
                slot = self._live_slot[f.stream]
                if slot is not None:
                    slot.release()
            if batch:
                t0 = CLOCK()
                xs = [f.x for f in batch]
                pad = self.batch - len(xs) if self.runner.io.input_shape and self.runner.io.input_shape[0] > 1 else 0
                x = np.concatenate(xs + [xs[-1]] * pad) if len(xs) + pad > 1 else xs[0]
                out = self.runner(x)
                # a cls head's labels stay in their own integer type (uint8: an eighth of int64 to resize,
                # colour and publish); other heads become labels here
                labels = out if self.runner.meta.head == "cls" and out.dtype.kind in "iu" else self.runner.labels(out)
                st.busy_s += CLOCK() - t0
                st.frames += len(batch)
                for f, lab in zip(batch, labels):
                    f.x = None
                    f.labels = lab
                    if not self._put(self._post_q, f):
                        return
            for e in ends:
                open_streams -= 1
                if not self._put(self._post_q, e):
                    return

    def _postprocess(self) -> None:
        from fastscnn_edge.data.preprocess import labels_to_size

        st = self.stage["postprocess"][0]
        nc = self.runner.meta.num_classes
        open_streams = len(self.sources)
        while open_streams:
            item = self._get(self._post_q)
            if item is None:
                return
            if not isinstance(item, Frame):
                open_streams -= 1
                self._put(self._sink_q[item[1]], _END)  # type: ignore[index]
                continue
            t0 = CLOCK()
            if self.output_size == "input":
                item.labels = labels_to_size(item.labels, item.image.shape[:2])  # type: ignore[arg-type]
            sink = self.sinks[item.stream]
            if sink.render is not None:
                item.rendered = render_frame(item.image, item.labels, sink.render, nc)  # type: ignore[arg-type]
            st.busy_s += CLOCK() - t0
            st.frames += 1
            if not self._put(self._sink_q[item.stream], item):
                return

    def _sink(self, i: int) -> None:
        st = self.stage["sink"][i]
        s = self.streams[i]
        while True:
            item = self._get(self._sink_q[i])
            if item is None or item is _END:
                break
            assert isinstance(item, Frame)
            t0 = CLOCK()
            self.sinks[i].write(item)
            t1 = CLOCK()
            st.busy_s += t1 - t0
            st.frames += 1
            with self._lock:
                s.frames_out += 1
                s.latency_ms.append((t1 - item.t_capture) * 1e3)
                s.t_first = t1 if s.t_first is None else s.t_first
                s.t_last = t1
        if item is _END:
            s.outputs = self.sinks[i].finish()
            with self._lock:
                self._done_sinks += 1

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the sources and start every stage's thread."""
        for src in self.sources:
            if src is not None:
                src.open()
        self.t_start = CLOCK()
        n = len(self.sources)
        targets: List[Tuple[str, Callable[..., None], Tuple[Any, ...]]] = []
        for i in range(n):
            if self.sources[i] is not None:
                targets.append((f"source-{i}", self._source, (i,)))
            targets.append((f"preprocess-{i}", self._preprocess, (i,)))
            targets.append((f"sink-{i}", self._sink, (i,)))
        targets += [("infer", self._infer, ()), ("postprocess", self._postprocess, ())]
        for name, fn, args in targets:
            t = threading.Thread(target=self._guard, args=(fn, *args), name=f"fastscnn-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, drain: bool = True) -> None:
        """End the run: ``drain`` ends the sources and lets the frames in flight finish; else abort."""
        self._ended.set()
        for i, src in enumerate(self.sources):
            if src is None or drain:
                self.end_stream(i)
        if not drain:
            self._stop.set()

    def _join(self, progress: Optional[Progress], task: str, total: Optional[int], every: float) -> None:
        last = 0.0
        for t in self._threads:
            while t.is_alive():
                t.join(timeout=0.1)
                now = CLOCK()
                if progress is not None and now - last >= every:
                    last = now
                    report(progress, self.live_line(task), sum(s.frames_out for s in self.streams), total)

    def wait(self, progress: Optional[Progress] = None, task: str = "stream", total: Optional[int] = None, *,
             drain_on_interrupt: bool = False, every: float = 0.5) -> StreamReport:
        """Wait for the run to end, reporting live fps and latency through ``progress``, then the
        report. Ctrl-C/SIGTERM: ``drain_on_interrupt`` ends the sources, finishes the frames in flight
        and returns (``report.interrupted_by`` holds it); otherwise, like a stage's error, it aborts:
        every thread leaves, every sink discards what it had not finished, and it is re-raised."""
        stopped_by: Optional[KeyboardInterrupt] = None
        try:
            try:
                self._join(progress, task, total, every)
            except KeyboardInterrupt as exc:
                if not drain_on_interrupt:
                    raise
                stopped_by = exc
                self.stop(drain=True)
                self._join(progress, task, total, every)  # a second Ctrl-C aborts
            if self._errors:
                raise self._errors[0]
        except BaseException:
            self._stop.set()
            for t in self._threads:
                t.join(timeout=5)
            for sink in self.sinks:
                sink.abort()
            raise
        if progress is not None:
            report(progress, self.live_line(task), sum(s.frames_out for s in self.streams), total)
        if self._deferred:
            raise self._deferred[0]
        rep = self.report()
        rep.interrupted_by = stopped_by
        return rep

    def run(self, progress: Optional[Progress] = None, task: str = "stream", total: Optional[int] = None) -> StreamReport:
        """``start`` then ``wait``. Ctrl-C: a run of live streams only drains and returns (a camera's
        normal end); a run with a file stream aborts (its unfinished outputs are discarded) and re-raises."""
        self.start()
        return self.wait(progress, task, total, drain_on_interrupt=all(s.live for s in self.streams))

    def live_line(self, task: str) -> str:
        rep = self.report()
        lat = f", p50 {rep.latency.median:.0f} ms" if rep.latency else ""
        drops = f", {rep.dropped} dropped" if rep.dropped else ""
        return f"{task}: {rep.fps:.1f} fps{lat}{drops}"

    def report(self) -> StreamReport:
        seconds = (CLOCK() - self.t_start) if self.t_start is not None else 0.0
        with self._lock:
            for i, s in enumerate(self.streams):
                s.dropped = self.inlets[i].dropped
            lat = [v for s in self.streams for v in s.latency_ms]
            frames = sum(s.frames_out for s in self.streams)
            per_stream = [{"name": s.name, "live": s.live, "frames_in": s.frames_in, "frames_out": s.frames_out,
                           "dropped": s.dropped, "bad_frames": s.bad, "fps": s.fps(self.t_start or 0.0),
                           "latency_ms": (maybe_summarize(s.latency_ms).to_json() if s.latency_ms else None),  # type: ignore[union-attr]
                           "outputs": [str(p) for p in s.outputs]} for s in self.streams]
        busy = {k: (max(x.busy_s for x in v) / seconds if seconds > 0 else 0.0) for k, v in self.stage.items()
                if any(x.frames for x in v) or k != "source"}
        bottleneck = max(busy, key=lambda k: busy[k]) if busy else "infer"
        if any(s.live for s in self.streams) and busy.get(bottleneck, 0.0) < LIVE_SATURATED:
            bottleneck = "source (camera rate)"  # no stage is saturated: the frames come no faster
        return StreamReport(seconds=seconds, frames=frames, dropped=sum(s.dropped for s in self.streams),
                            fps=throughput_fps(frames, seconds), latency=maybe_summarize(lat), busy=busy,
                            bottleneck=bottleneck, batch=self.batch, streams=per_stream)


def _lower_priority(step: int = HELPER_NICE) -> None:
    """Make the calling thread ``step`` nicer (Linux: per thread). Inference keeps both cores while it
    runs; decoding, resizing, rendering and encoding fill the time it leaves, instead of preempting one
    of the runtime's worker threads and stalling the whole parallel section behind it."""
    import os

    get_id = getattr(threading, "get_native_id", None)
    if step <= 0 or get_id is None or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, get_id(), os.getpriority(os.PRIO_PROCESS, get_id()) + step)
    except OSError:
        pass


def render_frame(bgr: np.ndarray, labels: np.ndarray, format: str, num_classes: int) -> np.ndarray:
    """The picture a sink writes: ``color`` (palette, BGR), ``overlay`` (blended over the frame),
    ``trainids`` (8-bit IDs)."""
    from fastscnn_edge.data import palette

    if format == "color":
        return palette.colorize(labels, num_classes)
    if format == "overlay":
        if labels.shape[:2] != bgr.shape[:2]:
            from fastscnn_edge.data.preprocess import resize_bgr

            bgr = resize_bgr(bgr, labels.shape[:2])
        return palette.overlay(bgr, labels, num_classes)
    if format == "trainids":
        return labels.astype(np.uint8)
    raise UserError(f"unknown render format {format!r}.", fix="use color, overlay or trainids.")


# ---------------------------------------------------------------------------------------------
# sources and sinks every machine has (OpenCV): video files, cameras, synthetic frames


class VideoSource(Source):
    """A video file (backpressure) or a camera index (live). A camera that stops giving frames
    mid-stream raises UserError; a file simply ends."""

    def __init__(self, path: Optional[Path] = None, camera: Optional[int] = None, max_frames: Optional[int] = None,
                 name: Optional[str] = None) -> None:
        self.path, self.camera, self.max_frames = path, camera, max_frames
        self.live = camera is not None
        self.name = name or (path.name if path is not None else f"camera{camera}")
        self.cap: Any = None
        self.fps = 30.0
        self.count = 0

    def open(self) -> None:
        import os

        import cv2
        from cv2.utils import logging as cv_log

        if self.cap is not None:
            return
        # FFmpeg prints its own lines ("moov atom not found") for a bad file; we report it in one line.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        level = cv_log.getLogLevel()
        cv_log.setLogLevel(cv_log.LOG_LEVEL_ERROR)
        try:
            cap = cv2.VideoCapture(str(self.path) if self.path is not None else self.camera)  # type: ignore[arg-type]
        finally:
            cv_log.setLogLevel(level)
        if not cap.isOpened():
            what = f"video {self.path}" if self.path is not None else f"camera {self.camera}"
            raise UserError(f"cannot open {what}.", fix="check the file (codec) or the camera index.")
        self.cap = cap
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not self.live else 0
        self.total = min(n, self.max_frames) if n > 0 and self.max_frames else (n or self.max_frames or None)

    def read(self) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
        from fastscnn_edge.data.preprocess import to_bgr8

        if self.max_frames is not None and self.count >= self.max_frames:
            return None
        ok, frame = self.cap.read()
        if not ok:
            if self.live:
                raise UserError(f"camera {self.camera} stopped giving frames after {self.count}.",
                                fix="check the camera's cable and driver; what was captured so far was written.")
            return None
        self.count += 1
        return to_bgr8(frame), {}

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()


class SyntheticSource(Source):
    """Random street-like frames (coarse blocks), for ``bench --streams``: ``rate`` Hz makes it live
    (a camera at that rate, latest frame kept); ``rate=None`` a file (as fast as consumed)."""

    def __init__(self, size: Tuple[int, int], frames: int, *, rate: Optional[float] = None, seed: int = 0,
                 name: str = "synthetic", pool: int = 8) -> None:
        import cv2

        rng = np.random.default_rng(seed)
        h, w = size
        self._pool = [cv2.resize(rng.integers(0, 256, (max(h // 32, 1), max(w // 32, 1), 3), dtype=np.uint8), (w, h),
                                 interpolation=cv2.INTER_NEAREST) for _ in range(pool)]
        self.frames, self.rate, self.name = frames, rate, name
        self.live = rate is not None
        self.total = frames
        self._n = 0
        self._t0: Optional[float] = None

    def read(self) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
        if self._n >= self.frames:
            return None
        if self.rate is not None:
            self._t0 = CLOCK() if self._t0 is None else self._t0
            wait = self._t0 + self._n / self.rate - CLOCK()
            if wait > 0:
                time.sleep(wait)
        img = self._pool[self._n % len(self._pool)]
        self._n += 1
        return img, {}


class VideoSink(Sink):
    """An mp4v video of the rendered frames, written whole or not at all (a temporary beside it)."""

    def __init__(self, target: Path, render: str, fps: float = 30.0) -> None:
        self.target, self.render, self.fps = target, render, fps
        self.name = target.name
        self._ctx: Any = None
        self._tmp: Optional[Path] = None
        self._writer: Any = None

    def write(self, frame: Frame) -> None:
        import cv2

        from fastscnn_edge.core.fileio import atomic_path

        img = frame.rendered
        assert img is not None
        if self._writer is None:
            self._ctx = atomic_path(self.target)
            tmp = self._ctx.__enter__()
            self._tmp = tmp.with_name(tmp.name + ".mp4")  # OpenCV picks the container from the suffix
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*"mp4v"), self.fps,
                                           (img.shape[1], img.shape[0]))
            if not self._writer.isOpened():
                raise UserError(f"OpenCV cannot write mp4v video to {self.target}.",
                                fix="use an OpenCV build with video support (opencv-python).")
            self._size = img.shape[:2]
        if img.shape[:2] != self._size:
            from fastscnn_edge.data.preprocess import resize_bgr

            img = resize_bgr(img, self._size)
        self._writer.write(img)

    def finish(self) -> List[Path]:
        import os

        if self._writer is None:
            return []
        self._writer.release()
        assert self._tmp is not None
        os.replace(self._tmp, self._tmp.with_suffix(""))  # onto atomic_path's temporary
        self._ctx.__exit__(None, None, None)
        self._writer = None
        return [self.target]

    def abort(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        assert self._tmp is not None
        self._tmp.unlink(missing_ok=True)
        try:
            self._ctx.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)  # removes its temporary
        except KeyboardInterrupt:
            pass


class CollectSink(Sink):
    """Keeps every frame's labels and meta in memory, in order (tests, embedding code)."""

    def __init__(self, name: str = "collect", render: Optional[str] = None) -> None:
        self.name, self.render = name, render
        self.frames: List[Frame] = []

    def write(self, frame: Frame) -> None:
        frame.image = frame.image if self.render else frame.image[:0]
        self.frames.append(frame)


class NullSink(Sink):
    """Drops the result (``bench --streams``: the model and the pipeline, no encoder)."""

    def __init__(self, name: str = "null") -> None:
        self.name = name

    def write(self, frame: Frame) -> None:
        pass


def bench_streams(runner: Runner, *, streams: int, frames: int, batch: int = 1, rate: Optional[float] = None,
                  size: Optional[Tuple[int, int]] = None, warmup: int = 0,
                  progress: Optional[Progress] = None) -> StreamReport:
    """``streams`` synthetic streams of ``frames`` frames each (camera-sized: the model's resolution
    unless ``size``) through ``runner``; ``rate`` Hz makes them live cameras (drops counted), None
    feeds them as fast as the pipeline takes them (throughput)."""
    if streams < 1:
        raise UserError(f"--streams {streams} is below 1.", fix="pass 1 or more.")
    if frames < 1:
        raise UserError(f"--iters {frames} is below 1.", fix="time at least one frame per stream.")
    if rate is not None and rate <= 0:
        raise UserError(f"--rate {rate} is not positive.", fix="pass frames per second > 0, or leave it out (as fast as it goes).")
    hw = tuple(size) if size else tuple(runner.resolution)
    rng = np.random.default_rng(0)
    for _ in range(warmup):  # the runtime's first runs (allocations, kernel choice) are not the stream's
        runner(runner.random_input(rng, runner_batch(runner, batch)))
    sources = [SyntheticSource(hw, frames, rate=rate, seed=i, name=f"stream{i}") for i in range(streams)]  # type: ignore[arg-type]
    sinks = [NullSink(f"stream{i}") for i in range(streams)]
    pipe = Pipeline(runner, sources, sinks, batch=batch, output_size="input")
    return pipe.run(progress, task=f"{streams} stream(s)", total=streams * frames)
