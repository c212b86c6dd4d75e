"""The engine sidecar: round trip, compatibility refusals, malformed files."""

import json

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.runtime.sidecar import Sidecar, TensorInfo, check_compatible, read_sidecar, sidecar_path, write_sidecar


def _sidecar() -> Sidecar:
    meta = ModelMeta(arch="paper", head="cls", input_format="bgr8", resolution=(64, 128), precision="fp16",
                     labels_dtype="int32")
    return Sidecar(tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability=(8, 7), precision="fp16",
                   io=[TensorInfo("frames", "input", [1, 64, 128, 3], "uint8"),
                       TensorInfo("labels", "output", [1, 64, 128], "int32")],
                   source_onnx="artifacts/m.fp16.onnx", source_sha256="ab" * 32,
                   build_options={"plan": {"flags": []}}, build_seconds=12.5, toolkit_version="0.1.0",
                   meta=meta.to_json())


def test_round_trip_keeps_everything(tmp_path):
    engine = tmp_path / "m.fp16.engine"
    path = write_sidecar(engine, _sidecar())
    assert path == sidecar_path(engine) == tmp_path / "m.fp16.engine.json"
    back = read_sidecar(engine)
    assert back.to_json() == json.loads(json.dumps(_sidecar().to_json()))
    meta = back.model_meta()
    assert meta.resolution == (64, 128) and meta.input_format == "bgr8" and meta.mean == ModelMeta().mean
    assert [t.name for t in back.inputs()] == ["frames"] and [t.name for t in back.outputs()] == ["labels"]
    raw = json.loads(path.read_text())
    assert raw["meta"]["head"] == "cls" and raw["precision"] == "fp16"  # what bench reads


def test_missing_sidecar_is_none_and_broken_one_is_a_user_error(tmp_path):
    engine = tmp_path / "x.engine"
    assert read_sidecar(engine) is None
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(UserError, match="cannot read the engine sidecar"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"tensorrt_version": "10.3"}))
    with pytest.raises(UserError, match="field 'gpu_name' is missing"):
        read_sidecar(engine)


def test_compatible_same_release_and_gpu():
    assert check_compatible(_sidecar(), "10.3.0.30", "Orin", (8, 7)) == []
    assert check_compatible(_sidecar(), "10.3.0.26", "Orin", (8, 7)) == []  # build number differs only


def test_other_tensorrt_release_refuses():
    with pytest.raises(UserError, match="built with TensorRT 10.3.0.30, this is TensorRT 10.4.0") as e:
        check_compatible(_sidecar(), "10.4.0", "Orin", (8, 7))
    assert "build-engine artifacts/m.fp16.onnx" in e.value.fix


def test_other_gpu_architecture_refuses_and_same_arch_other_model_warns():
    with pytest.raises(UserError, match=r"sm_87.*sm_89"):
        check_compatible(_sidecar(), "10.3.0.30", "NVIDIA GeForce RTX 4090", (8, 9))
    warns = check_compatible(_sidecar(), "10.3.0.30", "Orin NX", (8, 7))
    assert len(warns) == 1 and "rebuild for best speed" in warns[0]


def _rtx_sidecar(ccs):
    from fastscnn_edge.runtime.sidecar import Sidecar, TensorInfo

    meta = ModelMeta(head="cls", input_format="float", resolution=(64, 128), precision="fp16")
    return Sidecar("1.7.1.116", "", None, "fp16", [TensorInfo("input", "input", [1, 3, 64, 128], "float32"),
                                                   TensorInfo("labels", "output", [1, 64, 128], "uint8")],
                   "m.onnx", "0" * 64, runtime="tensorrt_rtx", compute_capabilities=list(ccs), meta=meta.to_json())


def test_rtx_sidecar_round_trip_and_compatibility(tmp_path):
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.runtime.sidecar import check_compatible, read_sidecar, write_sidecar

    side = _rtx_sidecar([(8, 6), (8, 9)])
    write_sidecar(tmp_path / "m.engine", side)
    back = read_sidecar(tmp_path / "m.engine")
    assert back.io == side.io and back.runtime == "tensorrt_rtx" and back.compute_capabilities == [(8, 6), (8, 9)]
    assert back.compute_capability is None and back.runtime_label == "TensorRT-RTX 1.7.1.116"
    assert back.model_meta().resolution == (64, 128)
    assert check_compatible(back, "1.7.1.116", "NVIDIA GeForce RTX 4090", (8, 9), "rtx") == []
    with pytest.raises(UserError, match="built for compute capabilities 8.6, 8.9"):
        check_compatible(back, "1.7.1.116", "NVIDIA GeForce RTX 5090", (12, 0), "rtx")
    with pytest.raises(UserError, match="built with TensorRT-RTX 1.7.1.116; this is TensorRT 10.13"):
        check_compatible(back, "10.13.0.35", "NVIDIA GeForce RTX 4090", (8, 9), "tensorrt")
    with pytest.raises(UserError, match="do not move between TensorRT versions"):
        check_compatible(back, "1.8.0.1", "NVIDIA GeForce RTX 4090", (8, 9), "rtx")
