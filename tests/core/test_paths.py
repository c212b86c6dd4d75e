"""paths: every default name in one place, so export -> quantize -> build-engine -> bench chain."""

import pytest

from fastscnn_edge.core import paths
from fastscnn_edge.core.errors import UserError


def test_default_names_chain_under_the_artifacts_folder(artifacts):
    onnx = paths.default_onnx("paper", "cls", (512, 1024))
    assert onnx == artifacts / "fastscnn_paper_cls_512x1024.onnx"
    assert paths.default_onnx("paper", "cls", (512, 1024), "fp16") == paths.beside(onnx, "fp16")
    assert paths.default_onnx("paper", "cls", (512, 1024), "int8", "cpu").name == "fastscnn_paper_cls_512x1024.int8-cpu.onnx"
    eng = paths.default_engine("paper", "cls", (512, 1024), "fp16")
    assert eng == artifacts / "engines" / "fastscnn_paper_cls_512x1024.fp16.engine"
    rtx = paths.default_engine("paper", "cls", (512, 1024), "int8", "rtx")
    assert rtx.name.endswith(".int8.rtx.engine") and paths.is_rtx_engine_name(rtx) and not paths.is_rtx_engine_name(eng)
    assert paths.precision_from_name(rtx) == "int8" and paths.precision_from_name(eng) == "fp16"
    assert paths.precision_from_name(artifacts / "foreign.plan") == "fp32"
    assert paths.sidecar_path(eng).name == eng.name + ".json"
    assert paths.runtime_cache_path(rtx).name == rtx.name + ".runtime-cache"
    assert paths.calibration_cache(paths.beside(onnx, "int8")).name == "fastscnn_paper_cls_512x1024.int8.calib.json"
    multi = paths.multi_resolution_engine(eng, [(512, 1024), (256, 512)])
    assert multi.name == "fastscnn_paper_cls_512x1024_256x512.fp16.engine"


def test_artifact_kind_from_the_extension(tmp_path):
    assert paths.artifact_kind(tmp_path / "m.onnx") == "onnx"
    assert [paths.artifact_kind(tmp_path / f"m{s}") for s in (".engine", ".plan", ".trt")] == ["engine"] * 3
    assert paths.artifact_kind(tmp_path / "m.PTH") == "checkpoint"
    with pytest.raises(UserError, match="OpenVINO IR"):
        paths.artifact_kind(tmp_path / "m.xml")
    with pytest.raises(UserError, match="cannot tell what"):
        paths.artifact_kind(tmp_path / "m.tflite")
