"""The benchmark: what to run (``plan``), how to time it (``run_target``), for every backend.

Protocol (the paper's, section 4.1): batch 1, ``warmup`` frames of burn-in, then ``iters``
timed frames. Random inputs of the artifact's own type are made before timing and rotated
among ``buffers`` buffers, so no frame reuses the previous frame's memory.

What is timed, per frame:
- ``latency``: host wall clock around one synchronous frame (numpy in, numpy out when
  transfers are included; device tensor in, device tensor out when they are not).
- ``gpu_compute`` (GPU backends where the runtime exposes it): CUDA events around the network
  alone; ``h2d`` / ``d2h``: CUDA events around the copies, only when transfers are included.
Throughput is ``iters`` divided by the wall time of the whole timed loop.

torch-free unless the torch backend is used; TensorRT is reached only through the runner
that ``fastscnn_edge.trt.open_engine_runner`` returns (see docs/TENSORRT.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.machine import auto_device, have_module, ort_gpu_providers, tensorrt_available, torch_cuda_available
from fastscnn_edge.errors import MissingDependency, UserError
from fastscnn_edge.stats import LatencyStats, maybe_summarize, stability_warnings, summarize, throughput_fps

Resolution = Tuple[int, int]
DEVICES = ("auto", "cpu", "cuda")
BENCH_HEADS = ("cls", "prob", "logits")
ENGINE_PRECISION_ORDER = ("fp16", "int8", "fp32")


@dataclass
class BenchOptions:
    """How to time. ``threads=None`` leaves the runtime's own default (recorded in the result)."""

    warmup: int = 100
    iters: int = 100
    threads: Optional[int] = None
    include_transfers: bool = True
    cuda_graph: bool = False
    channels_last: bool = False
    half: bool = False
    compile: bool = False
    buffers: int = 4
    seed: int = 0

    def check(self) -> None:
        if self.warmup < 0:
            raise UserError(f"--warmup {self.warmup} is negative.", fix="use 0 or more warm-up frames (the paper: 100).")
        if self.iters < 1:
            raise UserError(f"--iters {self.iters} is below 1.", fix="time at least one frame (the paper: 100).")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads {self.threads} is below 1.", fix="pass 1 or more, or leave it out for the runtime's default.")
        if self.buffers < 1:
            raise UserError("at least one input buffer is needed.", fix="pass buffers >= 1.")


@dataclass
class Target:
    """One thing to time: an artifact (None: the reference model) on a backend at one resolution."""

    artifact: Optional[Path]
    backend: str  # tensorrt | onnxruntime | torch (resolved, never auto)
    device: str  # cpu | cuda
    head: str
    res: Resolution
    precision: str = "fp32"
    arch: Optional[str] = None
    reason: str = ""


