"""The CUDA buffer layer engines run on, without torch: device and pinned host buffers, streams,
events, and (cuda-python only) CUDA graphs.

Backends, best first: NVIDIA's ``cuda-python`` (``from cuda.bindings import runtime``; older
releases: ``from cuda import cudart``), then ``pycuda`` (what some Jetson images have). Every CUDA
call is checked; a ``cudaError_t`` becomes a one-line :class:`UserError` with CUDA's own text.

The dtype/shape/size helpers at the top need neither CUDA nor TensorRT.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, Optional, Protocol, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import MissingDependency, UserError

# TensorRT DataType member names -> numpy dtype names (tensorrt.nptype without importing tensorrt).
TRT_TO_NUMPY: Dict[str, str] = {
    "FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "INT64": "int64",
    "BOOL": "bool", "UINT8": "uint8",
}
# Types with no numpy equivalent: a runner cannot hand them to the caller.
TRT_UNSUPPORTED = ("BF16", "FP8", "INT4", "FP4", "E8M0")


def numpy_dtype(trt_dtype: object) -> np.dtype:
    """``DataType.HALF`` or ``"HALF"`` -> ``np.float16``; UserError for types numpy lacks (BF16, FP8...)."""
    name = str(trt_dtype).rsplit(".", 1)[-1].upper()
    if name in TRT_TO_NUMPY:
        return np.dtype(TRT_TO_NUMPY[name])
    raise UserError(f"engine tensor type {name} has no numpy equivalent.",
                    fix="keep the graph inputs/outputs float32, float16, uint8 or int32 (quantize keeps I/O types).")


def volume(shape: Sequence[int]) -> int:
    """Number of elements; UserError for a dynamic (-1) dimension, which has no size yet."""
    n = 1
    for d in shape:
        if int(d) < 0:
            raise UserError(f"shape {tuple(shape)} has a dynamic dimension.", fix="pass --res HxW to fix the input size.")
        n *= int(d)
    return n


def nbytes(shape: Sequence[int], dtype: Any) -> int:
    """Bytes of a dense tensor of ``shape`` and ``dtype`` (numpy dtype or TensorRT type name)."""
    dt = np.dtype(dtype) if not _is_trt_name(dtype) else numpy_dtype(dtype)
    return volume(shape) * dt.itemsize


def _is_trt_name(dtype: object) -> bool:
    name = str(dtype).rsplit(".", 1)[-1].upper()
    return name in TRT_TO_NUMPY or name in TRT_UNSUPPORTED


# ---------------------------------------------------------------------------------------------
# backend selection


_BACKEND: Optional["_Backend"] = None


def backend() -> "_Backend":
    """The CUDA backend (created once): cuda-python, else pycuda; MissingDependency if neither."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _load_backend()
    return _BACKEND


def _load_backend() -> "_Backend":
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        return _CudaPython(cudart)
    except ImportError:
        pass
    try:
        from cuda import cudart  # older cuda-python
        return _CudaPython(cudart)
    except ImportError:
        pass
    try:
        import pycuda.driver as drv
    except ImportError:
        raise MissingDependency("neither cuda-python nor pycuda is installed; engines need one to move data to the GPU.",
                                fix="pip install cuda-python (or pycuda on a Jetson image that ships it).") from None
    return _PyCuda(drv)


class _Backend(Protocol):
    """What the buffer objects need from a CUDA binding."""

    name: str

    def malloc(self, n: int) -> Any: ...
    def free(self, handle: Any) -> None: ...
    def ptr(self, handle: Any) -> int: ...
    def malloc_host(self, n: int) -> Tuple[Any, np.ndarray]: ...
    def free_host(self, handle: Any) -> None: ...
    def htod(self, dst: int, src: np.ndarray, stream: Any) -> None: ...
    def dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None: ...
    def stream_create(self) -> Any: ...
    def stream_handle(self, stream: Any) -> int: ...
    def stream_sync(self, stream: Any) -> None: ...
    def stream_destroy(self, stream: Any) -> None: ...
    def event_create(self) -> Any: ...
    def event_record(self, ev: Any, stream: Any) -> None: ...
    def event_sync(self, ev: Any) -> None: ...
    def event_elapsed(self, start: Any, end: Any) -> float: ...
    def event_destroy(self, ev: Any) -> None: ...
    def device(self) -> Tuple[str, Tuple[int, int]]: ...


