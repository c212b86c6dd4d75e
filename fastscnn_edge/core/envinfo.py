"""What machine and software a measurement came from (torch-free; imports nothing heavy).

``collect()`` returns a JSON-ready dict: host, OS, Python, CPU model and cores, memory, GPUs
(name, driver, compute capability, memory via ``nvidia-smi`` when present; a Jetson's model from
the device tree), package versions (read from installed metadata, so torch and TensorRT are
not imported), and the CUDA version where something reports one.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Dict, List, Optional

PACKAGES = ("torch", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorrt-cu12", "tensorrt-cu13",
            "onnx", "numpy", "cuda-python", "opencv-python-headless", "rclpy", "rosbags")


def machine_name() -> str:
    """A short, file-name-safe name for this machine (GPU model when there is one, else CPU + host)."""
    gpus = gpu_info()
    if gpus:
        base = gpus[0]["name"]
    else:
        base = f"cpu-{cpu_model()}"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", base).strip("-").lower()
    return slug[:48] or "machine"


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_cores() -> Dict[str, Optional[int]]:
    """Logical CPUs, the ones this process may use (affinity), and physical cores when known."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    physical: Optional[int] = None
    try:
        pairs = set()
        phys_id = core_id = None
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys_id = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core_id = line.split(":", 1)[1].strip()
                elif not line.strip() and core_id is not None:
                    pairs.add((phys_id, core_id))
                    phys_id = core_id = None
        if core_id is not None:
            pairs.add((phys_id, core_id))
        physical = len(pairs) or None
    except OSError:
        pass
    return {"logical": os.cpu_count(), "usable": usable, "physical": physical}


def memory_gib() -> Optional[float]:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _run(cmd: List[str], timeout: float = 10.0) -> Optional[str]:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def parse_nvidia_smi_csv(text: str) -> List[Dict[str, str]]:
    """Rows of ``nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader``."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4 and parts[0]:
            gpus.append({"name": parts[0], "driver": parts[1], "compute_capability": parts[2],
                         "memory": parts[3]})
    return gpus


def gpu_info() -> List[Dict[str, str]]:
    """One entry per NVIDIA GPU ([] where there is none); a Jetson appears with its model name."""
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap,memory.total",
                "--format=csv,noheader"])
    if out:
        gpus = parse_nvidia_smi_csv(out)
        if gpus:
            return gpus
    try:  # Jetson: no full nvidia-smi on older JetPacks; the device tree names the module
        with open("/proc/device-tree/model", encoding="utf-8", errors="replace") as f:
            model = f.read().strip("\x00\n ")
        if "jetson" in model.lower() or "nvidia" in model.lower():
            return [{"name": model, "driver": jetpack_release() or "", "compute_capability": "", "memory": ""}]
    except OSError:
        pass
    return []


def jetpack_release() -> Optional[str]:
    try:
        with open("/etc/nv_tegra_release", encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return None


def cuda_driver_version() -> Optional[str]:
    """The CUDA version the driver supports, from ``nvidia-smi``'s banner."""
    out = _run(["nvidia-smi"])
    if out:
        m = re.search(r"CUDA Version:\s*([\d.]+)", out)
        if m:
            return m.group(1)
    return None


def package_versions(names=PACKAGES) -> Dict[str, str]:  # noqa: ANN001
    """Installed versions from package metadata (nothing is imported); absent packages are left out."""
    from importlib import metadata

    out: Dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    # JetPack installs TensorRT as a system module without pip metadata.
    if not any(k.startswith("tensorrt") for k in out) and "tensorrt" in sys.modules:
        out["tensorrt"] = str(getattr(sys.modules["tensorrt"], "__version__", "?"))
    return out


def torch_cuda_version() -> Optional[str]:
    """torch's CUDA build, only if torch is already imported (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return getattr(getattr(torch, "version", None), "cuda", None)


def collect(extra: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """The environment of a measurement, JSON-ready (see module doc). ``extra`` is merged in."""
    env: Dict[str, object] = {
        "host": platform.node(),
        "machine": machine_name(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": {"model": cpu_model(), **cpu_cores(), "arch": platform.machine()},
        "memory_gib": memory_gib(),
        "gpus": gpu_info(),
        "cuda": {"driver_supports": cuda_driver_version(), "torch_build": torch_cuda_version()},
        "jetpack": jetpack_release(),
        "packages": package_versions(),
        "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
                        if k in os.environ},
    }
    if extra:
        env.update(extra)
    return env
