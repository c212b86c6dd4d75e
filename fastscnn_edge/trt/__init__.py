"""All TensorRT code: feature detection and calls (``api``, the only ``import tensorrt``), the
capability table, ONNX checks, engine build, sidecar, and the engine runner.

Importing this package imports neither TensorRT nor CUDA; they load when an engine is built or run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from fastscnn_edge.trt.runner import EngineRunner


def open_engine_runner(path: str | Path, res: Optional[Tuple[int, int]] = None) -> "EngineRunner":
    """Open a TensorRT engine as a backends.Runner (see ``fastscnn_edge.trt.runner``)."""
    from fastscnn_edge.trt.runner import open_engine_runner as _open

    return _open(path, res=res)


__all__ = ["open_engine_runner"]
