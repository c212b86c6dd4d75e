"""How to time one benchmark case on each backend: ``run_case`` (warm-up, timed frames, statistics).

What is timed, per frame:
- ``latency``: host wall clock around one synchronous frame (numpy in, numpy out when
  transfers are included; device tensor in, device tensor out when they are not).
- ``gpu_compute`` (GPU backends where the runtime exposes it): CUDA events around the network
  alone; ``h2d`` / ``d2h``: CUDA events around the copies, only when transfers are included.
Throughput is ``iters`` divided by the wall time of the whole timed loop. Random inputs of the
artifact's own type are made before timing and rotated among ``buffers`` buffers.

torch-free unless the torch backend is used; TensorRT is reached only through the runner that
``fastscnn_edge.runtime.trt.runner.open_engine_runner`` returns (see docs/TENSORRT.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from fastscnn_edge.bench.cases import BenchCase, BenchOptions, BenchResult, check_options
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.core.stats import maybe_summarize, stability_warnings, summarize, throughput_fps


@dataclass
class _Step:
    """One frame: ``run(i)`` runs frame i synchronously and returns its GPU times (ms) if known."""

    run: Callable[[int], Optional[Dict[str, float]]]
    mode: str
    details: Dict[str, object] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


def open_case_runner(case: BenchCase, opts: BenchOptions):  # noqa: ANN201 - backends.Runner
    """Open the runner for ``case`` with the options that belong to loading (threads, torch layout)."""
    from fastscnn_edge.runtime.backends import open_runner

    check_options([case], opts)
    torch_options: Dict[str, object] = {"channels_last": opts.channels_last, "half": opts.half}
    runner = open_runner(case.artifact, backend=case.backend, device=case.device, threads=opts.threads,
                         head=case.head, resolution=case.res, arch=case.arch, torch_options=torch_options)
    if case.backend == "torch" and opts.half:
        case.precision = "fp16"
    return runner


def _make_step(runner, case: BenchCase, opts: BenchOptions, inputs: List[np.ndarray]) -> _Step:  # noqa: ANN001
    if case.backend == "torch":
        return _torch_step(runner, case, opts, inputs)
    if opts.compile:
        raise UserError("--compile is a torch option.", fix="use it with --backend torch.")
    if case.backend == "onnxruntime" and case.device == "cuda":
        return _ort_cuda_step(runner, opts, inputs)
    if case.backend == "tensorrt":
        return _trt_step(runner, opts, inputs)
    if opts.cuda_graph:
        raise UserError("--cuda-graph needs a GPU backend.", fix="drop --cuda-graph on CPU.")
    n = len(inputs)

    def run(i: int) -> None:
        runner(inputs[i % n])
    return _Step(run, "host end to end: numpy in, numpy out (CPU)")


def _torch_step(runner, case: BenchCase, opts: BenchOptions, inputs: List[np.ndarray]) -> _Step:  # noqa: ANN001
    import torch

    details: Dict[str, object] = {"channels_last": opts.channels_last, "half": opts.half,
                                  "compile": opts.compile, "cuda_graph": opts.cuda_graph}
    if opts.compile:
        mode = "reduce-overhead" if (opts.cuda_graph and case.device == "cuda") else "default"
        try:
            runner.model = torch.compile(runner.model, mode=mode)
        except Exception as exc:  # noqa: BLE001 - torch.compile raises backend-specific errors
            raise UserError(f"torch.compile failed: {str(exc).splitlines()[0][:200]}",
                            fix="drop --compile (it needs a C++ compiler on CPU and Triton on CUDA).") from None
        details["compile_mode"] = mode
        for x in (inputs * 3)[:3]:  # compile (and record graphs) now, so a short --warmup does not time the compiler
            runner(x)
    n = len(inputs)
    if case.device != "cuda":
        if opts.cuda_graph:
            raise UserError("--cuda-graph needs --device cuda.", fix="drop --cuda-graph on CPU.")

        def run_cpu(i: int) -> None:
            runner(inputs[i % n])
        return _Step(run_cpu, "host end to end: numpy in, numpy out (CPU)", details)

    dev = runner.dev
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
    host = [torch.from_numpy(np.ascontiguousarray(x)).pin_memory() for x in inputs]
    on_dev = [runner.to_device(x) for x in inputs]

    def fwd(t):  # noqa: ANN001, ANN202
        return runner.forward_tensor(t)

    graph = None
    static_in = static_out = None
    if opts.cuda_graph and not opts.compile:
        static_in = on_dev[0].clone()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):  # warm up cuDNN autotuning outside the capture
                fwd(static_in)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = fwd(static_in)

    def compute(t):  # noqa: ANN001, ANN202
        if graph is None:
            return fwd(t)
        static_in.copy_(t, non_blocking=True)  # type: ignore[union-attr]
        graph.replay()
        return static_out

    if opts.include_transfers:
        def run_t(i: int) -> Dict[str, float]:
            ev[0].record()
            t = host[i % n].to(dev, runner.dtype, non_blocking=True)
            if runner.channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            ev[1].record()
            y = compute(t)
            ev[2].record()
            y.to("cpu", non_blocking=False)
            ev[3].record()
            ev[3].synchronize()
            return {"h2d": ev[0].elapsed_time(ev[1]), "gpu_compute": ev[1].elapsed_time(ev[2]),
                    "d2h": ev[2].elapsed_time(ev[3])}
        return _Step(run_t, "host end to end incl. H2D/D2H (pinned host memory); GPU times from torch.cuda.Event", details)

    def run_d(i: int) -> Dict[str, float]:
        ev[0].record()
        compute(on_dev[i % n])
        ev[1].record()
        ev[1].synchronize()
        return {"gpu_compute": ev[0].elapsed_time(ev[1])}
    return _Step(run_d, "device tensors in and out (transfers excluded); GPU time from torch.cuda.Event", details)


def _ort_cuda_step(runner, opts: BenchOptions, inputs: List[np.ndarray]) -> _Step:  # noqa: ANN001
    import onnxruntime as ort

    if opts.cuda_graph:
        raise UserError("--cuda-graph is not supported with onnxruntime here.",
                        fix="drop --cuda-graph, or benchmark a TensorRT engine or --backend torch with it.")
    sess = runner.session
    name_in, name_out = runner.io.input_name, runner.io.output_name
    binding = sess.io_binding()
    n = len(inputs)
    details = {"io_binding": True, "provider": sess.get_providers()[0]}
    if opts.include_transfers:
        binding.bind_output(name_out, "cpu")

        def run_t(i: int) -> None:
            binding.bind_cpu_input(name_in, inputs[i % n])
            sess.run_with_iobinding(binding)
        return _Step(run_t, "host end to end incl. H2D/D2H (onnxruntime IO binding); no GPU event timing", details)

    on_dev = [ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0) for x in inputs]
    binding.bind_output(name_out, "cuda", 0)

    def run_d(i: int) -> None:
        binding.bind_ortvalue_input(name_in, on_dev[i % n])
        sess.run_with_iobinding(binding)
    return _Step(run_d, "device buffers in and out (transfers excluded, onnxruntime IO binding); no GPU event timing",
                 details)


def _trt_step(runner, opts: BenchOptions, inputs: List[np.ndarray]) -> _Step:  # noqa: ANN001
    """The TensorRT runner's timing interface (docs/TENSORRT.md): ``timed_call(x, include_transfers=)``
    returning ``{"gpu_compute": ms, "h2d": ms, "d2h": ms}``, or ``__call__`` + ``last_gpu_ms``."""
    details: Dict[str, object] = {"cuda_graph": opts.cuda_graph}
    if opts.cuda_graph:
        if hasattr(runner, "enable_cuda_graph"):
            runner.enable_cuda_graph()
        elif hasattr(runner, "use_cuda_graph"):
            runner.use_cuda_graph = True
        else:
            raise UserError("this TensorRT runner cannot capture CUDA graphs.", fix="drop --cuda-graph.")
    n = len(inputs)
    if hasattr(runner, "timed_call"):
        def run_tc(i: int) -> Optional[Dict[str, float]]:
            got = runner.timed_call(inputs[i % n], include_transfers=opts.include_transfers)
            return {k: float(v) for k, v in (got or {}).items() if v is not None and k in ("gpu_compute", "h2d", "d2h")}
        mode = ("host end to end incl. H2D/D2H" if opts.include_transfers else "device buffers (transfers excluded)")
        return _Step(run_tc, mode + "; GPU times from CUDA events (TensorRT runner)", details)
    if not opts.include_transfers:
        raise UserError("this TensorRT runner always copies inputs and outputs.", fix="use --include-transfers.")

    def run(i: int) -> Optional[Dict[str, float]]:
        runner(inputs[i % n])
        out = {}
        for key, attr in (("gpu_compute", "last_gpu_ms"), ("h2d", "last_h2d_ms"), ("d2h", "last_d2h_ms")):
            v = getattr(runner, attr, None)
            if v is not None:
                out[key] = float(v)
        return out
    return _Step(run, "host end to end incl. H2D/D2H; GPU time from the TensorRT runner's CUDA events", details)


def run_case(case: BenchCase, opts: BenchOptions, *, progress: Optional[Progress] = None,
             runner=None) -> BenchResult:  # noqa: ANN001
    """Time ``target``: ``opts.warmup`` frames, then ``opts.iters`` timed frames. ``progress(done, total)``
    is called after every frame. ``runner`` reuses an open runner instead of loading the case."""
    check_options([case], opts)
    own = runner is None
    if runner is None:
        runner = open_case_runner(case, opts)
    if case.backend == "tensorrt":  # the engine's own metadata is the truth, whatever its sidecar layout
        case.head = getattr(runner.meta, "head", None) or case.head
        case.precision = getattr(runner.meta, "precision", None) or case.precision
    try:
        rng = np.random.default_rng(opts.seed)
        inputs = [runner.random_input(rng) for _ in range(opts.buffers)]
        step = _make_step(runner, case, opts, inputs)
        total = opts.warmup + opts.iters
        task = case.title
        for i in range(opts.warmup):
            step.run(i)
            report(progress, task, i + 1, total)
        host_ms: List[float] = []
        gpu: Dict[str, List[float]] = {"gpu_compute": [], "h2d": [], "d2h": []}
        clock = time.perf_counter_ns
        t_start = clock()
        for i in range(opts.iters):
            t0 = clock()
            got = step.run(i)
            host_ms.append((clock() - t0) / 1e6)
            if got:
                for k, v in got.items():
                    gpu[k].append(v)
            report(progress, task, opts.warmup + i + 1, total)
        seconds = (clock() - t_start) / 1e9
        step.close()
    finally:
        if own:
            runner.close()
    lat = summarize(host_ms)
    details = dict(step.details)
    threads = _threads_used(runner, opts)
    if case.backend == "onnxruntime":
        providers = list((getattr(runner, "details", {}) or {}).get("providers") or [""])
        details.setdefault("provider", providers[0])
        details["providers"] = providers
    if case.backend == "openvino":
        rd = getattr(runner, "details", {}) or {}
        details.update({k: rd[k] for k in ("openvino", "inference_precision", "cls_head", "cls_head_of_file", "device")
                        if k in rd})
    result = BenchResult(
        case=case, description=runner.description, fps=throughput_fps(opts.iters, seconds), latency=lat,
        gpu_compute=maybe_summarize(gpu["gpu_compute"]), h2d=maybe_summarize(gpu["h2d"]),
        d2h=maybe_summarize(gpu["d2h"]), mode=step.mode, threads=threads, details=details,
    )
    result.details["include_transfers"] = opts.include_transfers if case.device == "cuda" else None
    result.details["random_weights"] = bool(getattr(runner.meta, "random_weights", False))
    result.warnings = stability_warnings(lat, "host latency")
    if getattr(runner.meta, "extra", {}).get("cls_head_layout") == "refine":
        result.details["cls_head"] = "refine"
        result.warnings.append("the refined cls head's work grows with the class boundaries in the image; these "
                               "random frames have more than camera frames (so this is on the slow side): time "
                               "your own frames, as benchmarks/quant_speed.py does with street scenes.")
    if result.gpu_compute is not None:
        result.warnings += stability_warnings(result.gpu_compute, "GPU compute")
    return result


def _threads_used(runner, opts: BenchOptions) -> Optional[int]:  # noqa: ANN001
    if runner.device == "cuda":
        return opts.threads
    if runner.backend == "torch":
        return int(runner.torch.get_num_threads())
    if opts.threads:
        return opts.threads
    if runner.backend == "openvino":  # what the CPU plugin chose (its LATENCY hint: one stream, the cores)
        got = (getattr(runner, "details", {}) or {}).get("threads_used")
        return int(got) if isinstance(got, int) else None
    if runner.backend == "onnxruntime":
        # onnxruntime's default intra-op pool: one thread per physical core
        from fastscnn_edge.core.envinfo import cpu_cores

        c = cpu_cores()
        return c.get("physical") or c.get("usable")
    return None


def benchmark(cases: Sequence[BenchCase], opts: BenchOptions, *, progress: Optional[Progress] = None) -> List[BenchResult]:
    """Time every case in order (options checked against all of them first); ``progress`` gets
    ``(case title, frames done, frames total)``."""
    check_options(cases, opts)
    return [run_case(c, opts, progress=progress) for c in cases]
