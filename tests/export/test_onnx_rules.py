"""ONNX checks for TensorRT: real exports (64x128) and small hand-made Q/DQ graphs."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fastscnn_edge.export.onnx_rules import check_onnx, check_qdq, onnx_kind


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two real exports: cls with uint8 labels (float in), and cls with int32 labels (bgr8 frames in)."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("onnx")
    out = {}
    for key, spec in {"uint8": ExportSpec(head="cls", res=(64, 128), labels="uint8", output=d / "u8.onnx"),
                      "int32": ExportSpec(head="cls", res=(64, 128), labels="int32", input_format="bgr8",
                                          output=d / "i32.onnx"),
                      "dynamic": ExportSpec(head="prob", res=(64, 128), dynamic=True, output=d / "dyn.onnx")}.items():
        out[key] = export_onnx(spec, validate=False).path
    return out


def test_real_export_passes_for_10_and_11(exported):
    for gen in ("10", "11", None):
        assert check_onnx(exported["uint8"], generation=gen) == []
        assert check_onnx(exported["int32"], generation=gen) == []
    assert onnx_kind(exported["uint8"]) == "fp32"


def test_default_uint8_labels_pass_8x_through_float_and_a_direct_cast_is_flagged(exported, tmp_path):
    """The default export's labels go ArgMax -> Cast(float32) -> Cast(uint8), which 8.x builds; the
    direct ArgMax -> Cast(uint8) of older exports is flagged for 8.x only."""
    assert check_onnx(exported["uint8"], generation="8") == []
    assert check_onnx(exported["int32"], generation="8") == []
    m = onnx.load(str(exported["uint8"]))
    via = next(n for n in m.graph.node if n.op_type == "Cast" and n.name.endswith("_via_float"))
    final = next(n for n in m.graph.node if n.op_type == "Cast" and n.input[0] == via.output[0])
    final.input[0] = via.input[0]
    m.graph.node.remove(via)
    old = tmp_path / "direct.onnx"
    onnx.save(m, str(old))
    problems = check_onnx(old, generation="8")
    assert len(problems) == 1 and "--labels int32 for 8.x" in problems[0]
    assert check_onnx(old, generation="10") == [] and check_onnx(old, generation="rtx") == []


def test_uint8_frames_are_cast_before_anything_else(exported):
    """bgr8 frames feed a Cast first (every TensorRT parser's rule; tests/runtime/trt/test_rtx.py checks it with
    TensorRT-RTX's parser); a graph whose uint8 input feeds another op is flagged for every generation."""
    m = onnx.load(str(exported["int32"]))
    (inp,) = [i for i in m.graph.input]
    assert inp.type.tensor_type.elem_type == TensorProto.UINT8
    assert {n.op_type for n in m.graph.node if inp.name in n.input} == {"Cast"}


def test_dynamic_shape_is_a_problem_only_when_static_is_required(exported):
    problems = check_onnx(exported["dynamic"], static=True)
    assert len(problems) == 1 and "dynamic shape" in problems[0]
    assert check_onnx(exported["dynamic"], static=False) == []


def test_opset_newer_than_17_is_flagged_for_8x(exported, tmp_path):
    m = onnx.load(str(exported["int32"]))
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 18
    p = tmp_path / "op18.onnx"
    onnx.save(m, str(p))
    assert any("opset 18" in x and "--opset 17" in x for x in check_onnx(p, generation="8"))
    assert check_onnx(p, generation="10") == []


def test_unsupported_and_custom_ops_are_named():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Hardmax", ["a"], ["b"]),
             helper.make_node("MyOp", ["b"], ["y"], domain="com.example")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    problems = check_onnx(model, static=True)
    assert any("Hardmax" in p for p in problems) and any("com.example::MyOp" in p for p in problems)
    assert not any("Relu" in p for p in problems)


def test_fp16_io_type_change_is_flagged(exported, tmp_path):
    from onnxconverter_common import float16

    src = onnx.load(str(exported["int32"]))
    kept = float16.convert_float_to_float16(src, keep_io_types=True)
    onnx.save(kept, str(tmp_path / "kept.onnx"))
    assert onnx_kind(tmp_path / "kept.onnx") == "fp16"
    assert check_onnx(tmp_path / "kept.onnx", reference=exported["int32"]) == []
    prob = onnx.load(str(exported["dynamic"]))
    changed = float16.convert_float_to_float16(prob, keep_io_types=False)
    problems = check_onnx(changed, static=False, reference=exported["dynamic"])
    assert any("changed type FLOAT -> FLOAT16" in p for p in problems)


# ---------------------------------------------------------------------------------------------
# hand-made Q/DQ graphs: x -> Q -> DQ -> Conv(W: Q/DQ per channel) -> y


def _qdq_model(*, act_zp=np.int8(0), w_zp_dtype=np.int8, w_axis=0, w_scale=None, act_scale=0.02):
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    w_scale = np.full(4, 0.01, np.float32) if w_scale is None else np.asarray(w_scale, np.float32)
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(np.array(act_scale, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(act_zp), "x_zp"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(w_scale.shape, w_zp_dtype), "w_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="dq_x"),
        helper.make_node("QuantizeLinear", ["W", "w_scale", "w_zp"], ["wq"], name="q_w", axis=w_axis),
        helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zp"], ["wd"], name="dq_w", axis=w_axis),
        helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1]),
    ]
    return _checked_model(nodes, inits, in_channels=3)


