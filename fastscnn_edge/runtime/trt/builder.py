"""The TensorRT side of an engine build: what TensorRT and GPU are here, and one build that Ctrl-C
can stop. Everything decided before TensorRT is touched (the plan, the ONNX checks, the conversion
to a precision-explicit ONNX, the sidecar) lives in :mod:`fastscnn_edge.engine`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Optional

from fastscnn_edge.runtime.capability import Environment
from fastscnn_edge.runtime.trt import lib


def detect_environment(runtime: str = "tensorrt") -> Environment:
    """The runtime's version and, for TensorRT proper, the current GPU (needs a CUDA backend).
    TensorRT-RTX builds ahead of time: it needs no GPU, and none is looked for."""
    from fastscnn_edge.core.machine import is_jetson

    version = lib.version(runtime)
    if runtime == "rtx":
        return Environment(version, None, None, 0, False, runtime="rtx")
    from fastscnn_edge.runtime.cuda_buffers import device_info

    dev = device_info()
    return Environment(version, dev.compute_capability, dev.name, lib.num_dla_cores(), is_jetson())


@contextlib.contextmanager
def ctrl_c_cancels() -> Iterator[threading.Event]:
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


def build(req: lib.BuildRequest, progress: Optional[lib.ProgressFn] = None) -> lib.Built:
    """Parse and build ``req`` (see :func:`fastscnn_edge.runtime.trt.lib.build_serialized`); Ctrl-C stops it."""
    with ctrl_c_cancels() as cancel:
        return lib.build_serialized(req, progress=progress, cancel=cancel)
