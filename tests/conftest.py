"""Shared fixtures and hardware markers.

Markers (declared in pyproject.toml):
- ``gpu``: needs a CUDA GPU; skipped with the reason where there is none.
- ``tensorrt``: needs TensorRT; skipped with the reason where it is not installed.
- ``rtx``: needs TensorRT-RTX (``tensorrt_rtx``, installed by ``scripts/setup.sh dev``); skipped with
  the reason where it is absent, except under ``FASTSCNN_EDGE_REQUIRE_RTX=1`` (set by
  ``scripts/test.sh``, hence CI), where its absence fails the test instead of hiding it.
- ``slow``: full paper resolutions; part of CI, deselect locally with ``-m 'not slow'``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _have_cuda() -> tuple[bool, str]:
    if shutil.which("nvidia-smi") is None and not os.path.exists("/dev/nvidia0"):
        return False, "no NVIDIA GPU on this machine (no nvidia-smi, no /dev/nvidia0)"
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"nvidia-smi failed: {exc}"
    if out.returncode != 0 or "GPU" not in out.stdout:
        return False, "nvidia-smi lists no GPU"
    return True, ""


def pytest_collection_modifyitems(config, items):  # noqa: ANN001
    have_gpu, why_gpu = _have_cuda()
    from fastscnn_edge.core.machine import tensorrt_available

    from fastscnn_edge.core.machine import tensorrt_rtx_available

    have_trt = tensorrt_available()  # tensorrt-stubs alone is an empty namespace package, not TensorRT
    have_rtx = tensorrt_rtx_available()
    require_rtx = os.environ.get("FASTSCNN_EDGE_REQUIRE_RTX", "") not in ("", "0")
    for item in items:
        if "rtx" in item.keywords and not have_rtx and not require_rtx:
            item.add_marker(pytest.mark.skip(
                reason="needs TensorRT-RTX: `tensorrt_rtx` is not installed (scripts/setup.sh dev installs it: "
                       "pip install tensorrt-rtx-cu13)"))
        if "gpu" in item.keywords and not have_gpu:
            item.add_marker(pytest.mark.skip(reason=f"needs a CUDA GPU: {why_gpu}"))
        if "tensorrt" in item.keywords and not have_trt:
            item.add_marker(pytest.mark.skip(
                reason="needs TensorRT: the `tensorrt` package is not installed (pip install tensorrt on a "
                       "desktop GPU machine; JetPack on a Jetson)"))


@pytest.fixture()
def artifacts(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """A private default-artifacts folder (FASTSCNN_EDGE_ARTIFACTS) for the test."""
    d = tmp_path / "artifacts"
    monkeypatch.setenv("FASTSCNN_EDGE_ARTIFACTS", str(d))
    return d