def _checked_model(nodes, inits, in_channels: int) -> onnx.ModelProto:  # noqa: ANN001
    """x [1, in_channels, 8, 8] -> nodes -> y [1, 4, 8, 8], opset 17, checked by onnx."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, in_channels, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_tensorrt_form_qdq_passes():
    model = _qdq_model()
    assert check_qdq(model) == []
    assert check_onnx(model, generation="8", int8=True) == []
    assert onnx_kind(model) == "qdq"


def test_uint8_or_nonzero_zero_points_are_flagged():
    problems = check_qdq(_qdq_model(act_zp=np.uint8(128)))
    assert any("zero point is uint8" in p for p in problems) and any("not 0" in p for p in problems)


def test_weights_quantized_on_wrong_axis_are_flagged():
    problems = check_qdq(_qdq_model(w_axis=1, w_scale=np.full(3, 0.01)))
    assert any("axis 1" in p and "needs axis 0" in p for p in problems)


def test_non_positive_scales_are_flagged():
    problems = check_qdq(_qdq_model(w_scale=[0.01, 0.0, 0.02, 0.01]))
    assert any("scales must be finite and > 0" in p for p in problems)


def test_fp32_model_is_not_qdq(exported):
    problems = check_onnx(exported["int32"], int8=True)
    assert len(problems) == 1 and "not a Q/DQ" in problems[0]


def test_quantize_helper_output_if_present(exported, tmp_path):
    """The real Q/DQ and FP16 files of fastscnn_edge.quantize.convert (another helper's module) pass the checks."""
    quantize = pytest.importorskip("fastscnn_edge.quantize.convert", reason="fastscnn_edge.quantize.convert is not written yet")
    import cv2

    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(calib / f"{i}.png"), rng.integers(0, 256, (64, 128, 3), dtype=np.uint8))
    fp16 = Path(quantize.to_fp16(exported["int32"], tmp_path / "m.fp16.onnx").path)
    assert check_onnx(fp16, generation="10", reference=exported["int32"]) == []
    int8 = Path(quantize.to_int8(exported["int32"], tmp_path / "m.int8.onnx", calib, options=quantize.Int8Options(form="tensorrt")).path)
    assert check_onnx(int8, generation="8", int8=True, reference=exported["int32"]) == []


# ---------------------------------------------------------------------------------------------
# TensorRT Q/DQ placement: a residual block x -> Conv -> Add(x) -> Relu, right and wrong


def _residual_block(defect: str = ""):
    """``x -> [Q/DQ] -> Conv(W int8 -> DQ) -> a``; ``Add(residual DQ(Q(x)), a) -> Relu -> y``, with one defect."""
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (4, 4, 3, 3)).astype(np.int8)
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z"),
             numpy_helper.from_array(np.full(4, 0.01, np.float32), "ws"), numpy_helper.from_array(np.zeros(4, np.int8), "wz")]
    q = lambda src, out: [helper.make_node("QuantizeLinear", [src, "s", "z"], [out + "_q"], name="q_" + out),  # noqa: E731
                          helper.make_node("DequantizeLinear", [out + "_q", "s", "z"], [out], name="dq_" + out)]
    if defect == "fp32 weights":
        inits.append(numpy_helper.from_array(w.astype(np.float32) * 0.01, "W"))
        nodes = [helper.make_node("QuantizeLinear", ["W", "ws", "wz"], ["Wq"], name="q_w", axis=0),
                 helper.make_node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], name="dq_w", axis=0)]
    else:
        inits.append(numpy_helper.from_array(w, "Wq"))
        nodes = [helper.make_node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], name="dq_w", axis=0)]
    conv_in = "x" if defect == "float conv input" else "xc"
    if defect != "float conv input":
        nodes += q("x", "xc")
    nodes.append(helper.make_node("Conv", [conv_in, "Wd"], ["a"], name="conv", pads=[1, 1, 1, 1]))
    if defect == "shared pair":
        residual = "xc"  # the Conv's own Q/DQ pair, read by the Add as well
    elif defect == "float residual":
        residual = "x"
    else:
        nodes += q("x", "xr")
        residual = "xr"
    fused = "a"
    if defect == "both inputs":
        nodes += q("a", "aq")
        fused = "aq"
    nodes.append(helper.make_node("Add", [residual, fused], ["s_sum"], name="add"))
    nodes.append(helper.make_node("Relu", ["s_sum"], ["r"], name="relu"))
    if defect == "output qdq":
        nodes += q("r", "rq")
        nodes.append(helper.make_node("Relu", ["rq"], ["y"], name="relu2"))
    else:
        nodes.append(helper.make_node("Identity", ["r"], ["y"], name="out"))
    return _checked_model(nodes, inits, in_channels=4)


def test_placement_of_a_fusible_residual_block_passes():
    from fastscnn_edge.export.onnx_rules import check_qdq_placement

    model = _residual_block()
    assert check_qdq_placement(model) == [] and check_qdq(model) == []


@pytest.mark.parametrize("defect, expected", [
    ("both inputs", "both inputs quantized"),
    ("float residual", "float residual"),
    ("output qdq", "on an op's output alone"),
    ("shared pair", "shared by 2 consumers"),
    ("fp32 weights", "quantizes the constant W"),
    ("float conv input", "quantized weights but a float input"),
])
def test_each_placement_rule_is_flagged(defect, expected):
    from fastscnn_edge.export.onnx_rules import check_qdq_placement

    problems = check_qdq_placement(_residual_block(defect))
    assert any(expected in p for p in problems), problems
    if defect == "fp32 weights":
        assert check_qdq_placement(_residual_block(defect), int8_weights=False) == []
