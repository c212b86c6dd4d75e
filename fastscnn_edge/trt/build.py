"""``build_engine``: ONNX -> TensorRT engine + sidecar, decided by the capability table first.

Order: arguments -> runtime (TensorRT or TensorRT-RTX, from ``--runtime``, ``--target`` and what
is installed) -> capability plan (refuse before any work) -> ONNX checks -> runtime present?
-> precision-explicit ONNX (convert through ``fastscnn_edge.quantize`` where missing) -> build
(progress; Ctrl-C stops it) -> engine and sidecar written atomically -> one result line.
TensorRT-RTX builds ahead of time for a list of compute capabilities and needs no GPU.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence

from fastscnn_edge.artifact import KIND_WORDS, Artifact, open_artifact
from fastscnn_edge.cls_head import refuse_refined
from fastscnn_edge.errors import MissingDependency, UserError
from fastscnn_edge.progress import Progress, report
from fastscnn_edge.resolution import Resolution
from fastscnn_edge.trt.capability import (PRECISIONS, ComputeCapability, Environment, Plan, choose_runtime, decide,
                                          resolve_target)

Log = Callable[[str], None]


@dataclass
class BuildResult:
    path: Path
    sidecar: Path
    precision: str
    resolutions: List[Resolution]
    seconds: float
    size: int
    plan: Plan
    warnings: List[str] = field(default_factory=list)
    runtime: str = "tensorrt"
    runnable_here: bool = True

    def summary(self) -> str:
        """The one line a finished build prints: what, where, how large, how long, what next."""
        from fastscnn_edge.fileio import human_size

        res = ", ".join(f"{h}x{w}" for h, w in self.resolutions)
        what = f"{self.precision}, {res}"
        if self.runtime == "rtx":
            ccs = ", ".join(f"{a}.{b}" for a, b in self.plan.compute_capabilities)
            what += f", TensorRT-RTX for compute capability {ccs}"
        nxt = (f"fastscnn-edge bench {self.path}" if self.runnable_here else
               f"copy it with its .json to an Ampere-or-later RTX GPU and run fastscnn-edge bench {self.path.name} there")
        return f"built {self.path} ({what}) {human_size(self.size)} in {self.seconds:.1f} s -> next: {nxt}"


@dataclass
class Prepared:
    """Everything decided before TensorRT is touched (what ``--dry`` checks and tests inspect)."""

    artifact: Artifact
    precision: str
    plan: Plan
    env: Environment
    resolutions: List[Resolution]
    static: bool
    out: Path
    problems: List[str]
    runtime: str = "tensorrt"

    @property
    def onnx(self) -> Path:
        return self.artifact.path


def installed_runtimes() -> List[str]:
    from fastscnn_edge.machine import trt_runtime_available

    return [r for r in ("tensorrt", "rtx") if trt_runtime_available(r)]


def prepare(onnx: "Path | Artifact", out: Optional[Path], precision: str, res_list: Sequence[Sequence[int]], target: str,
            dla: Optional[int], workspace_gib: Optional[float], calib: Optional[Path],
            detected: Optional[Environment] = None, *, runtime: str = "auto",
            compute_capabilities: Sequence[ComputeCapability] = ()) -> Prepared:
    """Validate the arguments and decide the plan; raise UserError on anything wrong. No side effects.

    ``onnx`` is an Artifact (or a path, read once). ``runtime`` is ``auto``, ``tensorrt`` or ``rtx``;
    the chosen one is in ``Prepared.runtime``.
    """
    from fastscnn_edge.paths import default_engine, multi_resolution_engine
    from fastscnn_edge.trt.onnx_check import check_onnx

    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}.", fix="use --fp32, --fp16 or --int8.")
    if workspace_gib is not None and not workspace_gib > 0:
        raise UserError(f"--workspace {workspace_gib} GiB is not positive.", fix="pass e.g. --workspace 2.")
    if calib is not None and not Path(calib).exists():
        raise UserError(f"calibration data {calib} does not exist.", fix="pass a folder of images or a text file listing them.")
    if calib is not None and precision != "int8":
        raise UserError("--calib is for --int8 only.", fix="add --int8, or drop --calib.")
    a = open_artifact(onnx)
    if a.kind != "onnx":
        raise UserError(f"{a.path} is {KIND_WORDS[a.kind]}; build-engine builds from an ONNX file.",
                        fix="pass an .onnx written by `fastscnn-edge export` (or `quantize`).")
    if a.qdq_form in ("cpu", "openvino"):
        what = "CPU form (uint8 activations for onnxruntime)" if a.qdq_form == "cpu" else "OpenVINO form (NNCF's placement)"
        raise UserError(f"{a.path.name} is the INT8 {what}; TensorRT takes the "
                        "symmetric TensorRT form.", fix="make that one: fastscnn-edge quantize <the fp32 ONNX> --int8 "
                                                        "--calib DIR (the default --form tensorrt)")
    refuse_refined(a, "a TensorRT engine")
    chosen = runtime if runtime in ("tensorrt", "rtx") and detected is not None else \
        choose_runtime(runtime, target, installed_runtimes())
    env = resolve_target(target, detected, chosen, compute_capabilities)
    plan = decide(env, precision, a.onnx_kind, dla=dla, have_calibration=calib is not None)
    resolutions = a.resolutions(res_list, default=())
    if not resolutions:
        raise UserError(f"{a.path.name} has a dynamic input size.", fix="pass --res HxW (repeatable: one profile per size).")
    problems = check_onnx(a.proto, generation=plan.generation, static=not a.dynamic, int8=(a.onnx_kind == "qdq"))
    if out is None:
        out = default_engine(a.meta.arch, a.meta.head, resolutions[0], precision, chosen)
        if len(resolutions) > 1:  # one engine, one profile per size
            out = multi_resolution_engine(out, resolutions)
    return Prepared(a, precision, plan, env, resolutions, not a.dynamic, Path(out), problems, chosen)


def detect_environment(runtime: str = "tensorrt") -> Environment:
    """The runtime's version and, for TensorRT proper, the current GPU (needs a CUDA backend).
    TensorRT-RTX builds ahead of time: it needs no GPU, and none is looked for."""
    from fastscnn_edge.machine import is_jetson
    from fastscnn_edge.trt import api

    version = api.version(runtime)
    if runtime == "rtx":
        return Environment(version, None, None, 0, False, runtime="rtx")
    from fastscnn_edge.cuda_buffers import device_info

    dev = device_info()
    return Environment(version, dev.compute_capability, dev.name, api.num_dla_cores(), is_jetson())


def build_engine(onnx: "Path | Artifact", out: Optional[Path] = None, precision: str = "fp16",
                 res_list: Sequence[Resolution] = (), target: str = "auto", dla: Optional[int] = None,
                 workspace_gib: Optional[float] = None, timing_cache: Optional[Path] = None,
                 calib: Optional[Path] = None, *, runtime: str = "auto",
                 compute_capabilities: Sequence[ComputeCapability] = (), log: Optional[Log] = None,
                 progress: Optional[Progress] = None) -> BuildResult:
    """Build one engine from ``onnx``; see the module doc for the order of checks. ``log`` gets warnings,
    ``progress`` the builder's phases."""
    from fastscnn_edge.machine import trt_runtime_available

    say = log or (lambda _m: None)
    pre = prepare(onnx, out, precision, res_list, target, dla, workspace_gib, calib, runtime=runtime,
                  compute_capabilities=compute_capabilities)  # before any work
    _refuse_problems(pre)
    if timing_cache is not None and Path(timing_cache).is_dir():
        raise UserError(f"--timing-cache {timing_cache} is a folder.", fix="pass a file name, e.g. --timing-cache timing.cache.")
    shown = set(pre.plan.warnings)
    for w in pre.plan.warnings:
        say(f"warning: {w}")
    if not trt_runtime_available(pre.runtime):
        from fastscnn_edge.trt.api import INSTALL_FIX, RTX_INSTALL_FIX

        if pre.runtime == "rtx":
            raise MissingDependency("TensorRT-RTX is not installed; the checks passed, but an engine needs it.",
                                    fix=RTX_INSTALL_FIX + ".")
        rtx_too = "" if target not in ("auto", "desktop") else \
            "; for RTX GPUs (or to build here without a GPU) " + RTX_INSTALL_FIX + " and pass --runtime rtx"
        raise MissingDependency("TensorRT is not installed; the checks passed, but an engine needs it.",
                                fix=INSTALL_FIX + rtx_too + ".")
    from fastscnn_edge.fileio import check_writable

    check_writable(pre.out)
    pre = prepare(pre.artifact, pre.out, precision, res_list, target, dla, workspace_gib, calib,
                  detected=detect_environment(pre.runtime), runtime=pre.runtime, compute_capabilities=compute_capabilities)
    for w in pre.plan.warnings:
        if w not in shown:
            say(f"warning: {w}")
    _refuse_problems(pre)  # the detected TensorRT generation may add problems (e.g. uint8 labels on 8.x)
    source = _precision_onnx(pre, calib, say)
    return _build(pre, source, workspace_gib, timing_cache, progress)


