"""Environment capture: torch-free, JSON-ready, GPU facts from nvidia-smi."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fastscnn_edge.core import envinfo

REPO = Path(__file__).resolve().parents[2]


def test_parse_nvidia_smi_csv():
    text = "NVIDIA TITAN Xp, 535.183.01, 6.1, 12288 MiB\nNVIDIA H100 80GB HBM3, 550.54.15, 9.0, 81559 MiB\n"
    gpus = envinfo.parse_nvidia_smi_csv(text)
    assert [g["name"] for g in gpus] == ["NVIDIA TITAN Xp", "NVIDIA H100 80GB HBM3"]
    assert gpus[0]["compute_capability"] == "6.1" and gpus[1]["driver"] == "550.54.15"
    assert envinfo.parse_nvidia_smi_csv("") == []


def test_collect_is_json_ready_and_describes_this_machine():
    env = envinfo.collect({"precision": "fp32"})
    doc = json.loads(json.dumps(env))
    assert doc["precision"] == "fp32"
    assert doc["cpu"]["usable"] >= 1 and doc["cpu"]["model"]
    assert doc["packages"]["numpy"] == np.__version__
    assert isinstance(doc["gpus"], list)
    assert re.fullmatch(r"[a-z0-9-]+", doc["machine"])


def test_collect_does_not_import_torch_or_tensorrt():
    code = textwrap.dedent("""
        import sys
        from fastscnn_edge.core import envinfo
        env = envinfo.collect()
        assert "torch" not in sys.modules and "tensorrt" not in sys.modules, sorted(sys.modules)
        print(env["cpu"]["model"])
    """)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip()


@pytest.mark.gpu
def test_gpu_is_described_with_compute_capability():
    gpus = envinfo.gpu_info()
    assert gpus and re.fullmatch(r"\d+\.\d+", gpus[0]["compute_capability"])
    assert envinfo.cuda_driver_version()
