"""The one module that imports TensorRT: ``tensorrt`` (8.5/8.6, 10.x, 11.x) or ``tensorrt_rtx``
(TensorRT for RTX). It detects features, not version strings.

Generations handled (docs/TENSORRT.md): 8.5/8.6 (``EXPLICIT_BATCH`` network flag, FP16/INT8 builder
flags, named-tensor API next to the older bindings API), 10.x (``STRONGLY_TYPED`` since 9.1,
``IProgressMonitor``, ``set_tensor_address`` + ``execute_async_v3``), 11.x (strongly typed only, no
precision builder flags), and TensorRT-RTX (the 10.x/11.x API, strongly typed only, target compute
capabilities set on the builder config, CPU-only ahead-of-time builds, engines finished just in
time on the GPU with a runtime cache). Every function takes ``runtime``: "tensorrt" or "rtx".
Type-checked with mypy against ``tensorrt-stubs`` (10.x API); attributes only 8.x, 11.x or RTX
has carry ``# type: ignore[attr-defined]`` with the reason.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.machine import TRT_MODULES, trt_runtime_available
from fastscnn_edge.core.vocab import TRT_RUNTIMES, check

if TYPE_CHECKING:  # the stubs (tensorrt-stubs, 10.x API) type the code; nothing is imported at run time
    import tensorrt as trt

ProgressFn = Callable[[str, int, int], None]  # (phase, steps done, steps total)
RUNTIME_NAMES = {"tensorrt": "TensorRT", "rtx": "TensorRT-RTX"}
INSTALL_FIX = ("pip install tensorrt on a desktop GPU machine (pip install 'tensorrt==8.6.*' for Pascal GPUs "
               "such as the Titan Xp); on a Jetson it comes with JetPack")
RTX_INSTALL_FIX = "pip install tensorrt-rtx-cu13 (or tensorrt-rtx-cu12 for CUDA 12 drivers)"


def resolve_runtime(choice: str) -> str:
    """``--runtime auto|tensorrt|rtx`` -> the installed runtime to use ("tensorrt" or "rtx").

    auto: TensorRT proper where importable (it runs on every NVIDIA GPU and on Jetsons), else
    TensorRT-RTX. MissingDependency where the asked-for runtime (or, for auto, either) is absent.
    """
    check("TensorRT runtime", choice)
    if choice == "auto":
        for name in TRT_RUNTIMES:
            if trt_runtime_available(name):
                return name
        raise MissingDependency("neither TensorRT nor TensorRT-RTX is installed.",
                                fix=INSTALL_FIX + "; or, for RTX GPUs and GPU-less build machines, " + RTX_INSTALL_FIX + ".")
    if not trt_runtime_available(choice):
        raise MissingDependency(f"{RUNTIME_NAMES[choice]} is not installed.",
                                fix=(INSTALL_FIX if choice == "tensorrt" else RTX_INSTALL_FIX) + ".")
    return choice


def load(runtime: str = "tensorrt") -> ModuleType:
    """Import ``tensorrt`` or ``tensorrt_rtx``, or raise MissingDependency."""
    resolve_runtime(runtime)
    return importlib.import_module(TRT_MODULES[runtime])


def version(runtime: str = "tensorrt") -> str:
    return str(load(runtime).__version__)


def num_dla_cores(runtime: str = "tensorrt") -> int:
    """DLA cores the builder sees (0 on discrete GPUs and with TensorRT-RTX; 2 on Jetson AGX Orin/Xavier)."""
    trt = load(runtime)
    return int(getattr(trt.Builder(_logger(trt)), "num_DLA_cores", 0))


@dataclass(frozen=True)
class Features:
    """What the installed TensorRT offers, detected on the module itself."""

    runtime: str  # "tensorrt" | "rtx"
    version: str
    strongly_typed: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED (9.1+)
    explicit_batch_flag: bool  # 8.x must ask for explicit batch; 10+ ignores/removed it
    precision_flags: bool  # BuilderFlag.FP16 / INT8 (gone in 11.x and in TensorRT-RTX)
    progress_monitor: bool  # IProgressMonitor (10.0+)
    memory_pool_limit: bool  # IBuilderConfig.set_memory_pool_limit (8.4+)
    tensor_api: bool  # ICudaEngine.num_io_tensors + execute_async_v3 (8.5+)
    implicit_strongly_typed: bool  # 11.x and RTX: no weakly typed networks at all
    compute_capabilities: bool  # IBuilderConfig.set_compute_capability (TensorRT-RTX: build for other GPUs)
    runtime_cache: bool  # IRuntimeConfig + IRuntimeCache (TensorRT-RTX: reuse just-in-time kernels)

    @property
    def name(self) -> str:
        return f"{RUNTIME_NAMES[self.runtime]} {self.version}"


def features(runtime: str = "tensorrt") -> Features:
    trt = load(runtime)
    flags = trt.NetworkDefinitionCreationFlag
    major = int(str(trt.__version__).split(".")[0])  # EXPLICIT_BATCH still exists (ignored) in 10.x
    precision_flags = hasattr(trt.BuilderFlag, "FP16") and hasattr(trt.BuilderFlag, "INT8")
    return Features(
        runtime=runtime,
        version=str(trt.__version__),
        strongly_typed=hasattr(flags, "STRONGLY_TYPED"),
        explicit_batch_flag=hasattr(flags, "EXPLICIT_BATCH") and major < 10 and runtime == "tensorrt",
        precision_flags=precision_flags,
        progress_monitor=hasattr(trt, "IProgressMonitor"),
        memory_pool_limit=hasattr(trt.IBuilderConfig, "set_memory_pool_limit"),
        tensor_api=hasattr(trt.ICudaEngine, "num_io_tensors"),
        implicit_strongly_typed=not precision_flags,  # 11.x and RTX removed FP16/INT8 flags with weak typing
        compute_capabilities=hasattr(trt.IBuilderConfig, "set_compute_capability"),
        runtime_cache=hasattr(trt, "IRuntimeCache") and hasattr(trt.ICudaEngine, "create_runtime_config"),
    )


def _logger(trt: Any) -> Any:
    """A logger that keeps TensorRT's errors for the message of the UserError and drops the rest."""

    class Collecting(trt.ILogger):  # the runtime's own ILogger (tensorrt or tensorrt_rtx)
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: List[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                self.errors.append(msg)

    return Collecting()


def first_line(text: str) -> str:
    """The cause in a TensorRT message: messages span lines, wrap the cause in ``Error Code N: Kind (...)``
    with source locations, and GPU-less TensorRT-RTX builds append CUDA driver noise; keep the cause."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith("Invalid Node") and "cudaError" not in ln and "checkMacros" not in ln]
    line = keep[0] if keep else (lines[0] if lines else "")
    m = re.search(r"Error Code \d+: [^(]*\((.*?)\)?\s*$", line)
    if m:
        line = m.group(1)
    line = re.sub(r"\s*In \w+ at \S+$", "", line)  # "In checkType at /_src/...cpp:456"
    line = re.sub(r"^\[[^\]]*\]\s*", "", line)  # "[pass.cpp:337: check_turing_op_compatibility]"
    line = re.sub(r"^MyelinCheckException: \S+: ", "Myelin internal check: ", line)
    return line.strip().rstrip(".")


# ---------------------------------------------------------------------------------------------
# parse and build


@dataclass
class BuildRequest:
    onnx: Path
    strongly_typed: bool
    flags: Sequence[str]  # BuilderFlag names
    # one optimization profile each: an input shape (min = opt = max), or a (min, opt, max) triple of shapes;
    # empty: static ONNX
    profiles: Sequence[Any]
    workspace_bytes: Optional[int] = None
    timing_cache: Optional[Path] = None
    dla_core: Optional[int] = None
    runtime: str = "tensorrt"
    compute_capabilities: Sequence[Tuple[int, int]] = ()  # TensorRT-RTX targets; empty: the runtime's default


@dataclass(frozen=True)
class IOTensor:
    name: str
    is_input: bool
    shape: Tuple[int, ...]  # -1: dynamic
    dtype: str  # TensorRT DataType member name: FLOAT, HALF, UINT8, INT32 ...


@dataclass
class Built:
    """A serialized engine, the timing cache after the build, and the network I/O as parsed."""

    plan: bytes
    timing_cache: Optional[bytes]
    io: List[IOTensor] = field(default_factory=list)


@dataclass(frozen=True)
class ParseProblem:
    """One error of the ONNX parser: the node (name and op type) and TensorRT's description."""

    node: str
    op_type: str
    desc: str

    def __str__(self) -> str:
        where = f"node {self.node}" + (f" ({self.op_type})" if self.op_type else "") if self.node else "the graph"
        return f"{where}: {first_line(self.desc)}"


@dataclass
class Parsed:
    """A network parsed by TensorRT's ONNX parser; the parser owns the weights, so it lives as long."""

    builder: Any
    network: Any
    parser: Any
    logger: Any
    problems: List[ParseProblem]


def parse_onnx(path: Path, runtime: str = "tensorrt", strongly_typed: bool = True) -> Parsed:
    """Parse ``path`` with TensorRT's own ONNX parser; ``problems`` lists what it refused."""
    feats = features(runtime)
    trt = load(runtime)
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, feats, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    problems: List[ParseProblem] = []
    if not parser.parse_from_file(str(path)):
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            problems.append(ParseProblem(_call_str(err, "node_name"), _call_str(err, "node_operator"),
                                         _call_str(err, "desc") or str(err)))
    return Parsed(builder, network, parser, logger, problems)


def _call_str(obj: Any, name: str) -> str:
    fn = getattr(obj, name, None)
    try:
        return str(fn()) if callable(fn) else ""
    except Exception:  # noqa: BLE001 - older parsers lack some accessors or raise on them
        return ""


def network_io(network: "trt.INetworkDefinition") -> List[IOTensor]:
    """The network's inputs and outputs as parsed (the engine has the same; no GPU needed to read them)."""
    out = []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        out.append(IOTensor(t.name, True, _shape(t.shape), _dtype_name(t.dtype)))
    for i in range(network.num_outputs):
        t = network.get_output(i)
        out.append(IOTensor(t.name, False, _shape(t.shape), _dtype_name(t.dtype)))
    return out


def build_serialized(req: BuildRequest, *, progress: Optional[ProgressFn] = None,
                     cancel: Optional[threading.Event] = None) -> Built:
    """Parse ``req.onnx`` and build a serialized engine.

    ``cancel`` set during the build stops it at the next progress step (10.x+) and raises
    KeyboardInterrupt; ``progress`` receives (phase, done, total) where IProgressMonitor exists.
    Parse and build failures raise UserError naming the node and TensorRT's reason.
    """
    feats = features(req.runtime)  # raises MissingDependency first
    trt = load(req.runtime)
    parsed = parse_onnx(req.onnx, req.runtime, req.strongly_typed)
    builder, network, logger, problems = parsed.builder, parsed.network, parsed.logger, parsed.problems
    if problems:
        raise UserError(f"{feats.name} cannot parse {req.onnx.name}: {'; '.join(map(str, problems[:2]))[:500]}.",
                        fix=parse_fix(problems))
    config = builder.create_builder_config()
    if req.workspace_bytes:
        _set_workspace(trt, feats, config, req.workspace_bytes)
    for name in req.flags:
        if not hasattr(trt.BuilderFlag, name):
            raise UserError(f"{feats.name} has no builder flag {name}.",
                            fix="this precision needs a precision-explicit ONNX on this TensorRT (see docs/TENSORRT.md).")
        config.set_flag(getattr(trt.BuilderFlag, name))
    if req.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(req.dla_core)
    if req.compute_capabilities:
        _set_compute_capabilities(trt, feats, config, req.compute_capabilities)
    cache = _attach_timing_cache(config, req.timing_cache)
    _add_profiles(trt, builder, network, config, req.profiles)
    monitor = _attach_progress(trt, feats, config, progress, cancel)
    plan = builder.build_serialized_network(network, config)
    if cancel is not None and cancel.is_set():
        raise KeyboardInterrupt
    if plan is None:
        reason = first_line("; ".join(logger.errors)) or "no reason given"
        raise UserError(f"{feats.name} failed to build {req.onnx.name}: {reason[:500]}", fix=build_fix(reason, req))
    del monitor  # kept alive until the build returned (TensorRT holds only a raw pointer)
    new_cache = bytes(cache.serialize()) if cache is not None else None
    return Built(bytes(plan), new_cache, network_io(network))


def parse_fix(problems: Sequence[ParseProblem]) -> str:
    """What to change for the parser errors we know, else a general hint."""
    text = " ".join(p.desc for p in problems)
    if "UInt8" in text or "UINT8" in text:
        return ("a uint8 graph input may feed only a Cast: re-export with this fastscnn-edge "
                "(fastscnn-edge export --input bgr8 casts first), or export with --input float.")
    if "opset" in text.lower():
        return "re-export with --opset 17."
    return "check it with the ONNX checks of build-engine, or re-export with --opset 17."


def build_fix(reason: str, req: BuildRequest) -> str:
    if "FP32 GEMM is not supported" in reason or "for Turing" in reason:
        return ("TensorRT-RTX cannot run FP32 matrix multiplies on Turing (sm_75): build --fp16 for 7.5, "
                "or leave 7.5 out of --compute-capability.")
    if "Myelin" in reason and req.profiles:
        return "export with --labels int32, or build one exact profile per size (--res HxW, repeatable)."
    return "run with a larger --workspace, or check the model with --fp32 first."


def _network_flags(trt: Any, feats: Features, strongly_typed: bool) -> int:
    flags = 0
    if feats.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed and feats.implicit_strongly_typed:
        return flags  # 11.x and RTX: every network is strongly typed; the flag is deprecated or absent
    if strongly_typed:
        if not feats.strongly_typed:
            raise UserError(f"{feats.name} cannot build strongly typed networks (9.1+ can).",
                            fix="on 8.x build FP16 from the fp32 ONNX with its builder flag: build-engine --fp16 MODEL.onnx")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _set_compute_capabilities(trt: Any, feats: Features, config: "trt.IBuilderConfig",
                              ccs: Sequence[Tuple[int, int]]) -> None:
    if not feats.compute_capabilities:
        raise UserError(f"{feats.name} builds for the GPU it runs on; it cannot target other compute capabilities.",
                        fix="drop --compute-capability (it is for --runtime rtx), or build on the target GPU.")
    config.num_compute_capabilities = len(ccs)  # type: ignore[attr-defined]  # TensorRT-RTX only
    for index, (major, minor) in enumerate(ccs):
        member = getattr(trt.ComputeCapability, f"SM{major}{minor}", None)
        if member is None or not config.set_compute_capability(member, index):  # type: ignore[attr-defined]  # RTX only
            raise UserError(f"{feats.name} cannot build for compute capability {major}.{minor}.",
                            fix="pass capabilities it lists: " + ", ".join(rtx_compute_capabilities(trt)) + ".")


def rtx_compute_capabilities(trt: Any) -> List[str]:
    """The compute capabilities the installed TensorRT-RTX can target, as "8.6" strings."""
    out = []
    for name in dir(trt.ComputeCapability):
        if name.startswith("SM") and name[2:].isdigit():
            digits = name[2:]
            out.append(f"{digits[:-1]}.{digits[-1]}")
    return sorted(out, key=lambda v: tuple(int(x) for x in v.split(".")))


def _set_workspace(trt: Any, feats: Features, config: "trt.IBuilderConfig", nbytes: int) -> None:
    if feats.memory_pool_limit:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))
    else:  # before 8.4; kept for completeness of the detection, our table refuses < 8.5
        config.max_workspace_size = int(nbytes)  # type: ignore[attr-defined]  # removed in 10.0