def _refuse_problems(pre: Prepared) -> None:
    from fastscnn_edge.trt.onnx_check import format_problems

    if pre.problems:
        raise UserError(format_problems(pre.onnx, pre.problems), fix="see docs/TENSORRT.md for what TensorRT needs.")


def _precision_onnx(pre: Prepared, calib: Optional[Path], say: Log) -> Path:
    """The ONNX the plan parses: the given one, the ``.fp16``/``.int8`` file beside it, or a new conversion."""
    from fastscnn_edge.paths import beside
    from fastscnn_edge.trt.onnx_check import check_onnx, format_problems

    if not pre.plan.needs_conversion(pre.artifact.onnx_kind):
        return pre.onnx
    suffix = "fp16" if pre.plan.onnx_kind == "fp16" else "int8"
    near = beside(pre.onnx, suffix)
    if near.exists():
        found = Artifact.open(near)
        if found.onnx_kind == pre.plan.onnx_kind:
            say(f"using {near} (the {suffix} ONNX beside {pre.onnx.name})")
            return near
    try:
        from fastscnn_edge.quantize import to_fp16, to_int8
    except ImportError:
        raise MissingDependency(f"this build needs the {suffix} ONNX and fastscnn_edge.quantize is not available.",
                                fix=f"make it with `fastscnn-edge quantize --{suffix}` and pass it to build-engine.") from None
    say(f"converting {pre.onnx.name} -> {near.name} ({suffix}) ...")
    if pre.plan.onnx_kind == "fp16":
        made = Path(to_fp16(pre.artifact, near).path)
    else:
        assert calib is not None  # the capability table refused INT8 without calibration data
        made = Path(to_int8(pre.artifact, near, calib, form="tensorrt").path)
    problems = check_onnx(made, generation=pre.plan.generation, static=pre.static, int8=(suffix == "int8"),
                          reference=pre.artifact.proto)
    if problems:
        raise UserError(format_problems(made, problems), fix="report this: the converter produced a graph TensorRT rejects.")
    return made


