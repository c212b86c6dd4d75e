"""The stream runtime: order, drops (live) and backpressure (files), micro-batches, errors, Ctrl-C."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np
import pytest
from tests.bench.test_evaluate import export_varied
from tests.serve.test_predict import _read_video, _video, model, runner  # noqa: F401 - fixtures

from fastscnn_edge.bench.evaluate import predict_labels
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.serve import stream


class ListSource(stream.Source):
    """Given frames, in order; records how far reading ran ahead of the sink."""

    def __init__(self, frames: List[np.ndarray], live: bool = False, period: float = 0.0,
                 fail_after: Optional[int] = None) -> None:
        self.frames, self.live, self.period, self.fail_after = frames, live, period, fail_after
        self.total = len(frames)
        self.n = 0
        self.name = "list"

    def read(self) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
        if self.fail_after is not None and self.n >= self.fail_after:
            raise UserError("camera 5 stopped giving frames after 3.", fix="check the camera.")
        if self.n >= len(self.frames):
            return None
        if self.period:
            time.sleep(self.period)
        self.n += 1
        return self.frames[self.n - 1], {"i": self.n - 1}


class SlowSink(stream.CollectSink):
    def __init__(self, delay: float, source: Optional[ListSource] = None) -> None:
        super().__init__()
        self.delay, self.source, self.max_lead = delay, source, 0

    def write(self, frame: stream.Frame) -> None:
        time.sleep(self.delay)
        if self.source is not None:
            self.max_lead = max(self.max_lead, self.source.n - len(self.frames))
        super().write(frame)


def _frames(n: int, size=(72, 96), seed: int = 0) -> List[np.ndarray]:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    return [cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (size[1], size[0])) for _ in range(n)]


def test_file_streams_keep_their_order_and_the_runner_labels(runner):  # noqa: ANN001
    inputs = [_frames(12, seed=0), _frames(9, size=(50, 70), seed=1)]
    sinks = [stream.CollectSink(), stream.CollectSink()]
    rep = stream.Pipeline(runner, [ListSource(f) for f in inputs], sinks).run()
    assert rep.frames == 21 and rep.dropped == 0
    for frames, sink in zip(inputs, sinks):
        assert [f.meta["i"] for f in sink.frames] == list(range(len(frames)))
        assert [f.index for f in sink.frames] == list(range(len(frames)))
        for f, got in zip(frames, sink.frames):  # labels at the frame's own size, as predict's path gives them
            assert np.array_equal(got.labels, predict_labels(runner, f))
    assert rep.latency is not None and rep.latency.n == 21 and rep.latency.min > 0
    assert set(rep.busy) >= {"preprocess", "infer", "postprocess", "sink"} and rep.bottleneck in rep.busy


def test_a_file_source_waits_for_a_slow_sink_and_drops_nothing(runner):  # noqa: ANN001
    src = ListSource(_frames(30))
    sink = SlowSink(0.01, src)
    rep = stream.Pipeline(runner, [src], [sink], queue_depth=2).run()
    assert rep.dropped == 0 and len(sink.frames) == 30
    # bounded queues: the source never reads more than the stages and their queues hold
    assert sink.max_lead <= 2 + 4 + 2 + 2 + 4, sink.max_lead
    assert rep.bottleneck == "sink"


def test_a_live_source_keeps_the_latest_frame_and_counts_the_rest(runner):  # noqa: ANN001
    src = ListSource(_frames(120), live=True, period=0.001)
    sink = SlowSink(0.02)
    rep = stream.Pipeline(runner, [src], [sink]).run()
    st = rep.streams[0]
    assert rep.dropped > 20 and st["frames_in"] == 120
    assert st["frames_in"] == st["frames_out"] + st["dropped"]  # every frame is written or counted
    idx = [f.index for f in sink.frames]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)  # order kept, nothing twice
    # the latency cannot grow: the last frames wait no longer than the first ones did (a few sink times)
    lat = st["latency_ms"]
    assert lat["max"] < 20 * 5 * 1.0 + 200, lat  # bounded by the pipeline's depth, not by the 120 frames
    assert len(sink.frames) < 120


class SlowModel:
    """The runner, slower: a model that takes ``delay`` seconds per call."""

    def __init__(self, runner, delay: float) -> None:  # noqa: ANN001
        self._runner, self.delay = runner, delay

    def __call__(self, x):  # noqa: ANN001, ANN204
        time.sleep(self.delay)
        return self._runner(x)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._runner, name)


def test_a_live_frame_never_waits_in_a_queue_behind_the_model(runner):  # noqa: ANN001
    # a camera faster than the model: each frame is taken when the model is about to be free, so its
    # age at the output is at most one inference of waiting plus its own (not the queues' depth)
    delay = 0.06
    src = ListSource(_frames(150), live=True, period=0.002)
    sink = stream.CollectSink()
    rep = stream.Pipeline(SlowModel(runner, delay), [src], [sink]).run()
    lat = rep.streams[0]["latency_ms"]
    assert rep.dropped > 50 and len(sink.frames) >= 3
    assert lat["median"] < 2.5 * delay * 1e3, lat  # a queue of 2 in front of the model gave ~4 delays


def test_micro_batches_give_the_same_labels(tmp_path):  # noqa: ANN001
    from fastscnn_edge.runtime.backends import open_runner

    dyn = export_varied(tmp_path / "dyn.onnx", dynamic=True)
    inputs = [_frames(7, seed=s) for s in range(3)]
    with open_runner(dyn, resolution=(64, 128)) as r:
        sinks = [stream.CollectSink() for _ in inputs]
        rep = stream.Pipeline(r, [ListSource(f) for f in inputs], sinks, batch=3).run()
        assert rep.batch == 3 and rep.frames == 21
        for frames, sink in zip(inputs, sinks):
            for f, got in zip(frames, sink.frames):
                assert np.array_equal(got.labels, predict_labels(r, f))
        assert stream.Pipeline(r, [ListSource([])], [stream.CollectSink()], batch=4).batch == 4


def test_a_static_batch_1_artifact_refuses_micro_batches(runner):  # noqa: ANN001
    with pytest.raises(UserError, match="takes batches of 1, not 4.*--dynamic"):
        stream.Pipeline(runner, [ListSource([])], [stream.CollectSink()], batch=4)
    with pytest.raises(UserError, match="--batch 0 is below 1"):
        stream.runner_batch(runner, 0)


class FailingSink(stream.CollectSink):
    def write(self, frame: stream.Frame) -> None:
        if frame.index == 3:
            raise UserError("disk full.", fix="free space.")
        super().write(frame)


def test_a_stage_error_stops_every_stream_and_discards_their_outputs(runner, tmp_path):  # noqa: ANN001
    video = stream.VideoSink(tmp_path / "a.mp4", "color")
    with pytest.raises(UserError, match="disk full"):
        stream.Pipeline(runner, [ListSource(_frames(20)), ListSource(_frames(20, seed=3))],
                        [FailingSink(), video]).run()
    assert list(tmp_path.iterdir()) == []  # no video, no temporary


def test_a_camera_that_vanishes_keeps_what_it_gave_then_fails(runner, tmp_path):  # noqa: ANN001
    target = tmp_path / "cam.mp4"
    with pytest.raises(UserError, match="stopped giving frames"):
        stream.Pipeline(runner, [ListSource(_frames(10), live=True, period=0.01, fail_after=3)],
                        [stream.VideoSink(target, "overlay")]).run()
    assert len(_read_video(target)) >= 1 and [p.name for p in tmp_path.iterdir()] == ["cam.mp4"]


def _interrupt_after(seconds: float) -> None:
    threading.Timer(seconds, _thread.interrupt_main).start()


@pytest.fixture()
def ctrl_c():  # noqa: ANN201
    """Ctrl-C raises KeyboardInterrupt here, as in a terminal: a suite started as a background job
    (``cmd &``) inherits SIGINT ignored, and then ``interrupt_main`` does nothing."""
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, outer)


def test_ctrl_c_drains_live_streams_and_aborts_file_streams(runner, tmp_path, ctrl_c):  # noqa: ANN001
    live = stream.VideoSink(tmp_path / "live.mp4", "color")
    _interrupt_after(0.5)
    rep = stream.Pipeline(runner, [ListSource(_frames(100000 // 100), live=True, period=0.01)], [live]).run()
    assert isinstance(rep.interrupted_by, KeyboardInterrupt)
    assert 0 < rep.frames == len(_read_video(tmp_path / "live.mp4"))  # complete: every frame written is in it

    out = tmp_path / "files"
    out.mkdir()
    _interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        stream.Pipeline(runner, [ListSource(_frames(1000), live=True, period=0.01), ListSource(_frames(1000))],
                        [stream.VideoSink(out / "a.mp4", "color"), SlowSinkVideo(out / "b.mp4")]).run()
    assert list(out.iterdir()) == []


class SlowSinkVideo(stream.VideoSink):
    def __init__(self, target: Path) -> None:
        super().__init__(target, "color")

    def write(self, frame: stream.Frame) -> None:
        time.sleep(0.01)
        super().write(frame)


def test_bench_streams_reports_aggregate_and_per_stream_figures(runner):  # noqa: ANN001
    rep = stream.bench_streams(runner, streams=2, frames=10)
    assert rep.frames == 20 and len(rep.streams) == 2 and all(s["frames_out"] == 10 for s in rep.streams)
    assert rep.fps > 0 and all(s["latency_ms"]["n"] == 10 for s in rep.streams)
    live = stream.bench_streams(runner, streams=1, frames=20, rate=500.0)
    assert live.streams[0]["frames_in"] == live.streams[0]["frames_out"] + live.dropped
    with pytest.raises(UserError, match="--streams 0"):
        stream.bench_streams(runner, streams=0, frames=1)


def test_predict_runs_several_videos_as_streams_and_writes_the_report(model, tmp_path):  # noqa: ANN001
    import json

    from fastscnn_edge.cli import main

    a, b = _video(tmp_path / "a.mp4", frames=6), _video(tmp_path / "b.mp4", frames=4, size=(64, 80))
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(model), str(a), str(b), "-o", str(tmp_path / "out"), "--json", str(tmp_path / "r.json")])
    assert exc.value.code == 0
    assert len(_read_video(tmp_path / "out" / "a.mp4")) == 6 and len(_read_video(tmp_path / "out" / "b.mp4")) == 4
    doc = json.loads((tmp_path / "r.json").read_text())
    s = doc["stream"]
    assert s["frames"] == 10 and [x["frames_out"] for x in s["streams"]] == [6, 4]
    assert s["latency_ms"]["p99"] >= s["latency_ms"]["median"] > 0 and s["bottleneck"] in s["stage_busy_share"]
    assert doc["environment"]["packages"]["onnxruntime"]


def test_bench_streams_on_the_command_line(model, tmp_path, capsys):  # noqa: ANN001
    import json

    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", str(model), "--streams", "2", "--iters", "3", "--warmup", "0", "--json", str(tmp_path / "s.json")])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "2 stream(s) x 3 frame(s), batch 1" in out and "fps aggregate" in out and "bottleneck" in out
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["results"][0]["frames"] == 6 and len(doc["results"][0]["streams"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["bench", str(model), "--streams", "2", "--batch", "2", "--iters", "1"])
    assert exc.value.code == 2 and "takes batches of 1, not 2" in capsys.readouterr().err