class _CudaPython(_Backend):
    name = "cuda-python"

    def __init__(self, cudart: Any) -> None:
        self.rt = cudart
        self.check(cudart.cudaFree(0), "initialise the CUDA context")  # the documented way to create it

    def check(self, result: Any, what: str) -> Any:
        """cuda-python returns (err, *values); turn a non-success err into UserError."""
        err, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if int(err) != 0:
            _, text = self.rt.cudaGetErrorString(err)
            name = getattr(err, "name", str(int(err)))
            raise UserError(f"CUDA failed to {what}: {name} ({text.decode() if isinstance(text, bytes) else text}).",
                            fix="check that a CUDA GPU is visible (nvidia-smi) and has free memory.")
        return rest[0] if len(rest) == 1 else rest

    def malloc(self, n: int) -> Any:
        return self.check(self.rt.cudaMalloc(n), f"allocate {n} bytes of device memory")

    def free(self, handle: Any) -> None:
        self.check(self.rt.cudaFree(handle), "free device memory")

    def ptr(self, handle: Any) -> int:
        return int(handle)

    def malloc_host(self, n: int) -> Tuple[Any, np.ndarray]:
        p = self.check(self.rt.cudaMallocHost(n), f"allocate {n} bytes of pinned host memory")
        raw = (ctypes.c_uint8 * n).from_address(int(p))
        return p, np.ctypeslib.as_array(raw)

    def free_host(self, handle: Any) -> None:
        self.check(self.rt.cudaFreeHost(handle), "free pinned host memory")

    def htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.check(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream), "copy host -> device")

    def dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.check(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream), "copy device -> host")

    def stream_create(self) -> Any:
        return self.check(self.rt.cudaStreamCreate(), "create a stream")

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def stream_sync(self, stream: Any) -> None:
        self.check(self.rt.cudaStreamSynchronize(stream), "synchronize a stream")

    def stream_destroy(self, stream: Any) -> None:
        self.check(self.rt.cudaStreamDestroy(stream), "destroy a stream")

    def event_create(self) -> Any:
        return self.check(self.rt.cudaEventCreate(), "create an event")

    def event_record(self, ev: Any, stream: Any) -> None:
        self.check(self.rt.cudaEventRecord(ev, stream), "record an event")

    def event_sync(self, ev: Any) -> None:
        self.check(self.rt.cudaEventSynchronize(ev), "wait for an event")

    def event_elapsed(self, start: Any, end: Any) -> float:
        return float(self.check(self.rt.cudaEventElapsedTime(start, end), "read event time"))

    def event_destroy(self, ev: Any) -> None:
        self.check(self.rt.cudaEventDestroy(ev), "destroy an event")

    def device(self) -> Tuple[str, Tuple[int, int]]:
        dev = self.check(self.rt.cudaGetDevice(), "query the current device")
        prop = self.check(self.rt.cudaGetDeviceProperties(dev), "query device properties")
        name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        return name.rstrip("\x00"), (int(prop.major), int(prop.minor))

    # CUDA graphs (cuda-python only)
    def capture_begin(self, stream: Any) -> None:
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self.check(self.rt.cudaStreamBeginCapture(stream, mode), "begin CUDA graph capture")

    def capture_end(self, stream: Any) -> Any:
        graph = self.check(self.rt.cudaStreamEndCapture(stream), "end CUDA graph capture")
        return self.check(self.rt.cudaGraphInstantiate(graph, 0), "instantiate a CUDA graph")

    def graph_launch(self, graph_exec: Any, stream: Any) -> None:
        self.check(self.rt.cudaGraphLaunch(graph_exec, stream), "launch a CUDA graph")


