"""The engine build workflow: ONNX -> TensorRT engine + sidecar, decided by the capability table first.

Order: options -> runtime (TensorRT or TensorRT-RTX, from ``runtime``, ``target`` and what is
installed) -> capability plan (refuse before any work) -> ONNX checks -> runtime present? -> the
detected TensorRT and GPU refine the plan -> precision-explicit ONNX (converted through
:mod:`fastscnn_edge.quantize.convert` where missing: composed here, so nothing under ``trt/`` converts) ->
build (:mod:`fastscnn_edge.runtime.trt.builder`; progress; Ctrl-C stops it) -> engine and sidecar written
atomically -> one result line. TensorRT-RTX builds ahead of time for a list of compute
capabilities and needs no GPU. Each file is read and checked once per command: :func:`prepare`
makes a :class:`Prepared`, and :func:`build_engine` takes it (or makes it).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Union

from fastscnn_edge.core import precision as precisions
from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.core.resolution import Resolution
from fastscnn_edge.export.cls_head import refuse_refined
from fastscnn_edge.runtime.artifact import KIND_WORDS, Artifact, open_artifact
from fastscnn_edge.runtime.capability import ComputeCapability, Environment, Plan, choose_runtime, decide, resolve_target

if TYPE_CHECKING:
    from fastscnn_edge.quantize.convert import Int8Options

Log = Callable[[str], None]
ResolutionLike = Union[str, Sequence[int]]


@dataclass(frozen=True)
class BuildOptions:
    """Every option of an engine build (``fastscnn-edge build-engine``'s flags), typed.

    ``precision``: fp32 | fp16 | int8, None: the one default rule (:func:`fastscnn_edge.core.precision.default_for`:
    INT8 from a Q/DQ ONNX, else FP16). ``resolutions``: HxW strings or (H, W); a static ONNX must match,
    a dynamic one gets an optimization profile per size. ``target``: auto | titan-xp | jetson-orin |
    jetson-xavier | desktop | rtx. ``runtime``: auto | tensorrt | rtx. ``compute_capabilities``:
    TensorRT-RTX targets (``"8.6"`` or (8, 6); empty: its default list). ``dla``: a DLA core (Jetson
    AGX), with GPU fallback. ``workspace_gib``: the builder's workspace limit. ``timing_cache``: read
    if present, updated after the build. ``calib``: calibration images for INT8 from an fp32 ONNX
    (made with ``int8``, the calibration options of ``quantize``).
    """

    precision: Optional[str] = None
    resolutions: Sequence[ResolutionLike] = ()
    target: str = "auto"
    runtime: str = "auto"
    compute_capabilities: Sequence[Union[str, ComputeCapability]] = ()
    dla: Optional[int] = None
    workspace_gib: Optional[float] = None
    timing_cache: Optional[Path] = None
    calib: Optional[Path] = None
    int8: Optional["Int8Options"] = None

    def checked(self) -> "BuildOptions":
        """These options with every word and number checked once (the one entry check) and the
        resolutions and compute capabilities parsed."""
        from fastscnn_edge.core.resolution import as_resolution
        from fastscnn_edge.core.vocab import check
        from fastscnn_edge.runtime.capability import TARGET_NAMES, parse_compute_capabilities

        if self.precision is not None:
            precisions.get(self.precision)
        check("target", self.target, TARGET_NAMES)
        check("TensorRT runtime", self.runtime)
        if self.workspace_gib is not None and not self.workspace_gib > 0:
            raise UserError(f"--workspace {self.workspace_gib} GiB is not positive.", fix="pass e.g. --workspace 2.")
        if self.calib is not None and not Path(self.calib).exists():
            raise UserError(f"calibration data {self.calib} does not exist.",
                            fix="pass a folder of images or a text file listing them.")
        if self.timing_cache is not None and Path(self.timing_cache).is_dir():
            raise UserError(f"--timing-cache {self.timing_cache} is a folder.",
                            fix="pass a file name, e.g. --timing-cache timing.cache.")
        res = tuple(as_resolution(r) for r in self.resolutions)
        ccs = tuple(c for c in self.compute_capabilities if not isinstance(c, str))
        ccs += parse_compute_capabilities([c for c in self.compute_capabilities if isinstance(c, str)])
        return replace(self, resolutions=res, compute_capabilities=tuple(dict.fromkeys(ccs)),
                       calib=Path(self.calib) if self.calib is not None else None,
                       timing_cache=Path(self.timing_cache) if self.timing_cache is not None else None)


@dataclass
class BuildResult:
    """What a build made; path-like (``os.fspath(result)`` is the engine's path)."""

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

    def __fspath__(self) -> str:
        return str(self.path)

    def summary(self) -> str:
        """The one line a finished build prints: what, where, how large, how long, what next."""
        from fastscnn_edge.core.fileio import human_size

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
    options: BuildOptions = field(default_factory=BuildOptions)
    general_problems: List[str] = field(default_factory=list)  # those that hold for every generation

    @property
    def onnx(self) -> Path:
        return self.artifact.path

    def with_environment(self, detected: Environment) -> "Prepared":
        """The plan again for the TensorRT and GPU detected here (cheap: the table, and only the
        generation's own ONNX rules; the rest of the check is not repeated)."""
        from fastscnn_edge.export.onnx_rules import check_generation

        o = self.options
        env = resolve_target(o.target, replace(detected, runtime=self.runtime), self.runtime,
                             o.compute_capabilities)  # type: ignore[arg-type]
        plan = decide(env, self.precision, self.artifact.onnx_kind, dla=o.dla, have_calibration=o.calib is not None)
        problems = self.general_problems + check_generation(self.artifact.proto, plan.generation)
        return replace(self, env=env, plan=plan, problems=problems)


def installed_runtimes() -> List[str]:
    from fastscnn_edge.core.machine import trt_runtime_available
    from fastscnn_edge.core.vocab import TRT_RUNTIMES

    return [r for r in TRT_RUNTIMES if trt_runtime_available(r)]


def prepare(model: "Path | str | Artifact", output: Optional[Path] = None, *,
            options: BuildOptions = BuildOptions()) -> Prepared:
    """Check the options and the file and decide the plan; raise UserError on anything wrong. No side
    effects. ``model`` is an Artifact (or a path, read once); the chosen runtime is ``Prepared.runtime``."""
    from fastscnn_edge.core.paths import default_engine, multi_resolution_engine
    from fastscnn_edge.export.onnx_rules import check_generation, check_onnx

    o = options.checked()
    a = open_artifact(model)
    if a.kind != "onnx":
        raise UserError(f"{a.path} is {KIND_WORDS[a.kind]}; build-engine builds from an ONNX file.",
                        fix="pass an .onnx written by `fastscnn-edge export` (or `quantize`).")
    if a.qdq_form in ("cpu", "openvino"):
        what = "CPU form (uint8 activations for onnxruntime)" if a.qdq_form == "cpu" else "OpenVINO form (NNCF's placement)"
        raise UserError(f"{a.path.name} is the INT8 {what}; TensorRT takes the "
                        "symmetric TensorRT form.", fix="make that one: fastscnn-edge quantize <the fp32 ONNX> --int8 "
                                                        "--calib DIR (the default --form tensorrt)")
    refuse_refined(a, "a TensorRT engine")
    prec = precisions.resolve(o.precision, a.onnx_kind)
    if o.calib is not None and prec != "int8":
        raise UserError("--calib is for --int8 only.", fix="add --int8, or drop --calib.")
    chosen = choose_runtime(o.runtime, o.target, installed_runtimes())
    env = resolve_target(o.target, None, chosen, o.compute_capabilities)  # type: ignore[arg-type]
    plan = decide(env, prec, a.onnx_kind, dla=o.dla, have_calibration=o.calib is not None)
    resolutions = a.resolutions(o.resolutions, default=())  # type: ignore[arg-type]
    if not resolutions:
        raise UserError(f"{a.path.name} has a dynamic input size.", fix="pass --res HxW (repeatable: one profile per size).")
    general = check_onnx(a.proto, generation=None, static=not a.dynamic, int8=(a.onnx_kind == "qdq"))
    problems = general + check_generation(a.proto, plan.generation)
    out = Path(output) if output is not None else None
    if out is None:
        out = default_engine(a.meta.arch, a.meta.head, resolutions[0], prec, chosen)
        if len(resolutions) > 1:  # one engine, one profile per size
            out = multi_resolution_engine(out, resolutions)
    return Prepared(a, prec, plan, env, resolutions, not a.dynamic, out, problems, chosen, o, general)


def build_engine(model: "Path | str | Artifact | Prepared", output: Optional[Path] = None, *,
                 options: Optional[BuildOptions] = None, log: Optional[Log] = None,
                 progress: Optional[Progress] = None) -> BuildResult:
    """Build one TensorRT (or TensorRT-RTX) engine and its sidecar from an ONNX; see the module doc
    for the order of checks. ``model``: a path, an Artifact, or what :func:`prepare` made (then
    ``options`` must be left out: they are in it). ``log`` gets warnings and conversions,
    ``progress`` the builder's phases. Returns a :class:`BuildResult` (path-like)."""
    from fastscnn_edge.core.fileio import check_writable
    from fastscnn_edge.core.machine import trt_runtime_available

    say = log or (lambda _m: None)
    if isinstance(model, Prepared):
        if options is not None or output is not None:
            raise TypeError("a Prepared build carries its options and output; pass neither")
        pre = model
    else:
        pre = prepare(model, output, options=options or BuildOptions())  # before any work
    _refuse_problems(pre)
    shown = set(pre.plan.warnings)
    for w in pre.plan.warnings:
        say(f"warning: {w}")
    if not trt_runtime_available(pre.runtime):
        from fastscnn_edge.runtime.trt.lib import INSTALL_FIX, RTX_INSTALL_FIX

        if pre.runtime == "rtx":
            raise MissingDependency("TensorRT-RTX is not installed; the checks passed, but an engine needs it.",
                                    fix=RTX_INSTALL_FIX + ".")
        rtx_too = "" if pre.options.target not in ("auto", "desktop") else \
            "; for RTX GPUs (or to build here without a GPU) " + RTX_INSTALL_FIX + " and pass --runtime rtx"
        raise MissingDependency("TensorRT is not installed; the checks passed, but an engine needs it.",
                                fix=INSTALL_FIX + rtx_too + ".")
    from fastscnn_edge.runtime.trt.builder import detect_environment

    check_writable(pre.out)
    pre = pre.with_environment(detect_environment(pre.runtime))
    for w in pre.plan.warnings:
        if w not in shown:
            say(f"warning: {w}")
    _refuse_problems(pre)  # the detected TensorRT generation may add problems (e.g. uint8 labels on 8.x)
    source = _precision_onnx(pre, say)
    return _build(pre, source, progress)


def _refuse_problems(pre: Prepared) -> None:
    from fastscnn_edge.export.onnx_rules import format_problems

    if pre.problems:
        raise UserError(format_problems(pre.onnx, pre.problems), fix="see docs/TENSORRT.md for what TensorRT needs.")


def _precision_onnx(pre: Prepared, say: Log) -> Path:
    """The ONNX the plan parses: the given one, the ``.fp16``/``.int8`` file beside it, or a new
    conversion through :mod:`fastscnn_edge.quantize.convert` (the workflow composes it, not ``trt/``)."""
    from fastscnn_edge.core.paths import beside
    from fastscnn_edge.export.onnx_rules import check_onnx, format_problems

    if not pre.plan.needs_conversion(pre.artifact.onnx_kind):
        return pre.onnx
    target = precisions.of_onnx_kind(pre.plan.onnx_kind).name
    near = beside(pre.onnx, target)
    if near.exists():
        found = Artifact.open(near)
        if found.onnx_kind == pre.plan.onnx_kind:
            say(f"using {near} (the {target} ONNX beside {pre.onnx.name})")
            return near
    try:
        from fastscnn_edge.quantize.convert import Int8Options, to_fp16, to_int8
    except ImportError:
        raise MissingDependency(f"this build needs the {target} ONNX and fastscnn_edge.quantize is not available.",
                                fix=f"make it with `fastscnn-edge quantize --{target}` and pass it to build-engine.") from None
    say(f"converting {pre.onnx.name} -> {near.name} ({target}) ...")
    if target == "fp16":
        made = Path(to_fp16(pre.artifact, near).path)
    else:
        assert pre.options.calib is not None  # the capability table refused INT8 without calibration data
        opts = replace(pre.options.int8 or Int8Options(), form="tensorrt")
        made = Path(to_int8(pre.artifact, near, pre.options.calib, options=opts).path)
    problems = check_onnx(made, generation=pre.plan.generation, static=pre.static, int8=(target == "int8"),
                          reference=pre.artifact.proto)
    if problems:
        raise UserError(format_problems(made, problems), fix="report this: the converter produced a graph TensorRT rejects.")
    return made


def _build(pre: Prepared, source: Path, progress: Optional[Progress]) -> BuildResult:
    from fastscnn_edge.core.fileio import atomic_path, atomic_write_bytes, sha256_file
    from fastscnn_edge.core.version import __version__
    from fastscnn_edge.runtime.sidecar import Sidecar, TensorInfo, sidecar_path, write_sidecar
    from fastscnn_edge.runtime.trt import builder, lib

    o = pre.options
    meta = copy.deepcopy(pre.artifact.meta)
    fmt = meta.input_format
    profiles = [] if pre.static else [((1, h, w, 3) if fmt in ("rgb8", "bgr8") else (1, 3, h, w)) for h, w in pre.resolutions]
    req = lib.BuildRequest(onnx=source, strongly_typed=bool(pre.plan.strongly_typed), flags=list(pre.plan.flags),
                           profiles=profiles, workspace_bytes=int(o.workspace_gib * (1 << 30)) if o.workspace_gib else None,
                           timing_cache=o.timing_cache, dla_core=pre.plan.dla_core, runtime=pre.runtime,
                           compute_capabilities=list(pre.plan.compute_capabilities))
    t0 = time.perf_counter()
    report(progress, f"build: {pre.out.name} (TensorRT picks kernels; minutes)", 0, None)

    def phase(name: str, done: int, total: int) -> None:
        report(progress, f"build: {name[:60]}", done, max(total, 1))

    built = builder.build(req, progress=phase)
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
                           "workspace_gib": o.workspace_gib, "timing_cache": str(o.timing_cache) if o.timing_cache else None,
                           "target_onnx": str(pre.onnx)},
            build_seconds=round(seconds, 2), toolkit_version=__version__, meta=meta.to_json(),
            runtime="tensorrt_rtx" if pre.runtime == "rtx" else "tensorrt",
            compute_capabilities=list(pre.plan.compute_capabilities) if pre.runtime == "rtx" else
            ([pre.env.compute_capability] if pre.env.compute_capability else []))
        write_sidecar(pre.out, sidecar)
    if o.timing_cache is not None and built.timing_cache is not None:
        atomic_write_bytes(o.timing_cache, built.timing_cache)
    return BuildResult(pre.out, sidecar_path(pre.out), pre.precision, list(pre.resolutions), seconds,
                       pre.out.stat().st_size, pre.plan, list(pre.plan.warnings), pre.runtime,
                       runnable_here=runnable_here(pre.runtime, list(pre.plan.compute_capabilities)))


