"""fastscnn-edge: Fast-SCNN from a reference PyTorch model to a deployed, measured engine.

Importing this package is cheap: torch, onnxruntime, TensorRT and CUDA are imported lazily by
the submodules that need them, so the runtime path works on a Jetson without torch.
"""

__version__ = "0.1.0"

PAPER_RESOLUTIONS = ((1024, 2048), (512, 1024), (256, 512))
"""The three input resolutions (H, W) of the paper's Tables 5 and 7."""