@contextlib.contextmanager
def _ctrl_c_cancels() -> Iterator[threading.Event]:
    """While building, the first Ctrl-C asks TensorRT to stop (through the progress monitor, 10.x+;
    8.x finishes the build and then discards it); a second Ctrl-C interrupts at once.

    Raising KeyboardInterrupt inside a TensorRT callback would cross C++ frames, so the first
    Ctrl-C only sets an event; ``build_serialized`` turns it into KeyboardInterrupt afterwards.
    """
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set() and callable(previous):
            previous(signum, frame)  # type: ignore[arg-type]
        cancel.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def _build(pre: Prepared, source: Path, workspace_gib: Optional[float], timing_cache: Optional[Path],
           progress: Optional[Progress]) -> BuildResult:
    from fastscnn_edge.version import __version__
    from fastscnn_edge.fileio import atomic_path, atomic_write_bytes, sha256_file
    from fastscnn_edge.trt import api
    from fastscnn_edge.trt.sidecar import Sidecar, TensorInfo, sidecar_path, write_sidecar

    meta = copy.deepcopy(pre.artifact.meta)
    fmt = meta.input_format
    profiles = [] if pre.static else [((1, h, w, 3) if fmt in ("rgb8", "bgr8") else (1, 3, h, w)) for h, w in pre.resolutions]
    req = api.BuildRequest(onnx=source, strongly_typed=bool(pre.plan.strongly_typed), flags=list(pre.plan.flags),
                           profiles=profiles, workspace_bytes=int(workspace_gib * (1 << 30)) if workspace_gib else None,
                           timing_cache=timing_cache, dla_core=pre.plan.dla_core, runtime=pre.runtime,
                           compute_capabilities=list(pre.plan.compute_capabilities))
    t0 = time.perf_counter()
    report(progress, f"build: {pre.out.name} (TensorRT picks kernels; minutes)", 0, None)

    def phase(name: str, done: int, total: int) -> None:
        report(progress, f"build: {name[:60]}", done, max(total, 1))

    with _ctrl_c_cancels() as cancel:
        built = api.build_serialized(req, progress=phase, cancel=cancel)
    seconds = time.perf_counter() - t0
    with atomic_path(pre.out) as tmp:
        tmp.write_bytes(built.plan)
        io = [TensorInfo(t.name, "input" if t.is_input else "output", list(t.shape), _np_name(t.dtype))
              for t in built.io]  # the I/O of the parsed network: read without deserializing (no GPU needed)
        meta.precision = pre.precision
        sidecar = Sidecar(
            tensorrt_version=pre.env.trt_version or "", gpu_name=pre.env.gpu_name or "",
            compute_capability=pre.env.compute_capability, precision=pre.precision, io=io,
            source_onnx=str(source), source_sha256=sha256_file(source),
            build_options={"plan": pre.plan.to_json(), "resolutions": [list(r) for r in pre.resolutions],
                           "workspace_gib": workspace_gib, "timing_cache": str(timing_cache) if timing_cache else None,
                           "target_onnx": str(pre.onnx)},
            build_seconds=round(seconds, 2), toolkit_version=__version__, meta=meta.to_json(),
            runtime="tensorrt_rtx" if pre.runtime == "rtx" else "tensorrt",
            compute_capabilities=list(pre.plan.compute_capabilities) if pre.runtime == "rtx" else
            ([pre.env.compute_capability] if pre.env.compute_capability else []))
        write_sidecar(pre.out, sidecar)
    if timing_cache is not None and built.timing_cache is not None:
        atomic_write_bytes(timing_cache, built.timing_cache)
    return BuildResult(pre.out, sidecar_path(pre.out), pre.precision, list(pre.resolutions), seconds,
                       pre.out.stat().st_size, pre.plan, list(pre.plan.warnings), pre.runtime,
                       runnable_here=runnable_here(pre.runtime, list(pre.plan.compute_capabilities)))


def runnable_here(runtime: str, compute_capabilities: Sequence[ComputeCapability]) -> bool:
    """Whether an engine just built could run on this machine (a GPU it was built for is present)."""
    from fastscnn_edge.machine import gpu_present

    if runtime != "rtx":
        return True  # TensorRT proper built it on this machine's GPU
    if not gpu_present():
        return False
    try:
        from fastscnn_edge.cuda_buffers import device_info

        return tuple(device_info().compute_capability) in [tuple(c) for c in compute_capabilities]
    except UserError:
        return False


def _np_name(trt_name: str) -> str:
    from fastscnn_edge.cuda_buffers import numpy_dtype

    return numpy_dtype(trt_name).name


def default_onnx_inputs(arch: str, head: str, resolutions: Sequence[Resolution]) -> List[Path]:
    """The fp32 ONNX files `fastscnn-edge export` wrote by default for ``resolutions`` that exist."""
    from fastscnn_edge.paths import default_onnx

    found = [default_onnx(arch, head, r) for r in resolutions]
    present = [p for p in found if p.exists()]
    if not present:
        raise UserError(f"no ONNX given and none found at the default place ({found[0].parent}/).",
                        fix="run `fastscnn-edge export` first, or pass the ONNX file(s).")
    return present