def _attach_timing_cache(config: "trt.IBuilderConfig", path: Optional[Path]) -> "Optional[trt.ITimingCache]":
    if path is None:
        return None
    data = path.read_bytes() if path.exists() else b""
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, False)  # refuse a cache from another TensorRT/GPU instead of using it
    return cache


def _add_profiles(trt: Any, builder: "trt.Builder", network: "trt.INetworkDefinition", config: "trt.IBuilderConfig",
                  shapes: Sequence[Any]) -> None:
    if not shapes:
        return
    name = network.get_input(0).name
    for shape in shapes:
        profile = builder.create_optimization_profile()
        # exact per-resolution profiles by default (best kernels for each); a triple gives a range
        lo, opt, hi = (shape if isinstance(shape[0], (tuple, list)) else (shape, shape, shape))
        profile.set_shape(name, trt.Dims(list(lo)), trt.Dims(list(opt)), trt.Dims(list(hi)))
        config.add_optimization_profile(profile)


def _attach_progress(trt: Any, feats: Features, config: "trt.IBuilderConfig", progress: Optional[ProgressFn],
                     cancel: Optional[threading.Event]) -> Any:
    if not feats.progress_monitor or (progress is None and cancel is None):
        return None

    class Monitor(trt.IProgressMonitor):  # the runtime's own monitor
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.totals: Dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
            self.totals[phase_name] = num_steps
            if progress is not None:
                progress(phase_name, 0, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            if progress is not None:
                progress(phase_name, step + 1, self.totals.get(phase_name, step + 1))
            return not (cancel is not None and cancel.is_set())

        def phase_finish(self, phase_name: str) -> None:
            if progress is not None:
                total = self.totals.get(phase_name, 1)
                progress(phase_name, total, total)

    monitor = Monitor()
    config.progress_monitor = monitor
    return monitor


# ---------------------------------------------------------------------------------------------
# run


class Engine:
    """A deserialized engine with its I/O, on the named-tensor API (8.5+) or the bindings API.

    TensorRT-RTX engines are finished just in time on the GPU they run on; ``runtime_cache`` names a
    file that keeps those kernels between runs (read if present; ``save_runtime_cache`` writes it).
    """

    def __init__(self, data: bytes, runtime: str = "tensorrt", runtime_cache: Optional[Path] = None) -> None:
        mod = load(runtime)
        self.trt = mod
        self.runtime_name = runtime
        self.version = str(mod.__version__)
        self.logger = _logger(mod)
        self.runtime = mod.Runtime(self.logger)
        engine = self.runtime.deserialize_cuda_engine(data)
        if engine is None:
            reason = first_line("; ".join(self.logger.errors)) or "unknown reason"
            raise UserError(f"{RUNTIME_NAMES[runtime]} {self.version} cannot load this engine: {reason[:300]}",
                            fix="rebuild it with this TensorRT on this GPU (fastscnn-edge build-engine).")
        self.engine: "trt.ICudaEngine" = engine
        self.tensor_api = hasattr(engine, "num_io_tensors")
        self.cache_path = runtime_cache
        self.runtime_config: Any = None
        self.cache: Any = None
        if runtime_cache is not None and features(runtime).runtime_cache:
            self.runtime_config = self.engine.create_runtime_config()  # TensorRT-RTX (and TensorRT 10.11+)
            self.cache = self.runtime_config.create_runtime_cache()
            if runtime_cache.is_file():
                # validated by TensorRT-RTX against this GPU and version; a stale cache is ignored, not used
                self.cache.deserialize(runtime_cache.read_bytes())
            self.runtime_config.set_runtime_cache(self.cache)

    def save_runtime_cache(self) -> Optional[Path]:
        """Write the just-in-time kernels to ``runtime_cache`` (atomically); None where there is none."""
        if self.cache is None or self.cache_path is None:
            return None
        from fastscnn_edge.core.fileio import atomic_write_bytes

        return atomic_write_bytes(self.cache_path, bytes(self.cache.serialize()))

    def tensors(self) -> List[IOTensor]:
        e = self.engine
        if self.tensor_api:
            out = []
            for i in range(e.num_io_tensors):
                name = e.get_tensor_name(i)
                is_in = e.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT
                out.append(IOTensor(name, is_in, _shape(e.get_tensor_shape(name)), _dtype_name(e.get_tensor_dtype(name))))
            return out
        # 8.x bindings API (absent from the 10.x stubs: removed in 10.0)
        n = e.num_bindings  # type: ignore[attr-defined]
        return [IOTensor(e.get_binding_name(i), bool(e.binding_is_input(i)),  # type: ignore[attr-defined]
                         tuple(e.get_binding_shape(i)), _dtype_name(e.get_binding_dtype(i)))  # type: ignore[attr-defined]
                for i in range(n)]

    def profile_shapes(self, name: str) -> List[Tuple[int, ...]]:
        """The (opt) input shape of each optimization profile; profiles are exact per resolution."""
        e = self.engine
        if not self.tensor_api:
            return []
        return [_shape(e.get_tensor_profile_shape(name, p)[1]) for p in range(e.num_optimization_profiles)]

    def context(self) -> "Context":
        if self.runtime_config is not None:
            ctx = self.engine.create_execution_context(self.runtime_config)
        else:
            ctx = self.engine.create_execution_context()
        if ctx is None:
            raise UserError("TensorRT could not create an execution context (out of GPU memory?).",
                            fix="close other GPU programs and try again.")
        return Context(self, ctx)


class Context:
    """An execution context: set shapes and addresses, enqueue on a stream."""

    def __init__(self, engine: Engine, ctx: "trt.IExecutionContext") -> None:
        self.engine = engine
        self.ctx = ctx
        self.addresses: Dict[str, int] = {}

    def select_profile(self, index: int, stream_handle: int) -> None:
        if index and not self.ctx.set_optimization_profile_async(index, stream_handle):
            raise UserError(f"TensorRT could not select optimization profile {index}.", fix="rebuild the engine.")

    def set_input_shape(self, name: str, shape: Tuple[int, ...]) -> None:
        if self.engine.tensor_api:
            ok = self.ctx.set_input_shape(name, shape)
        else:
            index = self.engine.engine.get_binding_index(name)  # type: ignore[attr-defined]  # 8.x only
            ok = self.ctx.set_binding_shape(index, shape)  # type: ignore[attr-defined]  # 8.x only
        if not ok:
            raise UserError(f"the engine does not accept input shape {shape} for {name}.",
                            fix="pass a --res the engine was built for (see its .json sidecar).")

    def tensor_shape(self, name: str) -> Tuple[int, ...]:
        """The shape of ``name`` once the input shape is set (resolves dynamic output dimensions)."""
        if self.engine.tensor_api:
            return _shape(self.ctx.get_tensor_shape(name))
        index = self.engine.engine.get_binding_index(name)  # type: ignore[attr-defined]  # 8.x only
        return _shape(self.ctx.get_binding_shape(index))  # type: ignore[attr-defined]  # 8.x only

    def set_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = int(ptr)
        if self.engine.tensor_api and not self.ctx.set_tensor_address(name, int(ptr)):
            raise UserError(f"TensorRT rejected the buffer address of {name}.", fix="rebuild the engine.")

    def execute(self, stream_handle: int) -> None:
        """Enqueue one inference on the stream (asynchronous)."""
        if self.engine.tensor_api:
            ok = self.ctx.execute_async_v3(stream_handle)
        else:
            e = self.engine.engine
            names = [e.get_binding_name(i) for i in range(e.num_bindings)]  # type: ignore[attr-defined]  # 8.x only
            bindings = [self.addresses[n] for n in names]
            ok = self.ctx.execute_async_v2(bindings, stream_handle)  # type: ignore[attr-defined]  # 8.x only
        if not ok:
            raise UserError("TensorRT failed to enqueue the inference.", fix="check the input shape and GPU memory.")


def _shape(dims: "trt.Dims") -> Tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def _dtype_name(dtype: Any) -> str:
    return str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].upper()