@dataclass
class BenchResult:
    """Every number of one target. Times in ms, throughput in frames per second."""

    target: Target
    description: str
    fps: float
    latency: LatencyStats
    gpu_compute: Optional[LatencyStats] = None
    h2d: Optional[LatencyStats] = None
    d2h: Optional[LatencyStats] = None
    mode: str = ""
    threads: Optional[int] = None
    details: Dict[str, object] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        t = self.target
        extra = []
        if t.backend == "onnxruntime" and t.device == "cuda" and self.details.get("provider"):
            extra.append(str(self.details["provider"]).replace("ExecutionProvider", ""))
        if t.backend == "torch":
            for key in ("channels_last", "half", "compile", "cuda_graph"):
                if self.details.get(key):
                    extra.append(key.replace("_", "-"))
        elif self.details.get("cuda_graph"):
            extra.append("cuda-graph")
        base = f"{t.backend} {t.device} {t.precision}"
        return base + (f" ({', '.join(extra)})" if extra else "")

    def to_json(self) -> Dict[str, object]:
        t = self.target
        return {
            "label": self.label,
            "artifact": str(t.artifact) if t.artifact else None,
            "backend": t.backend, "device": t.device, "head": t.head, "arch": t.arch,
            "resolution": list(t.res), "precision": t.precision, "batch": 1,
            "selection_reason": t.reason,
            "description": self.description,
            "fps": self.fps,
            "mode": self.mode,
            "threads": self.threads,
            "latency_ms": self.latency.to_json(),
            "gpu_compute_ms": self.gpu_compute.to_json() if self.gpu_compute else None,
            "h2d_ms": self.h2d.to_json() if self.h2d else None,
            "d2h_ms": self.d2h.to_json() if self.d2h else None,
            "details": self.details,
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------------------------
# what to run


def _require_backend(backend: str, device: str) -> None:
    from fastscnn_edge.machine import gpu_present, tensorrt_rtx_available

    if backend == "tensorrt" and not (tensorrt_available() or (tensorrt_rtx_available() and gpu_present())):
        extra = " (TensorRT-RTX is, but its engines need an RTX GPU, and there is none)" if tensorrt_rtx_available() else ""
        raise MissingDependency(f"TensorRT is not installed here{extra}.",
                                fix="pip install tensorrt on a desktop GPU machine (JetPack on a Jetson; tensorrt-rtx-cu13 "
                                    "for RTX engines on an RTX GPU), or use --backend onnxruntime.")
    if backend == "onnxruntime" and not have_module("onnxruntime"):
        raise MissingDependency("onnxruntime is not installed.", fix="pip install onnxruntime (or onnxruntime-gpu).")
    if backend == "onnxruntime" and device == "cuda" and not ort_gpu_providers():
        raise MissingDependency("onnxruntime has no CUDA/TensorRT provider here.",
                                fix="pip install onnxruntime-gpu on a CUDA machine, or use --device cpu.")
    if backend == "torch" and not have_module("torch"):
        raise MissingDependency("torch is not installed; the torch backend needs it.",
                                fix="pip install 'fastscnn-edge[export]' (or torch), or benchmark an exported .onnx/.engine.")
    if backend == "torch" and device == "cuda" and not torch_cuda_available():
        raise MissingDependency("torch has no CUDA device here.", fix="use --device cpu, or a CUDA build of torch on a GPU machine.")


def plan(
    artifacts: Sequence[Path] = (),
    *,
    backend: str = "auto",
    device: str = "auto",
    heads: Sequence[str] = (),
    resolutions: Sequence[Resolution] = (),
    precision: Optional[str] = None,
    arch: Optional[str] = None,
) -> List[Target]:
    """Decide what to time, and say why. Raises UserError for a missing artifact, a resolution
    an artifact was not built for, or a backend that is not installed.

    With no artifacts: per head (default cls) and resolution (default: the paper's three),
    ``auto`` picks the default engine that can run here (TensorRT, then TensorRT-RTX; fp16 > int8 >
    fp32), else the default ONNX of ``precision`` (fp32 unless asked) on onnxruntime (best provider).
    Where neither exists it refuses and names the command that makes one: it never times a
    substitute. ``--backend torch`` with no artifact times the reference model (random weights).
    """
    from fastscnn_edge import PAPER_RESOLUTIONS
    from fastscnn_edge.backends import BACKENDS
    from fastscnn_edge.metadata import PRECISIONS
    from fastscnn_edge.paths import DEFAULT_ARCH

    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}.", fix=f"use one of: {', '.join(BACKENDS)}.")
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}.", fix=f"use one of: {', '.join(DEVICES)}.")
    for h in heads:
        if h not in BENCH_HEADS:
            raise UserError(f"unknown head {h!r}.", fix=f"use one of: {', '.join(BENCH_HEADS)}.")
    if precision is not None and precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}.", fix=f"use one of: {', '.join(PRECISIONS)}.")
    if backend == "tensorrt" and device == "cpu":
        raise UserError("TensorRT runs on the GPU, not with --device cpu.", fix="drop --device or use --backend onnxruntime.")
    if backend != "auto":
        _require_backend(backend, "cpu" if device == "auto" else device)

    targets: List[Target] = []
    if artifacts:
        for a in artifacts:
            targets.extend(_plan_artifact(Path(a), backend, device, heads, resolutions, arch))
    else:
        a_name = arch or DEFAULT_ARCH
        ress = [tuple(r) for r in (resolutions or PAPER_RESOLUTIONS)]
        for head in heads or ("cls",):
            for res in ress:
                res_t = (int(res[0]), int(res[1]))
                targets.append(_plan_default(a_name, head, res_t, backend, device, precision))
    for t in targets:
        _require_backend(t.backend, t.device)
    return targets


def _runnable_engine(eng: Path) -> Tuple[bool, str]:
    """Whether ``eng`` can run here, and if not, why (one clause)."""
    from fastscnn_edge.trt.runner import check_runnable
    from fastscnn_edge.trt.sidecar import read_sidecar

    try:
        check_runnable(eng, read_sidecar(eng))
    except UserError as exc:
        return False, exc.cause.rstrip(".")
    return True, ""


