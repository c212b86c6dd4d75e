"""timing: the paper's protocol on a case (warm-up, timed frames, rotating buffers), run through real
runners; the options that belong to timing are refused when bad."""

import numpy as np
import pytest

from fastscnn_edge.bench import cases as bench
from fastscnn_edge.bench import timing
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.runtime.runner import IOSpec, Runner
from tests.bench.test_cases import RES, tiny_onnx  # noqa: F401 - the module-scoped export fixture


class _Recorder(Runner):
    """A real Runner subclass that records which input buffer each frame received."""

    def __init__(self):
        super().__init__(backend="onnxruntime", device="cpu", meta=ModelMeta(resolution=RES),
                         io=IOSpec("input", (1, 3, *RES), "float32", "labels", (1, *RES), "uint8"),
                         description="recorder")
        self.seen = []

    def __call__(self, x):
        self.seen.append(id(x))
        return np.zeros((1, *RES), np.uint8)


def test_loop_counts_frames_and_rotates_buffers():
    runner = _Recorder()
    calls = []
    opts = bench.BenchOptions(warmup=3, iters=8, buffers=4)
    r = timing.run_case(bench.BenchCase(None, "onnxruntime", "cpu", "cls", RES), opts,
                        progress=lambda task, d, n: calls.append((task, d, n)), runner=runner)
    assert len(runner.seen) == 11
    assert len(set(runner.seen)) == 4  # four distinct buffers, made before timing
    assert runner.seen[0] != runner.seen[1]
    assert calls[-1] == ("onnxruntime cls 64x128", 11, 11) and len(calls) == 11
    assert r.latency.n == 8 and r.fps > 0 and r.gpu_compute is None
    assert r.latency.min <= r.latency.median <= r.latency.max


@pytest.mark.parametrize("bad", [dict(iters=0), dict(warmup=-1), dict(threads=0)])
def test_bad_options_are_user_errors(bad):
    from fastscnn_edge.core.errors import UserError

    with pytest.raises(UserError):
        bench.BenchOptions(**bad).check()


def test_onnxruntime_and_torch_run_side_by_side(tiny_onnx):
    opts = bench.BenchOptions(warmup=1, iters=3, threads=1)
    ort = timing.run_case(bench.BenchCase(tiny_onnx["cls"], "onnxruntime", "cpu", "cls", RES), opts)
    tch = timing.run_case(bench.BenchCase(None, "torch", "cpu", "cls", RES), opts)
    cl = timing.run_case(bench.BenchCase(None, "torch", "cpu", "logits", RES),
                          bench.BenchOptions(warmup=1, iters=3, threads=1, channels_last=True))
    assert ort.latency.n == tch.latency.n == cl.latency.n == 3
    assert ort.threads == 1 and tch.threads == 1
    assert ort.label.startswith("onnxruntime cpu fp32") and "channels-last" in cl.label
    assert ort.to_json()["details"]["provider"] == "CPUExecutionProvider"
