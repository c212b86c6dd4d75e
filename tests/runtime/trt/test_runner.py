"""trt.runner: an engine as a Runner. Without a GPU, what can be checked is that an engine refuses to
run in one line before any CUDA work, and what it needs (the run itself is in the GPU tests:
tests/test_engine.py, marked gpu)."""

from __future__ import annotations

import numpy as np
import pytest

from fastscnn_edge.core.errors import MissingDependency
from tests.runtime.trt.test_rtx import _cli, calib_images, models  # noqa: F401 # pyflakes: fixtures

pytestmark = pytest.mark.rtx


def test_check_runnable_names_what_an_rtx_engine_needs(models, tmp_path, capsys):
    from fastscnn_edge.core.machine import gpu_present
    from fastscnn_edge.runtime.artifact import Artifact
    from fastscnn_edge.runtime.trt.runner import check_runnable

    if gpu_present():
        pytest.skip("this machine has a GPU: the refusal is for GPU-less machines")
    src = models("cls", "float", "uint8", False, "fp32")
    eng = tmp_path / "m.rtx.engine"
    assert _cli(capsys, "build-engine", src, "--runtime", "rtx", "--fp16", "-o", eng)[0] == 0
    a = Artifact.open(eng)
    assert a.runtime == "rtx" and a.sidecar is not None
    with pytest.raises(MissingDependency) as e:
        check_runnable(a)
    assert "Ampere-or-later RTX GPU" in e.value.cause and f"fastscnn-edge bench {src.name.replace('.onnx', '.fp16.onnx')}" in e.value.fix


@pytest.mark.parametrize("command", ["bench", "predict", "eval"])
def test_running_an_rtx_engine_without_a_gpu_is_one_line(models, tmp_path, capsys, command):
    from fastscnn_edge.core.machine import gpu_present

    if gpu_present():
        pytest.skip("this machine has a GPU: the refusal is for GPU-less machines")
    src = models("cls", "float", "uint8", False, "fp32")
    eng = tmp_path / "m.rtx.engine"
    assert _cli(capsys, "build-engine", src, "--runtime", "rtx", "--fp16", "-o", eng)[0] == 0
    import cv2

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    img = data / "images" / "a.png"
    cv2.imwrite(str(img), np.zeros((64, 128, 3), np.uint8))
    cv2.imwrite(str(data / "masks" / "a.png"), np.zeros((64, 128), np.uint8))
    args = {"bench": ["bench", eng, "--iters", "1", "--warmup", "0"],
            "predict": ["predict", eng, img, "-o", tmp_path / "pred"],
            "eval": ["eval", eng, "--data", data, "--data-format", "folder"]}[command]
    code, _, err = _cli(capsys, *args)
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "running it needs an Ampere-or-later RTX GPU" in lines[0] and "built" in lines[0]
    assert not (tmp_path / "pred").exists()