def _plan_default(arch: str, head: str, res: Resolution, backend: str, device: str, precision: Optional[str]) -> Target:
    from fastscnn_edge.paths import default_engine, default_onnx

    looked: List[str] = []
    skipped: List[str] = []
    if backend in ("auto", "tensorrt") and device != "cpu":
        for prec in ([precision] if precision else list(ENGINE_PRECISION_ORDER)):
            for runtime in ("tensorrt", "rtx"):
                eng = default_engine(arch, head, res, prec, runtime)
                looked.append(str(eng))
                if not eng.exists():
                    continue
                ok, why_not = _runnable_engine(eng)
                if ok:
                    why = "asked for" if backend == "tensorrt" else "this engine exists and can run here"
                    return Target(eng, "tensorrt", "cuda", head, res, prec, arch, f"tensorrt: {why} ({eng})")
                skipped.append(why_not)
        if backend == "tensorrt":
            raise UserError(f"no engine for {arch}/{head} at {res[0]}x{res[1]} that runs here"
                            f" ({'; '.join(skipped) if skipped else 'looked for ' + ', '.join(looked)}).",
                            fix=f"build one: fastscnn-edge build-engine (after fastscnn-edge export --head {head} "
                                f"--res {res[0]}x{res[1]}).")
    if backend in ("auto", "onnxruntime"):
        prec = precision or "fp32"
        onnx_path = default_onnx(arch, head, res, prec)
        looked.append(str(onnx_path))
        if onnx_path.exists():
            dev, why = (device, f"device {device} asked for") if device != "auto" else auto_device("onnxruntime")
            pre = "" if backend == "onnxruntime" else (f"{skipped[0]}, so " if skipped else "no engine found, ")
            return Target(onnx_path, "onnxruntime", dev, head, res, prec, arch, f"onnxruntime: {pre}{why} ({onnx_path})")
        if prec != "fp32":
            fp32 = default_onnx(arch, head, res, "fp32")
            make = (f"fastscnn-edge quantize {fp32} --{prec}" + (" --calib DIR" if prec == "int8" else "")
                    if fp32.exists() else f"fastscnn-edge export --head {head} --res {res[0]}x{res[1]}, then "
                    f"fastscnn-edge quantize --{prec}")
            raise UserError(f"there is no {prec} model for {arch}/{head} at {res[0]}x{res[1]} ({onnx_path} does not exist).",
                            fix=f"make it: {make}")
        raise UserError(f"nothing to benchmark for {arch}/{head} at {res[0]}x{res[1]}: no engine or ONNX "
                        f"({onnx_path} does not exist).",
                        fix=f"export it first: fastscnn-edge export --head {head} --res {res[0]}x{res[1]} "
                            "(or time the reference PyTorch model with --backend torch)")
    # torch, asked for: the reference model
    dev, why = (device, f"device {device} asked for") if device != "auto" else auto_device("torch")
    return Target(None, "torch", dev, head, res, "fp32", arch,
                  f"torch: asked for; the reference model with random weights, {why}")


def _plan_artifact(path: Path, backend: str, device: str, heads: Sequence[str], resolutions: Sequence[Resolution],
                   arch: Optional[str]) -> List[Target]:
    from fastscnn_edge import PAPER_RESOLUTIONS
    from fastscnn_edge.backends import artifact_kind

    if not path.exists():
        raise UserError(f"{path} does not exist.",
                        fix="run `fastscnn-edge export` (and `build-engine`) first, or check the path.")
    kind = artifact_kind(path)
    if kind == "checkpoint":
        if backend not in ("auto", "torch"):
            raise UserError(f"{path} is a PyTorch checkpoint; backend {backend} cannot run it.",
                            fix="export it first (`fastscnn-edge export --weights ...`) or use --backend torch.")
        from fastscnn_edge.checkpoint import load

        load(path)  # every field checked before anything is timed
        dev, why = (device, f"device {device} asked for") if device != "auto" else auto_device("torch")
        return [Target(path, "torch", dev, h, (int(r[0]), int(r[1])), "fp32", arch, f"torch: a native checkpoint; {why}")
                for h in (heads or ("cls",)) for r in (resolutions or PAPER_RESOLUTIONS)]
    if kind == "engine":
        from fastscnn_edge.trt.runner import check_runnable
        from fastscnn_edge.trt.sidecar import read_sidecar

        if backend not in ("auto", "tensorrt"):
            raise UserError(f"{path} is a TensorRT engine; only the tensorrt backend runs it.", fix="use --backend tensorrt (or auto).")
        if device == "cpu":
            raise UserError(f"{path} is a TensorRT engine; it runs on the GPU, not with --device cpu.", fix="drop --device.")
        sidecar = read_sidecar(path)
        runtime = check_runnable(path, sidecar)  # one line where it cannot run here (no GPU, no runtime)
        meta = sidecar.model_meta() if sidecar is not None else None
        head = meta.head if meta is not None else None
        prec = sidecar.precision if sidecar is not None else next(
            (p for p in ("fp16", "int8", "fp32") if f".{p}." in path.name), "fp32")
        art_res = tuple(meta.resolution) if meta is not None and meta.resolution else None
        _check_head(path, head, heads)
        ress = _check_res(path, art_res, resolutions)  # type: ignore[arg-type]
        label = "TensorRT-RTX" if runtime == "rtx" else "TensorRT"
        return [Target(path, "tensorrt", "cuda", head or "cls", r, prec, arch, f"tensorrt: a {label} engine") for r in ress]
    # ONNX
    from fastscnn_edge.metadata import read_onnx_meta

    if backend in ("torch", "tensorrt"):
        hint = "build an engine first: fastscnn-edge build-engine " + str(path) if backend == "tensorrt" else \
            "use --backend onnxruntime or auto."
        raise UserError(f"{path} is an ONNX file; the {backend} backend does not run it.", fix=hint)
    meta = read_onnx_meta(path)
    _check_head(path, meta.head, heads)
    art_res = (int(meta.resolution[0]), int(meta.resolution[1])) if meta.resolution else None
    ress = _check_res(path, art_res, resolutions)
    dev, why = (device, f"device {device} asked for") if device != "auto" else auto_device("onnxruntime")
    return [Target(path, "onnxruntime", dev, meta.head, r, meta.precision or "fp32", arch or meta.arch,
                   f"onnxruntime: an ONNX file; {why}") for r in ress]


