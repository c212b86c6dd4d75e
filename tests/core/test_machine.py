"""machine: what this machine has, decided without importing the heavy packages."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastscnn_edge.core import machine


def test_module_detection_without_import():
    assert machine.have_module("json") and not machine.have_module("no_such_module_xyz")
    code = ("import sys; from fastscnn_edge.core import machine\n"
            "machine.tensorrt_available(); machine.tensorrt_rtx_available(); machine.gpu_present(); machine.ort_gpu_providers\n"
            "bad = [m for m in ('tensorrt', 'tensorrt_rtx', 'torch', 'onnxruntime', 'cuda') if m in sys.modules]\n"
            "assert not bad, bad\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert p.returncode == 0, p.stderr


def test_gpu_presence_follows_the_device_nodes():
    nodes = os.path.exists("/dev/nvidia0") or Path("/etc/nv_tegra_release").exists()
    assert machine.gpu_present() == nodes


def test_tensorrt_rtx_is_seen_where_ci_installs_it():
    if os.environ.get("FASTSCNN_EDGE_REQUIRE_RTX") == "1":
        assert machine.tensorrt_rtx_available() and machine.trt_runtime_available("rtx")
    assert machine.trt_runtime_available("tensorrt") == machine.tensorrt_available()


def test_auto_device_says_why():
    dev, why = machine.auto_device("openvino")
    assert dev == "cpu" and "OpenVINO" in why
    dev, why = machine.auto_device("onnxruntime")
    assert (dev == "cuda") == bool(machine.ort_gpu_providers()) and why
    assert machine.auto_device("tensorrt")[0] == "cuda"
    assert machine.default_threads() >= 1


def test_require_torch_names_the_extra(monkeypatch):
    from fastscnn_edge.core.errors import MissingDependency

    monkeypatch.setattr(machine, "have_module", lambda name: name != "torch")
    with pytest.raises(MissingDependency) as e:
        machine.require_torch("exporting")
    assert "exporting needs PyTorch" in e.value.cause and "fastscnn-edge[export]" in e.value.fix