class _PyCuda(_Backend):
    name = "pycuda"

    def __init__(self, drv: Any) -> None:
        self.drv = drv
        try:
            import pycuda.autoinit  # noqa: F401 - creates and pushes a context on device 0
        except Exception as exc:  # noqa: BLE001 - pycuda raises its own error types
            raise UserError(f"pycuda cannot open a CUDA device ({str(exc).splitlines()[0]}).",
                            fix="check that a CUDA GPU is visible (nvidia-smi).") from None

    def call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self.drv.Error as exc:
            raise UserError(f"CUDA failed to {what}: {str(exc).splitlines()[0]}.",
                            fix="check that a CUDA GPU is visible (nvidia-smi) and has free memory.") from None

    def malloc(self, n: int) -> Any:
        return self.call(f"allocate {n} bytes of device memory", self.drv.mem_alloc, n)

    def free(self, handle: Any) -> None:
        handle.free()

    def ptr(self, handle: Any) -> int:
        return int(handle)

    def malloc_host(self, n: int) -> Tuple[Any, np.ndarray]:
        arr = self.call(f"allocate {n} bytes of pinned host memory", self.drv.pagelocked_empty, (n,), np.uint8)
        return arr, arr

    def free_host(self, handle: Any) -> None:
        base = getattr(handle, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()

    def htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        self.call("copy host -> device", self.drv.memcpy_htod_async, dst, src, stream)

    def dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        self.call("copy device -> host", self.drv.memcpy_dtoh_async, dst, src, stream)

    def stream_create(self) -> Any:
        return self.call("create a stream", self.drv.Stream)

    def stream_handle(self, stream: Any) -> int:
        return int(stream.handle)

    def stream_sync(self, stream: Any) -> None:
        self.call("synchronize a stream", stream.synchronize)

    def stream_destroy(self, stream: Any) -> None:
        pass  # pycuda frees the stream with the object

    def event_create(self) -> Any:
        return self.call("create an event", self.drv.Event)

    def event_record(self, ev: Any, stream: Any) -> None:
        self.call("record an event", ev.record, stream)

    def event_sync(self, ev: Any) -> None:
        self.call("wait for an event", ev.synchronize)

    def event_elapsed(self, start: Any, end: Any) -> float:
        return float(self.call("read event time", end.time_since, start))

    def event_destroy(self, ev: Any) -> None:
        pass

    def device(self) -> Tuple[str, Tuple[int, int]]:
        dev = self.drv.Context.get_device()
        major, minor = dev.compute_capability()
        return str(dev.name()), (int(major), int(minor))


# ---------------------------------------------------------------------------------------------
# the objects a runner uses


class Stream:
    """A CUDA stream; ``handle`` is the integer TensorRT's ``execute_async_v3`` takes."""

    def __init__(self) -> None:
        self._b = backend()
        self.raw = self._b.stream_create()

    @property
    def handle(self) -> int:
        return self._b.stream_handle(self.raw)

    def synchronize(self) -> None:
        self._b.stream_sync(self.raw)

    def close(self) -> None:
        if self.raw is not None:
            self._b.stream_destroy(self.raw)
            self.raw = None


class Event:
    """A CUDA event for timing work on a stream (milliseconds, about 0.5 us resolution)."""

    def __init__(self) -> None:
        self._b = backend()
        self.raw = self._b.event_create()

    def record(self, stream: Stream) -> None:
        self._b.event_record(self.raw, stream.raw)

    def synchronize(self) -> None:
        self._b.event_sync(self.raw)

    def elapsed_ms(self, end: "Event") -> float:
        """Milliseconds from this event to ``end`` (both recorded and completed)."""
        return self._b.event_elapsed(self.raw, end.raw)

    def close(self) -> None:
        if self.raw is not None:
            self._b.event_destroy(self.raw)
            self.raw = None


class DeviceBuffer:
    """``nbytes`` of device memory; ``ptr`` is the address ``set_tensor_address`` takes."""

    def __init__(self, nbytes: int) -> None:
        if nbytes <= 0:
            raise UserError(f"cannot allocate {nbytes} bytes.", fix="check the tensor shape.")
        self._b = backend()
        self.nbytes = int(nbytes)
        self.raw = self._b.malloc(self.nbytes)

    @property
    def ptr(self) -> int:
        return self._b.ptr(self.raw)

    def copy_from(self, host: np.ndarray, stream: Stream) -> None:
        """Asynchronous host -> device copy of ``host`` (contiguous, at most ``nbytes``)."""
        host = _contiguous(host, self.nbytes)
        self._b.htod(self.ptr, host, stream.raw)

    def copy_to(self, host: np.ndarray, stream: Stream) -> None:
        """Asynchronous device -> host copy into ``host`` (contiguous, writable, at most ``nbytes``)."""
        _contiguous(host, self.nbytes, writable=True)
        self._b.dtoh(host, self.ptr, stream.raw)

    def close(self) -> None:
        if self.raw is not None:
            self._b.free(self.raw)
            self.raw = None


class PinnedHostBuffer:
    """Page-locked host memory viewed as a numpy array (``array``): the fast, async-capable copy source."""

    def __init__(self, shape: Sequence[int], dtype: Any) -> None:
        dt = numpy_dtype(dtype) if _is_trt_name(dtype) else np.dtype(dtype)
        self._b = backend()
        self.shape = tuple(int(d) for d in shape)
        n = max(volume(self.shape) * dt.itemsize, 1)
        self.raw, flat = self._b.malloc_host(n)
        self.array: np.ndarray = flat[: volume(self.shape) * dt.itemsize].view(dt).reshape(self.shape)

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    def close(self) -> None:
        if self.raw is not None:
            self.array = np.empty(0)
            self._b.free_host(self.raw)
            self.raw = None


def _contiguous(a: np.ndarray, limit: int, *, writable: bool = False) -> np.ndarray:
    if not a.flags["C_CONTIGUOUS"] or (writable and not a.flags["WRITEABLE"]):
        raise UserError("the host array must be C-contiguous" + (" and writable." if writable else "."),
                        fix="pass np.ascontiguousarray(x).")
    if a.nbytes > limit:
        raise UserError(f"the host array holds {a.nbytes} bytes, the device buffer {limit}.",
                        fix="pass an array of the engine's input shape and dtype.")
    return a


@dataclass
class DeviceInfo:
    name: str
    compute_capability: Tuple[int, int]
    backend: str


def device_info() -> DeviceInfo:
    """Name and compute capability of the current CUDA device."""
    b = backend()
    name, cc = b.device()
    return DeviceInfo(name, cc, b.name)


def graph_capable() -> bool:
    """CUDA graph capture is available (cuda-python backend)."""
    return isinstance(backend(), _CudaPython)