def _check_head(path: Path, head: Optional[str], heads: Sequence[str]) -> None:
    if heads and head and any(h != head for h in heads):
        raise UserError(f"{path.name} has the {head} head, not {', '.join(heads)}.",
                        fix=f"drop --head, or export that head: fastscnn-edge export --head {heads[0]}")


def _check_res(path: Path, art_res: Optional[Resolution], resolutions: Sequence[Resolution]) -> List[Resolution]:
    if art_res is None:  # dynamic
        if not resolutions:
            from fastscnn_edge import PAPER_RESOLUTIONS

            return [tuple(r) for r in PAPER_RESOLUTIONS]  # type: ignore[misc]
        return [(int(r[0]), int(r[1])) for r in resolutions]
    for r in resolutions:
        if tuple(r) != tuple(art_res):
            raise UserError(f"{path.name} was built for {art_res[0]}x{art_res[1]}, not {r[0]}x{r[1]}.",
                            fix=f"drop --res, or export/build that resolution: fastscnn-edge export --res {r[0]}x{r[1]}")
    return [tuple(art_res)]  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------
# how to time


@dataclass
class _Step:
    """One frame: ``run(i)`` runs frame i synchronously and returns its GPU times (ms) if known."""

    run: Callable[[int], Optional[Dict[str, float]]]
    mode: str
    details: Dict[str, object] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


def check_options(targets: Sequence[Target], opts: BenchOptions) -> None:
    """Refuse option/target combinations that cannot run (UserError), before any work starts."""
    opts.check()
    for t in targets:
        if t.backend == "torch" and opts.half and t.device != "cuda":
            raise UserError("--half runs the torch model in fp16, which is only fast (and supported) on CUDA.",
                            fix="drop --half on CPU, or add --device cuda.")
        if t.backend != "torch" and (opts.channels_last or opts.half or opts.compile):
            raise UserError("--channels-last, --half and --compile are torch options.",
                            fix="use them with --backend torch; for onnxruntime/TensorRT choose the precision of the artifact.")
        if opts.cuda_graph and t.device != "cuda":
            raise UserError("--cuda-graph needs a GPU backend.", fix="drop --cuda-graph on CPU.")
        if opts.cuda_graph and t.backend == "onnxruntime":
            raise UserError("--cuda-graph is not supported with onnxruntime here.",
                            fix="drop --cuda-graph, or benchmark a TensorRT engine or --backend torch with it.")


def open_runner(target: Target, opts: BenchOptions):  # noqa: ANN201 - backends.Runner
    """Open the runner for ``target`` with the options that belong to loading (threads, torch layout)."""
    from fastscnn_edge.backends import load_runner

    check_options([target], opts)
    torch_options: Dict[str, object] = {"channels_last": opts.channels_last, "half": opts.half}
    runner = load_runner(target.artifact, backend=target.backend, device=target.device, threads=opts.threads,
                         head=target.head, res=target.res, arch=target.arch, torch_options=torch_options)
    if target.backend == "torch" and opts.half:
        target.precision = "fp16"
    return runner


