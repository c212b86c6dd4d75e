"""Run a TensorRT engine as a :class:`fastscnn_edge.runtime.backends.Runner`, torch-free.

``open_engine_runner(path, res=None)`` reads the sidecar first (missing: a warning and default
metadata; mismatched runtime, TensorRT release or GPU: UserError), deserializes the engine with
the runtime that built it (TensorRT or TensorRT-RTX), allocates pinned host and device buffers
once, and runs on one CUDA stream. ``timed_call`` gives the bench CUDA-event times
(``gpu_compute``, ``h2d``, ``d2h`` in ms); ``enable_cuda_graph`` captures the enqueue once and
replays it (cuda-python only). TensorRT-RTX engines keep their just-in-time kernels in
``<engine>.runtime-cache`` beside the engine, reused by the next run.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.paths import runtime_cache_path
from fastscnn_edge.runtime.artifact import Artifact, open_artifact
from fastscnn_edge.runtime.runner import IOSpec, Runner
from fastscnn_edge.runtime.sidecar import check_compatible


RTX_GPU_NEEDED = "running it needs an Ampere-or-later RTX GPU"


def check_runnable(a: Artifact) -> str:
    """The runtime to run engine ``a`` with, or UserError/MissingDependency (one line) before any CUDA work."""
    from fastscnn_edge.core.errors import MissingDependency
    from fastscnn_edge.core.machine import gpu_present
    from fastscnn_edge.runtime.trt import lib

    runtime = a.runtime or "tensorrt"
    lib.resolve_runtime(runtime)  # MissingDependency names the runtime to install
    if not gpu_present():
        what = "a TensorRT-RTX engine" if runtime == "rtx" else "a TensorRT engine"
        need = RTX_GPU_NEEDED if runtime == "rtx" else "running it needs the NVIDIA GPU it was built on"
        side = a.sidecar
        onnx = Path(side.source_onnx).name if side is not None and side.source_onnx else "MODEL.onnx"
        raise MissingDependency(f"{a.path.name} is {what}, built; {need}, and this machine has no GPU.",
                                fix=f"run it on such a machine, or benchmark the ONNX here: fastscnn-edge bench {onnx} "
                                    "--backend onnxruntime")
    return runtime


def open_engine_runner(artifact: "str | Path | Artifact", res: Optional[Sequence[int]] = None) -> "EngineRunner":
    """Open an engine (an Artifact, or a path read once) for inference at ``res`` (needed only for
    dynamic engines; a static engine's own size otherwise, and ``res`` must match it)."""
    from fastscnn_edge.runtime.trt import lib

    a = open_artifact(artifact)
    if res is not None:
        a.resolutions([res])  # a static engine's one mismatch message
    runtime = check_runnable(a)  # MissingDependency before any CUDA work
    from fastscnn_edge.runtime.cuda_buffers import device_info

    dev = device_info()
    version = lib.version(runtime)
    if a.sidecar is None:
        warnings.warn(f"{a.path.name} has no sidecar {a.path.name}.json: cannot check it was built for "
                      f"{lib.RUNTIME_NAMES[runtime]} {version} on {dev.name}; assuming the default preprocessing",
                      stacklevel=2)
    else:
        for w in check_compatible(a.sidecar, version, dev.name, dev.compute_capability, runtime):
            warnings.warn(w, stacklevel=2)
    return EngineRunner(a, res=res, trt_version=version, gpu=dev.name, runtime=runtime)


def _meta_for(a: Artifact, in_dtype: str) -> ModelMeta:
    """The Artifact's metadata (checked when it was read); without a sidecar, the input format is
    guessed from the tensor: NHWC uint8 frames or NCHW float."""
    meta = copy.deepcopy(a.meta)
    if a.sidecar is None:
        meta.input_format = "bgr8" if in_dtype == "uint8" else "float"
    return meta


def _spatial(shape: Tuple[int, ...], input_format: str) -> Tuple[int, int]:
    return (shape[1], shape[2]) if input_format in ("rgb8", "bgr8") else (shape[2], shape[3])


class EngineRunner(Runner):
    """One engine, one execution context, one stream; buffers sized for one resolution."""

    def __init__(self, a: Artifact, *, res: Optional[Sequence[int]], trt_version: str, gpu: str,
                 runtime: str = "tensorrt") -> None:
        from fastscnn_edge.runtime.cuda_buffers import Event, Stream, numpy_dtype
        from fastscnn_edge.runtime.trt import lib

        path, sidecar = a.path, a.sidecar
        self.engine = lib.Engine(path.read_bytes(), runtime,
                                 runtime_cache=runtime_cache_path(path) if runtime == "rtx" else None)
        tensors = self.engine.tensors()
        inputs = [t for t in tensors if t.is_input]
        outputs = [t for t in tensors if not t.is_input]
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError(f"{path.name} has {len(inputs)} inputs and {len(outputs)} outputs; Fast-SCNN engines have one each.",
                            fix="build it from a `fastscnn-edge export` ONNX.")
        tin, tout = inputs[0], outputs[0]
        in_dtype, out_dtype = numpy_dtype(tin.dtype), numpy_dtype(tout.dtype)
        meta = _meta_for(a, in_dtype.name)
        if sidecar is not None:  # the engine itself must be what its sidecar describes
            from fastscnn_edge.core.conformance import check_io, engine_sig

            check_io([engine_sig(tin.name, in_dtype.name, tin.shape)], [engine_sig(tout.name, out_dtype.name, tout.shape)],
                     meta, source=str(path), fix="rebuild it with `fastscnn-edge build-engine` (the sidecar belongs to another engine).")
        self._resources: List[Any] = []
        self.stream = Stream()
        self._resources.append(self.stream)
        self.context = self.engine.context()
        in_shape = self._resolve_input_shape(tin, meta, res)
        meta.resolution = _spatial(in_shape, meta.input_format)
        out_shape = self._output_shape(tout.name, tout.shape)
        self._allocate(tin.name, in_shape, in_dtype, tout.name, out_shape, out_dtype)
        self.events = [Event() for _ in range(4)]
        self._resources += self.events
        self.graph: Any = None
        super().__init__(
            backend="tensorrt", device="cuda", meta=meta,
            io=IOSpec(tin.name, in_shape, in_dtype.name, tout.name, out_shape, out_dtype.name),
            description=f"{lib.RUNTIME_NAMES[runtime]} {trt_version} {meta.precision} on {gpu}",
            details={"path": str(path), "sidecar": sidecar is not None, "tensor_api": self.engine.tensor_api,
                     "runtime": runtime},
        )

    def _resolve_input_shape(self, tin: Any, meta: ModelMeta, res: Optional[Sequence[int]]) -> Tuple[int, ...]:
        shape = tuple(tin.shape)
        if all(d > 0 for d in shape):
            got = _spatial(shape, meta.input_format)
            if res is not None and tuple(res) != got:
                raise UserError(f"the engine was built for {got[0]}x{got[1]}, not {res[0]}x{res[1]}.",
                                fix=f"build one for that size: fastscnn-edge build-engine --res {res[0]}x{res[1]}")
            return shape
        profiles = self.engine.profile_shapes(tin.name)
        if res is None:
            if len(profiles) != 1:
                sizes = ", ".join(f"{_spatial(p, meta.input_format)[0]}x{_spatial(p, meta.input_format)[1]}" for p in profiles)
                raise UserError(f"the engine takes several sizes ({sizes}).", fix="pass --res HxW.")
            res = _spatial(profiles[0], meta.input_format)
        for index, p in enumerate(profiles):
            if _spatial(p, meta.input_format) == tuple(res):
                self.context.select_profile(index, self.stream.handle)
                self.context.set_input_shape(tin.name, p)
                return p
        raise UserError(f"the engine has no optimization profile for {res[0]}x{res[1]}.",
                        fix=f"rebuild it with --res {res[0]}x{res[1]}.")

    def _output_shape(self, name: str, built: Tuple[int, ...]) -> Tuple[int, ...]:
        if all(d > 0 for d in built):
            return built
        return self.context.tensor_shape(name)

    def _allocate(self, in_name: str, in_shape: Tuple[int, ...], in_dtype: np.dtype,
                  out_name: str, out_shape: Tuple[int, ...], out_dtype: np.dtype) -> None:
        from fastscnn_edge.runtime.cuda_buffers import DeviceBuffer, PinnedHostBuffer, nbytes

        self.h_in = PinnedHostBuffer(in_shape, in_dtype)
        self.h_out = PinnedHostBuffer(out_shape, out_dtype)
        self.d_in = DeviceBuffer(nbytes(in_shape, in_dtype))
        self.d_out = DeviceBuffer(nbytes(out_shape, out_dtype))
        self._resources += [self.h_in, self.h_out, self.d_in, self.d_out]
        self.context.set_address(in_name, self.d_in.ptr)
        self.context.set_address(out_name, self.d_out.ptr)

    def _stage(self, x: np.ndarray) -> None:
        if x.shape != self.h_in.array.shape or x.dtype != self.h_in.array.dtype:
            raise UserError(f"input {x.shape} {x.dtype} does not match the engine's {self.h_in.array.shape} "
                            f"{self.h_in.array.dtype}.", fix="use runner.preprocess(frame) or runner.random_input(rng).")
        np.copyto(self.h_in.array, x)

    def _enqueue(self) -> None:
        if self.graph is not None:
            from fastscnn_edge.runtime.cuda_buffers import backend

            backend().graph_launch(self.graph, self.stream.raw)  # type: ignore[attr-defined]
        else:
            self.context.execute(self.stream.handle)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._stage(x)
        self.d_in.copy_from(self.h_in.array, self.stream)
        self._enqueue()
        self.d_out.copy_to(self.h_out.array, self.stream)
        self.stream.synchronize()
        return self.h_out.array.copy()

    def timed_call(self, x: np.ndarray, include_transfers: bool) -> Dict[str, float]:
        """One inference timed with CUDA events (ms). Without transfers only the network runs."""
        e0, e1, e2, e3 = self.events
        if include_transfers:
            self._stage(x)
            e0.record(self.stream)
            self.d_in.copy_from(self.h_in.array, self.stream)
        e1.record(self.stream)
        self._enqueue()
        e2.record(self.stream)
        if include_transfers:
            self.d_out.copy_to(self.h_out.array, self.stream)
            e3.record(self.stream)
        self.stream.synchronize()
        out = {"gpu_compute": e1.elapsed_ms(e2)}
        if include_transfers:
            out["h2d"] = e0.elapsed_ms(e1)
            out["d2h"] = e2.elapsed_ms(e3)
        return out

    def enable_cuda_graph(self) -> None:
        """Capture the enqueue once (after a warm-up run) and replay it: less CPU launch overhead."""
        from fastscnn_edge.runtime.cuda_buffers import backend, graph_capable

        if self.graph is not None:
            return
        if not graph_capable():
            raise UserError("CUDA graphs need cuda-python (the pycuda backend cannot capture them).",
                            fix="pip install cuda-python, or drop --cuda-graph.")
        self.context.execute(self.stream.handle)  # TensorRT must not capture its first-run setup
        self.stream.synchronize()
        b = backend()
        b.capture_begin(self.stream.raw)  # type: ignore[attr-defined]
        try:
            self.context.execute(self.stream.handle)
        finally:
            self.graph = b.capture_end(self.stream.raw)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._resources:  # the first close: keep TensorRT-RTX's just-in-time kernels for the next run
            try:
                self.engine.save_runtime_cache()
            except UserError as exc:  # an unwritable folder costs the next run its warm start, nothing more
                warnings.warn(f"runtime cache not saved: {exc}", stacklevel=2)
        for r in reversed(self._resources):
            r.close()
        self._resources = []
