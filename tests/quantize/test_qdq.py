"""Q/DQ placement: which Add input fuses, the TensorRT form on a real export, and TensorRT-RTX
parsing and building it (CPU-only ahead-of-time build, no GPU needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from fastscnn_edge.quantize.qdq import fusible_add_inputs

RES = (64, 128)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A float-input cls export (the input TensorRT-RTX parses; see FACTS.md) with int32 labels."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("qdq")
    spec = ExportSpec(res=RES, head="cls", input_format="float", labels="int32", output=d / "m.onnx")
    return export_onnx(spec, validate=False).path


@pytest.fixture(scope="module")
def int8_forms(exported, tmp_path_factory) -> dict:
    """The TensorRT form with int8 and with fp32 weights, from one calibration."""
    import cv2

    from fastscnn_edge.quantize.convert import Int8Options, to_int8

    d = tmp_path_factory.mktemp("int8")
    (d / "calib").mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(d / "calib" / f"{i}.png"), cv2.resize(rng.integers(0, 256, (4, 8, 3), dtype=np.uint8), (128, 64)))
    int8 = to_int8(exported, d / "m.int8.onnx", d / "calib", options=Int8Options(method="minmax"))
    fp32w = to_int8(exported, d / "m.w.onnx", None, options=Int8Options(method="minmax", cache=int8.cache, fp32_weights=True))
    return {"int8": int8.path, "fp32-weights": fp32w.path}


def test_the_longer_branch_fuses_and_the_residual_is_quantized(exported):
    proto = onnx.load(str(exported))
    producer = {o: n for n in proto.graph.node for o in n.output}
    fused = fusible_add_inputs(proto)
    adds = [n for n in proto.graph.node if n.op_type == "Add"]
    assert len(adds) == 7 and set(fused) == {a.name for a in adds}
    for add in adds:
        fused_conv = producer[add.input[fused[add.name]]].name
        residual = producer[add.input[1 - fused[add.name]]].name
        if "feature_fusion" in add.name:  # low-resolution branch fuses; the 1x1 high-resolution conv is the residual
            assert "conv_lower_res" in fused_conv and "conv_higher_res" in residual
        else:  # the block's own projection fuses; the block input (previous block's output) is the residual
            block = add.name.rsplit("/", 2)[-2]
            assert f"{block}/conv_pwl" in fused_conv and f"{block}/" not in residual


def test_quantized_graph_follows_the_placement_rules(int8_forms):
    from fastscnn_edge.export.onnx_rules import check_onnx, check_qdq_placement

    m = onnx.load(str(int8_forms["int8"]))
    assert check_qdq_placement(m) == []
    assert check_onnx(m, generation="10", int8=True) == []
    producer = {o: n for n in m.graph.node for o in n.output}
    for add in (n for n in m.graph.node if n.op_type == "Add"):
        kinds = sorted(producer[i].op_type for i in add.input)
        assert kinds == ["Conv", "DequantizeLinear"], add.name  # Conv output in float, residual through Q/DQ
    for n in m.graph.node:
        if n.op_type in ("Relu", "Resize", "Concat", "MatMul", "ArgMax"):
            assert all(producer[i].op_type != "DequantizeLinear" for i in n.input if i in producer), n.name


class _Logger:
    """A tensorrt_rtx ILogger that keeps the errors (built on first use: the module may be absent)."""

    @staticmethod
    def make(trt):  # noqa: ANN001, ANN205
        class Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.errors: list = []

            def log(self, severity, msg) -> None:  # noqa: ANN001
                if severity <= trt.ILogger.Severity.ERROR:
                    self.errors.append(msg)

        return Logger()


def rtx_build(path: Path) -> tuple:
    """(parser errors, builder errors, plan bytes or None) from TensorRT-RTX's parser and CPU-only builder."""
    trt = pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX is not installed (pip install tensorrt-rtx-cu13==1.7.1.116)")
    logger = _Logger.make(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # strongly typed: the precision is the ONNX's
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse_from_file(str(path))
    parse_errors = [f"{parser.get_error(i).node_name()}: {parser.get_error(i).desc()}" for i in range(parser.num_errors)]
    if not ok:
        return parse_errors, logger.errors, None
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    return parse_errors, logger.errors, None if plan is None else bytes(plan)


@pytest.mark.parametrize("form", ["int8", "fp32-weights"])
def test_tensorrt_rtx_parses_and_builds_the_tensorrt_form(int8_forms, form):
    parse_errors, build_errors, plan = rtx_build(int8_forms[form])
    assert parse_errors == [] and build_errors == []
    assert plan is not None and len(plan) > 100_000


def test_pad_conv_channels_gives_the_first_conv_four_channels_and_the_same_numbers(exported):
    """The CPU form's zero fourth input channel: onnxruntime's fast int8 conv kernel, identical float results."""
    import copy

    from fastscnn_edge.quantize.convert import cpu_session
    from fastscnn_edge.quantize.qdq import pad_conv_channels

    proto = onnx.load(str(exported))
    padded = copy.deepcopy(proto)
    ranges = pad_conv_channels(padded, {"input": (-2.1, 2.6)})
    conv = next(n for n in padded.graph.node if n.op_type == "Conv")
    weights = {t.name: t for t in padded.graph.initializer}
    assert list(weights[conv.input[1]].dims)[:2] == [32, 4]
    assert ranges[conv.input[0]] == (-2.1, 2.6)
    later = [n for n in padded.graph.node if n.op_type == "Conv"][1:]
    assert all(not n.input[0].endswith("_c4") for n in later)  # only the Conv reading the graph input
    x = np.random.default_rng(0).standard_normal((1, 3, *RES)).astype(np.float32)
    a = cpu_session(proto.SerializeToString()).run(None, {"input": x})[0]
    b = cpu_session(padded.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_array_equal(a, b)
