"""The Jetson path for real: `pip install fastscnn-edge` (no extras) into a fresh venv, on Python 3.8 where
this machine has it (JetPack 5's Python), then quantize, bench (onnxruntime), predict, eval and compare run
there without torch; the torch-only commands say which extra to install, in one line.

The models come from this (torch) environment; everything after runs in the other one.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _python38() -> str:
    """JetPack 5's Python where this machine has it (pyenv), else the interpreter running the tests."""
    found = shutil.which("python3.8")
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8.*/bin/python3.8")))
    for exe in ([found] if found else []) + candidates:
        ok = subprocess.run([exe, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 8)"],
                            capture_output=True, timeout=60)
        if ok.returncode == 0:
            return exe
    return sys.executable


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("runtime_venv")
    exe = _python38()
    if exe == sys.executable:
        venv.create(d / "venv", with_pip=True)
    else:
        subprocess.run([exe, "-m", "venv", str(d / "venv")], check=True, timeout=300)
    py = d / "venv" / "bin" / "python"
    # a non-editable install of this checkout, as `pip install fastscnn-edge` would do
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return py


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import cv2

    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("rt_models")
    cls = export_onnx(ExportSpec(res=(64, 128), output=d / "cls.onnx"), validate=False).path
    rng = np.random.default_rng(0)
    calib = d / "calib"
    data = d / "data"
    for sub in (calib, data / "images", data / "masks"):
        sub.mkdir(parents=True)
    for i in range(8):
        img = cv2.resize(rng.integers(0, 256, (8, 16, 3), dtype=np.uint8), (128, 64), interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(calib / f"c{i}.png"), img)
        if i < 3:
            cv2.imwrite(str(data / "images" / f"v{i}.png"), img)
            cv2.imwrite(str(data / "masks" / f"v{i}.png"), rng.integers(0, 19, (64, 128), dtype=np.uint8))
    from fastscnn_edge.core.metadata import CITYSCAPES_CLASSES

    (data / "classes.txt").write_text("\n".join(CITYSCAPES_CLASSES) + "\n")
    return {"dir": d, "cls": cls, "calib": calib, "data": data}


def _run(py: Path, *args, cwd: Path):  # noqa: ANN002
    exe = py.parent / "fastscnn-edge"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FASTSCNN_EDGE_ARTIFACTS")}
    env["FASTSCNN_EDGE_ARTIFACTS"] = str(cwd / "artifacts")
    return subprocess.run([str(exe), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_runtime_commands_run_without_torch(runtime_venv, models):
    py, d = runtime_venv, models["dir"]
    probe = subprocess.run([str(py), "-c", "import importlib.util, sys; print(sys.version_info[:2]); "
                            "print(importlib.util.find_spec('torch') is None)"], capture_output=True, text=True)
    assert probe.stdout.split("\n")[1] == "True", "torch must not be installed in the runtime venv"
    version = probe.stdout.split("\n")[0]

    steps = [
        ("quantize", "quantize", models["cls"], "--fp16"),
        ("int8", "quantize", models["cls"], "--int8", "--calib", models["calib"], "--form", "cpu",
         "--calib-method", "minmax"),
        ("bench", "bench", models["cls"], "--backend", "onnxruntime", "--iters", "3", "--warmup", "1",
         "--json", d / "bench.json"),
        ("predict", "predict", models["cls"], models["data"] / "images", "-o", d / "pred", "--format", "trainids"),
        ("eval", "eval", models["cls"], "--data", models["data"], "--data-format", "folder", "--json", d / "eval.json"),
        ("compare", "compare", models["cls"], d / "cls.fp16.onnx", "--random", "2", "--json", d / "compare.json"),
    ]
    for name, *args in steps:
        p = _run(py, *args, cwd=d)
        assert p.returncode == 0, f"{name} on Python {version}: {p.stderr[-2000:]}"
        assert "Traceback" not in p.stderr
    assert (d / "cls.fp16.onnx").is_file() and (d / "cls.int8-cpu.onnx").is_file()
    assert sorted(p.name for p in (d / "pred").rglob("*.png")) == ["v0.png", "v1.png", "v2.png"]
    import json

    bench = json.loads((d / "bench.json").read_text())
    assert bench["results"][0]["backend"] == "onnxruntime" and bench["results"][0]["latency_ms"]["n"] == 3
    assert "torch" not in bench["environment"]["packages"]
    assert "miou" in json.dumps(json.loads((d / "eval.json").read_text())).lower()
    assert json.loads((d / "compare.json").read_text())


@pytest.mark.parametrize("args,what", [
    (["export", "--res", "64x128"], "`fastscnn-edge export`"),
    (["train", "--data", "nowhere"], "`fastscnn-edge train`"),
    (["import-weights", "x.pth", "--from", "tramac", "-o", "x.pt"], "`fastscnn-edge import-weights`"),
    (["info"], "describing a PyTorch model"),
    (["bench", "--backend", "torch", "--res", "64x128"], "torch backend"),
])
def test_torch_commands_name_the_extra_in_one_line(runtime_venv, models, args, what):
    p = _run(runtime_venv, *args, cwd=models["dir"])
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 3 and len(lines) == 1, p.stderr
    assert lines[0].startswith("error: ") and what in lines[0] and "fastscnn-edge[export]" in lines[0]