def runnable_here(runtime: str, compute_capabilities: Sequence[ComputeCapability]) -> bool:
    """Whether an engine just built could run on this machine (a GPU it was built for is present)."""
    from fastscnn_edge.core.machine import gpu_present

    if runtime != "rtx":
        return True  # TensorRT proper built it on this machine's GPU
    if not gpu_present():
        return False
    try:
        from fastscnn_edge.runtime.cuda_buffers import device_info

        return tuple(device_info().compute_capability) in [tuple(c) for c in compute_capabilities]
    except UserError:
        return False


def _np_name(trt_name: str) -> str:
    from fastscnn_edge.runtime.cuda_buffers import numpy_dtype

    return numpy_dtype(trt_name).name


def default_onnx_inputs(arch: str, head: str, resolutions: Sequence[Resolution]) -> List[Path]:
    """The fp32 ONNX files `fastscnn-edge export` wrote by default for ``resolutions`` that exist."""
    from fastscnn_edge.core.paths import default_onnx

    found = [default_onnx(arch, head, r) for r in resolutions]
    present = [p for p in found if p.exists()]
    if not present:
        raise UserError(f"no ONNX given and none found at the default place ({found[0].parent}/).",
                        fix="run `fastscnn-edge export` first, or pass the ONNX file(s).")
    return present