def _make_step(runner, target: Target, opts: BenchOptions, inputs: List[np.ndarray]) -> _Step:  # noqa: ANN001
    if target.backend == "torch":
        return _torch_step(runner, target, opts, inputs)
    if opts.compile:
        raise UserError("--compile is a torch option.", fix="use it with --backend torch.")
    if target.backend == "onnxruntime" and target.device == "cuda":
        return _ort_cuda_step(runner, opts, inputs)
    if target.backend == "tensorrt":
        return _trt_step(runner, opts, inputs)
    if opts.cuda_graph:
        raise UserError("--cuda-graph needs a GPU backend.", fix="drop --cuda-graph on CPU.")
    n = len(inputs)

    def run(i: int) -> None:
        runner(inputs[i % n])
    return _Step(run, "host end to end: numpy in, numpy out (CPU)")


def _torch_step(runner, target: Target, opts: BenchOptions, inputs: List[np.ndarray]) -> _Step:  # noqa: ANN001
    import torch

    details: Dict[str, object] = {"channels_last": opts.channels_last, "half": opts.half,
                                  "compile": opts.compile, "cuda_graph": opts.cuda_graph}
    if opts.compile:
        mode = "reduce-overhead" if (opts.cuda_graph and target.device == "cuda") else "default"
        try:
            runner.model = torch.compile(runner.model, mode=mode)
        except Exception as exc:  # noqa: BLE001 - torch.compile raises backend-specific errors
            raise UserError(f"torch.compile failed: {str(exc).splitlines()[0][:200]}",
                            fix="drop --compile (it needs a C++ compiler on CPU and Triton on CUDA).") from None
        details["compile_mode"] = mode
        for x in (inputs * 3)[:3]:  # compile (and record graphs) now, so a short --warmup does not time the compiler
            runner(x)
    n = len(inputs)
    if target.device != "cuda":
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


def run_target(target: Target, opts: BenchOptions, *, progress: Optional[Callable[[int, int], None]] = None,
               runner=None) -> BenchResult:  # noqa: ANN001
    """Time ``target``: ``opts.warmup`` frames, then ``opts.iters`` timed frames. ``progress(done, total)``
    is called after every frame. ``runner`` reuses an open runner instead of loading the target."""
    check_options([target], opts)
    own = runner is None
    if runner is None:
        runner = open_runner(target, opts)
    if target.backend == "tensorrt":  # the engine's own metadata is the truth, whatever its sidecar layout
        target.head = getattr(runner.meta, "head", None) or target.head
        target.precision = getattr(runner.meta, "precision", None) or target.precision
    try:
        rng = np.random.default_rng(opts.seed)
        inputs = [runner.random_input(rng) for _ in range(opts.buffers)]
        step = _make_step(runner, target, opts, inputs)
        total = opts.warmup + opts.iters
        for i in range(opts.warmup):
            step.run(i)
            if progress:
                progress(i + 1, total)
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
            if progress:
                progress(opts.warmup + i + 1, total)
        seconds = (clock() - t_start) / 1e9
        step.close()
    finally:
        if own:
            runner.close()
    lat = summarize(host_ms)
    details = dict(step.details)
    threads = _threads_used(runner, opts)
    if target.backend == "onnxruntime":
        providers = list((getattr(runner, "details", {}) or {}).get("providers") or [""])
        details.setdefault("provider", providers[0])
        details["providers"] = providers
    result = BenchResult(
        target=target, description=runner.description, fps=throughput_fps(opts.iters, seconds), latency=lat,
        gpu_compute=maybe_summarize(gpu["gpu_compute"]), h2d=maybe_summarize(gpu["h2d"]),
        d2h=maybe_summarize(gpu["d2h"]), mode=step.mode, threads=threads, details=details,
    )
    result.details["include_transfers"] = opts.include_transfers if target.device == "cuda" else None
    result.details["random_weights"] = bool(getattr(runner.meta, "random_weights", False))
    result.warnings = stability_warnings(lat, "host latency")
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
    if runner.backend == "onnxruntime":
        # onnxruntime's default intra-op pool: one thread per physical core
        from fastscnn_edge.envinfo import cpu_cores

        c = cpu_cores()
        return c.get("physical") or c.get("usable")
    return None


def run_all(targets: Sequence[Target], opts: BenchOptions,
            on_progress: Optional[Callable[[Target, int, int], None]] = None) -> List[BenchResult]:
    """``run_target`` for each target, in order."""
    out = []
    for t in targets:
        cb = (lambda d, n, t=t: on_progress(t, d, n)) if on_progress else None  # type: ignore[misc]
        out.append(run_target(t, opts, progress=cb))
    return out
