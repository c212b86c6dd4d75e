"""fastscnn-edge: Fast-SCNN from a reference PyTorch model to a deployed, measured engine.

Importing this package is cheap: torch, onnxruntime, TensorRT and CUDA are imported lazily by
the submodules that need them, so the runtime path works on a Jetson without torch.
"""

from fastscnn_edge.resolution import PAPER_RESOLUTIONS, Resolution
from fastscnn_edge.version import __version__

__all__ = ["PAPER_RESOLUTIONS", "Resolution", "__version__"]
