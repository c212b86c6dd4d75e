"""fastscnn-edge: Fast-SCNN from a reference PyTorch model to a deployed, measured engine.

The Python API (typed, documented in :mod:`fastscnn_edge.api`)::

    import fastscnn_edge as fe
    onnx = fe.export_model(resolutions=["256x512"])[0]
    (result,) = fe.benchmark(onnx, iters=20, warmup=5)

Importing this package is cheap: torch, onnxruntime, TensorRT and CUDA are imported lazily by
the functions that need them, so the runtime path works on a Jetson without torch.
"""

from typing import Any

from fastscnn_edge.api import benchmark, evaluate_model, export_model, predict_files, quantize_model
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.resolution import PAPER_RESOLUTIONS, Resolution
from fastscnn_edge.core.version import __version__

__all__ = ["PAPER_RESOLUTIONS", "BuildOptions", "BuildResult", "Int8Options", "Resolution", "UserError", "__version__",
           "benchmark", "build_engine", "evaluate_model", "export_model", "open_runner", "predict_files", "quantize_model"]


def __getattr__(name: str) -> Any:
    """``build_engine``, ``open_runner`` and the options types: the library's own objects, imported on
    first use (the package import stays cheap)."""
    from fastscnn_edge import api

    return getattr(api, name)
