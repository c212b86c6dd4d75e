"""The benchmark's cases and results: what to time (``select_cases``), the options, one result per
case. How a case is timed on each backend, and ``benchmark`` (time every case with progress):
:mod:`fastscnn_edge.bench.timing`.

Protocol (the paper's, section 4.1): batch 1, ``warmup`` frames of burn-in, then ``iters``
timed frames. Nothing is substituted: where what was asked for does not exist, the error names
the command that makes it.

torch-free unless the torch backend is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from fastscnn_edge.core import precision as precisions
from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.machine import auto_device, have_module, ort_gpu_providers, tensorrt_available, torch_cuda_available
from fastscnn_edge.core.resolution import Resolution, or_paper
from fastscnn_edge.core.stats import LatencyStats
from fastscnn_edge.core.vocab import ONNX_CPU_RUNTIMES, TRT_RUNTIMES, check
from fastscnn_edge.runtime.artifact import Artifact, open_artifact



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
class BenchCase:
    """One thing to time: an artifact (None: the reference model) on a backend at one resolution."""

    artifact: Union[Path, Artifact, None]
    backend: str  # tensorrt | onnxruntime | torch (resolved, never auto)
    device: str  # cpu | cuda
    head: str
    res: Resolution
    precision: str = "fp32"
    arch: Optional[str] = None
    reason: str = ""

    @property
    def path(self) -> Optional[Path]:
        a = self.artifact
        return a.path if isinstance(a, Artifact) else a

    @property
    def title(self) -> str:
        return f"{self.backend} {self.head} {self.res[0]}x{self.res[1]}"


@dataclass
class BenchResult:
    """Every number of one case. Times in ms, throughput in frames per second."""

    case: BenchCase
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
        t = self.case
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
        t = self.case
        return {
            "label": self.label,
            "artifact": str(t.path) if t.path else None,
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
# what to time


def _require_backend(backend: str, device: str) -> None:
    from fastscnn_edge.core.machine import gpu_present, tensorrt_rtx_available

    if backend == "tensorrt" and not (tensorrt_available() or (tensorrt_rtx_available() and gpu_present())):
        extra = " (TensorRT-RTX is, but its engines need an RTX GPU, and there is none)" if tensorrt_rtx_available() else ""
        raise MissingDependency(f"TensorRT is not installed here{extra}.",
                                fix="pip install tensorrt on a desktop GPU machine (JetPack on a Jetson; tensorrt-rtx-cu13 "
                                    "for RTX engines on an RTX GPU), or use --backend onnxruntime.")
    if backend == "openvino":
        from fastscnn_edge.runtime.ov_runtime import check_device, require

        require()  # one line naming the extra, or a too-old OpenVINO
        check_device(device)
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


def select_cases(
    artifacts: Sequence[Union[str, Path, Artifact]] = (),
    *,
    backend: str = "auto",
    device: str = "auto",
    heads: Sequence[str] = (),
    resolutions: Sequence[Sequence[int]] = (),
    precision: Optional[str] = None,
    arch: Optional[str] = None,
) -> List[BenchCase]:
    """Decide what to time, and say why. Raises UserError for a missing artifact, a resolution
    an artifact was not made for, or a backend that is not installed.

    With no artifacts: per head (default cls) and resolution (default: the paper's three),
    ``auto`` picks the default engine that can run here (TensorRT, then TensorRT-RTX; fp16 > int8 >
    fp32), else the default ONNX of ``precision`` (fp32 unless asked) on onnxruntime (best provider).
    Where neither exists it refuses and names the command that makes one: it never times a
    substitute. ``--backend torch`` with no artifact times the reference model (random weights).
    """
    from fastscnn_edge.core.paths import DEFAULT_ARCH

    check("backend", backend)
    check("device", device)
    for h in heads:
        check("head", h)
    if precision is not None:
        precisions.get(precision)
    if backend == "tensorrt" and device == "cpu":
        raise UserError("TensorRT runs on the GPU, not with --device cpu.", fix="drop --device or use --backend onnxruntime.")
    if backend != "auto":
        _require_backend(backend, "cpu" if device == "auto" else device)

    cases: List[BenchCase] = []
    if artifacts:
        for a in artifacts:
            cases.extend(_cases_for(open_artifact(a), backend, device, heads, resolutions, arch))
    else:
        for head in heads or ("cls",):
            for res in or_paper(resolutions):
                cases.append(_default_case(arch or DEFAULT_ARCH, head, res, backend, device, precision))
    for c in cases:
        _require_backend(c.backend, c.device)
    return cases


def _device(device: str, backend: str) -> Tuple[str, str]:
    """The device to run ``backend`` on, and why (for the case's reason line)."""
    return (device, f"device {device} asked for") if device != "auto" else auto_device(backend)


def _runnable_engine(path: Path) -> Tuple[Optional[Artifact], str]:
    """The engine at ``path`` opened if it can run here, else (None, why not in one clause)."""
    from fastscnn_edge.runtime.trt.runner import check_runnable

    try:
        a = Artifact.open(path)
        check_runnable(a)
    except UserError as exc:
        return None, exc.cause.rstrip(".")
    return a, ""


def _default_case(arch: str, head: str, res: Resolution, backend: str, device: str, precision: Optional[str]) -> BenchCase:
    from fastscnn_edge.core.paths import default_engine, default_onnx

    skipped: List[str] = []
    if backend in ("auto", "tensorrt") and device != "cpu":
        looked: List[str] = []
        for prec in ([precision] if precision else list(precisions.ENGINE_SEARCH_ORDER)):
            for runtime in TRT_RUNTIMES:
                eng = default_engine(arch, head, res, prec, runtime)
                looked.append(str(eng))
                if not eng.exists():
                    continue
                opened, why_not = _runnable_engine(eng)
                if opened is not None:
                    why = "asked for" if backend == "tensorrt" else "this engine exists and can run here"
                    return BenchCase(opened, "tensorrt", "cuda", head, res, prec, arch, f"tensorrt: {why} ({eng})")
                skipped.append(why_not)
        if backend == "tensorrt":
            raise UserError(f"no engine for {arch}/{head} at {res[0]}x{res[1]} that runs here"
                            f" ({'; '.join(skipped) if skipped else 'looked for ' + ', '.join(looked)}).",
                            fix=f"build one: fastscnn-edge build-engine (after fastscnn-edge export --head {head} "
                                f"--res {res[0]}x{res[1]}).")
    if backend in ("auto",) + ONNX_CPU_RUNTIMES:
        prec = precision or "fp32"
        onnx_path = default_onnx(arch, head, res, prec)
        if onnx_path.exists():
            a = Artifact.open(onnx_path)
            be, dev, why = _onnx_runtime(a, backend, device)
            pre = "" if backend != "auto" else (f"{skipped[0]}, so " if skipped else "no engine found, ")
            return BenchCase(a, be, dev, head, res, prec, arch, f"{be}: {pre}{why} ({onnx_path})")
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
    dev, why = _device(device, "torch")
    return BenchCase(None, "torch", dev, head, res, "fp32", arch,
                     f"torch: asked for; the reference model with random weights, {why}")


def _cases_for(a: Artifact, backend: str, device: str, heads: Sequence[str], resolutions: Sequence[Sequence[int]],
               arch: Optional[str]) -> List[BenchCase]:
    be = a.check_backend(backend)
    if a.kind == "checkpoint":
        dev, why = _device(device, "torch")
        return [BenchCase(a, be, dev, h, r, "fp32", arch, f"torch: a native checkpoint; {why}")
                for h in (heads or ("cls",)) for r in a.resolutions(resolutions)]
    if heads and any(h != a.meta.head for h in heads):
        raise UserError(f"{a.path.name} has the {a.meta.head} head, not {', '.join(heads)}.",
                        fix=f"drop --head, or export that head: fastscnn-edge export --head {heads[0]}")
    if a.kind == "engine":
        from fastscnn_edge.runtime.trt.runner import check_runnable

        if device == "cpu":
            raise UserError(f"{a.path} is a TensorRT engine; it runs on the GPU, not with --device cpu.", fix="drop --device.")
        label = "TensorRT-RTX" if check_runnable(a) == "rtx" else "TensorRT"  # one line where it cannot run here
        return [BenchCase(a, be, "cuda", a.meta.head, r, a.precision, arch, f"tensorrt: a {label} engine")
                for r in a.resolutions(resolutions)]
    be, dev, why = _onnx_runtime(a, backend, device)
    return [BenchCase(a, be, dev, a.meta.head, r, a.precision, arch or a.meta.arch, f"{be}: an ONNX file; {why}")
            for r in a.resolutions(resolutions)]


def _onnx_runtime(a: Artifact, backend: str, device: str) -> Tuple[str, str, str]:
    """(runtime, device, why) for an ONNX file: asked for, or auto: onnxruntime's GPU provider where
    there is one, else the CPU runtime :meth:`Artifact.cpu_runtime` names (OpenVINO or onnxruntime)."""
    if backend == "openvino":
        return "openvino", "cpu", "asked for; OpenVINO's CPU plugin"
    dev, why = _device(device, "onnxruntime")
    if backend == "auto" and dev == "cpu":
        be, rule = a.cpu_runtime()
        return be, "cpu", (f"{rule}; {why}" if be == "onnxruntime" else rule)
    return "onnxruntime", dev, why


def check_options(cases: Sequence[BenchCase], opts: BenchOptions) -> None:
    """Refuse option/target combinations that cannot run (UserError), before any work starts."""
    opts.check()
    for c in cases:
        if c.backend == "torch" and opts.half and c.device != "cuda":
            raise UserError("--half runs the torch model in fp16, which is only fast (and supported) on CUDA.",
                            fix="drop --half on CPU, or add --device cuda.")
        if c.backend != "torch" and (opts.channels_last or opts.half or opts.compile):
            raise UserError("--channels-last, --half and --compile are torch options.",
                            fix="use them with --backend torch; for onnxruntime/TensorRT choose the precision of the artifact.")
        if opts.cuda_graph and c.device != "cuda":
            raise UserError("--cuda-graph needs a GPU backend.", fix="drop --cuda-graph on CPU.")
        if opts.cuda_graph and c.backend == "onnxruntime":
            raise UserError("--cuda-graph is not supported with onnxruntime here.",
                            fix="drop --cuda-graph, or benchmark a TensorRT engine or --backend torch with it.")



