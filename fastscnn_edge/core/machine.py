"""What this machine has, found without importing what is absent: Python modules, TensorRT (proper
or for RTX), a GPU, onnxruntime's GPU providers, torch's CUDA device, the device ``--device auto``
means for a backend.

Pure Python and cheap: every command may call it (``fastscnn-edge --help`` still needs no torch,
TensorRT or CUDA).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import List, Tuple

# The Python module of each TensorRT runtime ``build-engine --runtime`` names.
TRT_MODULES = {"tensorrt": "tensorrt", "rtx": "tensorrt_rtx"}


def have_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _real_package(module: str) -> bool:
    """Installed and not an empty namespace package (``tensorrt-stubs`` installs ``tensorrt/`` holding
    only ``.pyi`` files, which imports as a namespace package: that is not TensorRT)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin not in (None, "namespace")


def tensorrt_available() -> bool:
    """True where TensorRT proper (``import tensorrt``: 8.x, 10.x, 11.x) is installed."""
    return _real_package(TRT_MODULES["tensorrt"])


def tensorrt_rtx_available() -> bool:
    """True where TensorRT for RTX (``import tensorrt_rtx``) is installed."""
    return _real_package(TRT_MODULES["rtx"])


def trt_runtime_available(runtime: str) -> bool:
    """``runtime`` is "tensorrt" or "rtx"."""
    return _real_package(TRT_MODULES[runtime])


def is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").exists()


def gpu_present() -> bool:
    """An NVIDIA GPU is visible to this process (a driver device node, or a Jetson's integrated GPU).

    Decided from device files, without loading CUDA: a machine with no GPU and no driver answers
    at once. ``nvidia-smi`` alone does not count (it may exist in a container without a GPU).
    """
    if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/dxg"):  # /dev/dxg: WSL2
        return True
    return is_jetson() and (os.path.exists("/dev/nvhost-ctrl-gpu") or os.path.exists("/dev/nvgpu/igpu0"))


def ort_gpu_providers() -> List[str]:
    """onnxruntime's GPU providers present here, best first ([] without onnxruntime or a GPU build)."""
    if not have_module("onnxruntime"):
        return []
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in have]


def torch_cuda_available() -> bool:
    if not have_module("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def auto_device(backend: str) -> Tuple[str, str]:
    """The device ``--device auto`` means for ``backend`` here, and why (for the report)."""
    if backend == "onnxruntime":
        gpu = ort_gpu_providers()
        if gpu:
            return "cuda", f"onnxruntime provider {gpu[0]}"
        return "cpu", "onnxruntime has no GPU provider here, so CPUExecutionProvider"
    if backend == "openvino":
        return "cpu", "OpenVINO runs here on the CPU"
    if backend == "torch":
        if torch_cuda_available():
            return "cuda", "torch sees a CUDA device"
        return "cpu", "torch sees no CUDA device"
    return "cuda", "TensorRT runs on the GPU"


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


TORCH_FIX = ("pip install 'fastscnn-edge[export]' (on a Jetson, NVIDIA's PyTorch wheel for its JetPack; or export "
             "on a desktop and copy the .onnx: every other command runs without torch)")


def require_torch(what: str) -> None:
    """MissingDependency (one line, exit 3) naming ``what`` needs PyTorch and the extra that brings it."""
    if not have_module("torch"):
        from fastscnn_edge.core.errors import MissingDependency

        raise MissingDependency(f"{what} needs PyTorch, which is not installed here.", fix=TORCH_FIX + ".")
