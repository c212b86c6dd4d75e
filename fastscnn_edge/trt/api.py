"""The one module that imports ``tensorrt``. It detects features, not version strings.

Generations handled (docs/TENSORRT.md): 8.5/8.6 (``EXPLICIT_BATCH`` network flag, FP16/INT8 builder
flags, named-tensor API next to the older bindings API), 10.x (``STRONGLY_TYPED`` since 9.1,
``IProgressMonitor``, ``set_tensor_address`` + ``execute_async_v3``), 11.x (strongly typed only, no
precision builder flags). Type-checked with mypy against ``tensorrt-stubs`` (10.x API); attributes
only 8.x (or only 11.x) has carry ``# type: ignore[attr-defined]`` with the reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from fastscnn_edge.errors import MissingDependency, UserError

if TYPE_CHECKING:  # the stubs (tensorrt-stubs, 10.x API) type the code; nothing is imported at run time
    import tensorrt as trt

ProgressFn = Callable[[str, int, int], None]  # (phase, steps done, steps total)
INSTALL_FIX = ("pip install tensorrt on a desktop GPU machine (pip install 'tensorrt==8.6.*' for Pascal GPUs "
               "such as the Titan Xp); on a Jetson it comes with JetPack")


def load() -> ModuleType:
    """Import TensorRT or raise MissingDependency (the stubs' empty namespace package is not TensorRT)."""
    from fastscnn_edge.backends import tensorrt_available

    if not tensorrt_available():  # tensorrt-stubs alone import as an empty namespace package
        raise MissingDependency("TensorRT is not installed.", fix=INSTALL_FIX + ".")
    import tensorrt as trt

    return trt


def version() -> str:
    return str(load().__version__)


def num_dla_cores() -> int:
    """DLA cores the builder sees (0 on discrete GPUs; 2 on Jetson AGX Orin/Xavier)."""
    load()
    import tensorrt as trt

    return int(trt.Builder(_logger()).num_DLA_cores)


@dataclass(frozen=True)
class Features:
    """What the installed TensorRT offers, detected on the module itself."""

    version: str
    strongly_typed: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED (9.1+)
    explicit_batch_flag: bool  # 8.x must ask for explicit batch; 10+ ignores/removed it
    precision_flags: bool  # BuilderFlag.FP16 / INT8 (gone in 11.x)
    progress_monitor: bool  # IProgressMonitor (10.0+)
    memory_pool_limit: bool  # IBuilderConfig.set_memory_pool_limit (8.4+)
    tensor_api: bool  # ICudaEngine.num_io_tensors + execute_async_v3 (8.5+)
    implicit_strongly_typed: bool  # 11.x: no weakly typed networks at all


def features() -> Features:
    load()
    import tensorrt as trt

    flags = trt.NetworkDefinitionCreationFlag
    major = int(str(trt.__version__).split(".")[0])  # EXPLICIT_BATCH still exists (ignored) in 10.x
    precision_flags = hasattr(trt.BuilderFlag, "FP16") and hasattr(trt.BuilderFlag, "INT8")
    return Features(
        version=str(trt.__version__),
        strongly_typed=hasattr(flags, "STRONGLY_TYPED"),
        explicit_batch_flag=hasattr(flags, "EXPLICIT_BATCH") and major < 10,
        precision_flags=precision_flags,
        progress_monitor=hasattr(trt, "IProgressMonitor"),
        memory_pool_limit=hasattr(trt.IBuilderConfig, "set_memory_pool_limit"),
        tensor_api=hasattr(trt.ICudaEngine, "num_io_tensors"),
        implicit_strongly_typed=not precision_flags,  # 11.x removed FP16/INT8 flags with weak typing
    )


def _logger() -> Any:
    """A logger that keeps TensorRT's errors for the message of the UserError and drops the rest."""
    import tensorrt as trt

    class Collecting(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: List[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                self.errors.append(msg)

    return Collecting()


# ---------------------------------------------------------------------------------------------
# build


@dataclass
class BuildRequest:
    onnx: Path
    strongly_typed: bool
    flags: Sequence[str]  # BuilderFlag names
    profiles: Sequence[Tuple[int, ...]]  # one input shape per optimization profile; empty: static ONNX
    workspace_bytes: Optional[int] = None
    timing_cache: Optional[Path] = None
    dla_core: Optional[int] = None


def build_serialized(req: BuildRequest, *, progress: Optional[ProgressFn] = None,
                     cancel: Optional[threading.Event] = None) -> Tuple[bytes, Optional[bytes]]:
    """Parse ``req.onnx`` and build a serialized engine; return (plan bytes, timing cache bytes or None).

    ``cancel`` set during the build stops it at the next progress step (10.x+) and raises
    KeyboardInterrupt; ``progress`` receives (phase, done, total) where IProgressMonitor exists.
    """
    feats = features()  # raises MissingDependency first
    import tensorrt as trt

    logger = _logger()
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(feats, req.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(req.onnx)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise UserError(f"TensorRT {feats.version} cannot parse {req.onnx.name}: {'; '.join(errors)[:400]}",
                        fix="check it with the ONNX checks of build-engine, or re-export with --opset 17.")
    config = builder.create_builder_config()
    if req.workspace_bytes:
        _set_workspace(feats, config, req.workspace_bytes)
    for name in req.flags:
        if not hasattr(trt.BuilderFlag, name):
            raise UserError(f"TensorRT {feats.version} has no builder flag {name}.",
                            fix="this precision needs a precision-explicit ONNX on this TensorRT (see docs/TENSORRT.md).")
        config.set_flag(getattr(trt.BuilderFlag, name))
    if req.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(req.dla_core)
    cache = _attach_timing_cache(config, req.timing_cache)
    _add_profiles(builder, network, config, req.profiles)
    monitor = _attach_progress(feats, config, progress, cancel)
    plan = builder.build_serialized_network(network, config)
    if cancel is not None and cancel.is_set():
        raise KeyboardInterrupt
    if plan is None:
        raise UserError(f"TensorRT {feats.version} failed to build the engine: {'; '.join(logger.errors)[-400:] or 'no reason given'}",
                        fix="run with a larger --workspace, or check the model with --fp32 first.")
    del monitor  # kept alive until the build returned (TensorRT holds only a raw pointer)
    new_cache = bytes(cache.serialize()) if cache is not None else None
    return bytes(plan), new_cache


def _network_flags(feats: Features, strongly_typed: bool) -> int:
    import tensorrt as trt

    flags = 0
    if feats.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed and feats.implicit_strongly_typed:
        return flags  # 11.x: every network is strongly typed; the flag is deprecated and ignored
    if strongly_typed:
        if not feats.strongly_typed:
            raise UserError(f"TensorRT {feats.version} cannot build strongly typed networks (9.1+ can).",
                            fix="on 8.x build FP16 from the fp32 ONNX with its builder flag: build-engine --fp16 MODEL.onnx")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _set_workspace(feats: Features, config: "trt.IBuilderConfig", nbytes: int) -> None:
    import tensorrt as trt

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


def _add_profiles(builder: "trt.Builder", network: "trt.INetworkDefinition", config: "trt.IBuilderConfig",
                  shapes: Sequence[Tuple[int, ...]]) -> None:
    if not shapes:
        return
    import tensorrt as trt

    name = network.get_input(0).name
    for shape in shapes:
        profile = builder.create_optimization_profile()
        dims = trt.Dims(list(shape))
        profile.set_shape(name, dims, dims, dims)  # exact per-resolution profiles: best kernels for each
        config.add_optimization_profile(profile)


def _attach_progress(feats: Features, config: "trt.IBuilderConfig", progress: Optional[ProgressFn],
                     cancel: Optional[threading.Event]) -> Any:
    if not feats.progress_monitor or (progress is None and cancel is None):
        return None
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
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


@dataclass(frozen=True)
class IOTensor:
    name: str
    is_input: bool
    shape: Tuple[int, ...]  # -1: dynamic
    dtype: str  # TensorRT DataType member name: FLOAT, HALF, UINT8, INT32 ...


class Engine:
    """A deserialized engine with its I/O, on the named-tensor API (8.5+) or the bindings API."""

    def __init__(self, data: bytes) -> None:
        load()
        import tensorrt as trt

        self.version = str(trt.__version__)
        self.logger = _logger()
        self.runtime = trt.Runtime(self.logger)
        engine = self.runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise UserError(f"TensorRT {self.version} cannot load this engine: {'; '.join(self.logger.errors)[-300:] or 'unknown reason'}",
                            fix="rebuild it with this TensorRT on this GPU (fastscnn-edge build-engine).")
        self.engine = engine
        self.tensor_api = hasattr(engine, "num_io_tensors")

    def tensors(self) -> List[IOTensor]:
        import tensorrt as trt

        e = self.engine
        if self.tensor_api:
            out = []
            for i in range(e.num_io_tensors):
                name = e.get_tensor_name(i)
                is_in = e.get_tensor_mode(name) == trt.TensorIOMode.INPUT
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
