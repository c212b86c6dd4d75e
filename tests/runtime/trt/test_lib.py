"""trt.lib: the only module that imports TensorRT. Feature detection on the installed TensorRT-RTX,
and NVIDIA's real parser and builder behind our one-line errors (ahead of time, no GPU needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastscnn_edge.core.errors import MissingDependency, UserError
from tests.runtime.trt.test_rtx import calib_images, models  # noqa: F401 - the shared, lazily made exports

rtx = pytest.mark.rtx


def test_an_unknown_or_missing_runtime_is_one_line(monkeypatch):
    from fastscnn_edge.runtime.trt import lib

    with pytest.raises(UserError, match="unknown TensorRT runtime 'vulkan'"):
        lib.resolve_runtime("vulkan")
    monkeypatch.setattr(lib, "trt_runtime_available", lambda runtime: False)  # a machine with neither installed
    with pytest.raises(MissingDependency) as e:
        lib.resolve_runtime("auto")
    assert "neither TensorRT nor TensorRT-RTX" in e.value.cause and "tensorrt-rtx" in e.value.fix


def test_first_line_keeps_the_cause_of_a_tensorrt_message():
    from fastscnn_edge.runtime.trt.lib import first_line

    msg = ("[pass.cpp:337: check_turing_op_compatibility] Error Code 4: API Usage Error (MatMul /m: FP32 GEMM is not "
           "supported In checkType at /_src/x.cpp:456)\ncudaError 35 noise\n")
    assert first_line(msg) == "MatMul /m: FP32 GEMM is not supported"
    assert first_line("") == ""


@rtx
def test_features_of_tensorrt_rtx_are_detected_on_the_module():
    from fastscnn_edge.runtime.capability import parse_version
    from fastscnn_edge.runtime.trt import lib

    f = lib.features("rtx")
    assert f.runtime == "rtx" and f.name.startswith("TensorRT-RTX ") and parse_version(f.version)[0] >= 1
    # strongly typed only: no FP16/INT8 builder flags; it builds for other GPUs ahead of time
    assert f.implicit_strongly_typed and not f.precision_flags and f.compute_capabilities and f.tensor_api
    assert lib.num_dla_cores("rtx") == 0


@rtx
@pytest.mark.parametrize("cast_first", [False, True])
def test_uint8_input_rule_agrees_with_the_real_parser(tmp_path, cast_first):
    """Our rule "a uint8 input feeds only a Cast" and NVIDIA's parser give the same verdict."""
    from fastscnn_edge.export.onnx_rules import check_onnx
    from fastscnn_edge.runtime.trt import lib

    path = _hand_made(tmp_path, cast_first)
    ours = [p for p in check_onnx(path) if "uint8 input" in p]
    parsed = lib.parse_onnx(path, "rtx")
    assert (ours == []) == (parsed.problems == []) == cast_first
    if not cast_first:
        assert "feeds Transpose nchw" in ours[0]
        assert parsed.problems[0].node == "nchw" and "UInt8" in parsed.problems[0].desc
        with pytest.raises(UserError) as e:
            lib.build_serialized(lib.BuildRequest(onnx=path, strongly_typed=True, flags=[], profiles=[], runtime="rtx"))
        msg = str(e.value)
        assert "node nchw" in msg and "UInt8" in msg and "--input float" in msg and "\n" not in msg


@rtx
def test_turing_fp32_build_failure_names_the_node_and_the_fix(models):
    """A real builder failure (no FP32 GEMM on Turing) is one line with the node and what to change; the
    capability table refuses the same request before any work."""
    from fastscnn_edge.runtime.capability import Environment, decide
    from fastscnn_edge.runtime.trt import lib

    path = models("cls", "float", "uint8", False, "fp32")
    with pytest.raises(UserError) as e:
        lib.build_serialized(lib.BuildRequest(onnx=path, strongly_typed=True, flags=[], profiles=[], runtime="rtx",
                                              compute_capabilities=[(7, 5)]))
    msg = str(e.value)
    assert "MatMul" in msg and "Turing" in msg and "--fp16" in msg and "\n" not in msg and "cudaError" not in msg
    with pytest.raises(UserError, match="build --fp16 for 7.5"):
        decide(Environment("1.7", runtime="rtx", build_for=((7, 5),)), "fp32", "fp32")
    fp16 = models("cls", "float", "uint8", False, "fp16")
    built = lib.build_serialized(lib.BuildRequest(onnx=fp16, strongly_typed=True, flags=[], profiles=[], runtime="rtx",
                                                  compute_capabilities=[(7, 5)]))
    assert len(built.plan) > 100_000


def _hand_made(tmp_path: Path, cast_first: bool) -> Path:
    """uint8 NHWC frames -> (Transpose, Cast) -> float: the old export order (Transpose first) and the new."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("frames", TensorProto.UINT8, [1, 8, 8, 3])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])
    if cast_first:
        nodes = [helper.make_node("Cast", ["frames"], ["f"], to=TensorProto.FLOAT, name="cast"),
                 helper.make_node("Transpose", ["f"], ["out"], perm=[0, 3, 1, 2], name="nchw")]
    else:
        nodes = [helper.make_node("Transpose", ["frames"], ["t"], perm=[0, 3, 1, 2], name="nchw"),
                 helper.make_node("Cast", ["t"], ["out"], to=TensorProto.FLOAT, name="cast")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / f"u8_{'cast' if cast_first else 'transpose'}_first.onnx"
    onnx.save(model, str(path))
    return path
