"""Check an ONNX file for what the TensorRT ONNX parser needs, without TensorRT.

``check_onnx(path, ...)`` returns a list of problems (empty: fine). Used by ``build-engine`` before
any work and by the tests on the files ``export`` and ``quantize`` write.

The operator set is taken from onnx-tensorrt's ``docs/operators.md`` (the support matrix of the
TensorRT ONNX parser; 8.x branch: opset <= 17) for the operators our graphs use plus common ones.
Q/DQ rules (same source, and the TensorRT explicit-quantization guide): QuantizeLinear /
DequantizeLinear with int8 zero points equal to 0, scales > 0, per-channel weights on axis 0
(axis 1 for ConvTranspose weights). ``check_qdq_placement``: where the pairs go for TensorRT to
fuse (quantized Conv inputs, residual Add inputs, no output-only pairs, dedicated pairs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Union

import numpy as np

from fastscnn_edge.core.errors import UserError

# Supported by the TensorRT ONNX parser in 8.5, 8.6, 10.x and 11.x (onnx-tensorrt docs/operators.md).
SUPPORTED_OPS: Set[str] = {
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip",
    "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "DepthToSpace", "DequantizeLinear",
    "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather",
    "GatherElements", "GatherND", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
    "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log",
    "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow",
    "PRelu", "QuantizeLinear", "Range", "Reciprocal", "ReduceL2", "ReduceMax", "ReduceMean", "ReduceMin",
    "ReduceProd", "ReduceSum", "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Sign", "Slice", "Softmax",
    "Softplus", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Tile", "TopK",
    "Transpose", "Unsqueeze", "Upsample", "Where",
}
# Newest opset each parser generation reads (8.5/8.6: 17; 10.0: 9..20). 11.x: not limited here.
MAX_OPSET: Dict[str, int] = {"8": 17, "10": 20}

_FLOATS = {1, 10}  # onnx.TensorProto.FLOAT, FLOAT16
_UINT8, _INT8, _INT64, _FLOAT16 = 2, 3, 7, 10


def check_onnx(model: Union[str, Path, "object"], *, generation: Optional[str] = None, static: bool = True,
               int8: bool = False, reference: Union[str, Path, None] = None) -> List[str]:
    """Problems TensorRT of ``generation`` ("8" | "10" | "11" | "rtx" | None: any) would have with ``model``.

    ``static``: require fixed input shapes. ``int8``: require TensorRT's Q/DQ form. ``reference``: an
    fp32 ONNX whose graph input/output types ``model`` must keep (the FP16 and INT8 conversions).
    """
    proto = _load(model)
    problems: List[str] = []
    problems += _check_ops(proto)
    problems += _check_uint8_inputs(proto)
    if static:
        problems += _check_static(proto)
    if int8:
        problems += check_qdq(proto)
    if reference is not None:
        problems += _check_io_types(proto, _load(reference))
    return problems + check_generation(proto, generation)


def check_generation(model: Union[str, Path, "object"], generation: Optional[str]) -> List[str]:
    """The rules of one TensorRT generation alone (its opset limit; 8.x's types): the part of
    :func:`check_onnx` that changes once the installed TensorRT is known."""
    if generation is None:
        return []
    proto = _load(model)
    problems = _check_opset(proto, generation)
    if generation == "8":
        problems += _check_8x_types(proto)
    return problems


def onnx_kind(model: Union[str, Path, "object"]) -> str:
    """``qdq`` if the graph holds Q/DQ nodes, ``fp16`` if its weights are float16, else ``fp32``."""
    proto = _load(model)
    ops = {n.op_type for n in proto.graph.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops:
        return "qdq"
    if any(init.data_type == _FLOAT16 for init in proto.graph.initializer):
        return "fp16"
    return "fp32"


def _load(model: Union[str, Path, "object"]):  # noqa: ANN202 - onnx.ModelProto
    import onnx

    if isinstance(model, (str, Path)):
        try:
            return onnx.load(str(model))
        except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
            raise UserError(f"{model} is not a readable ONNX file ({type(exc).__name__}).",
                            fix="pass a file written by `fastscnn-edge export` or `fastscnn-edge quantize`.") from None
    return model


def _check_ops(proto) -> List[str]:  # noqa: ANN001
    unknown: Dict[str, int] = {}
    for node in proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            unknown[f"{node.domain}::{node.op_type}"] = unknown.get(f"{node.domain}::{node.op_type}", 0) + 1
        elif node.op_type not in SUPPORTED_OPS:
            unknown[node.op_type] = unknown.get(node.op_type, 0) + 1
    return [f"operator {op} ({n} node(s)) is not in the TensorRT ONNX parser's supported set" for op, n in
            sorted(unknown.items())]


def _opset(proto) -> int:  # noqa: ANN001
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _check_opset(proto, generation: Optional[str]) -> List[str]:  # noqa: ANN001
    limit = MAX_OPSET.get(generation or "")
    opset = _opset(proto)
    if limit is not None and opset > limit:
        if any(n.op_type == "DequantizeLinear" for n in proto.graph.node) and _has_fp16_initializers(proto):
            return [f"opset {opset} with FP16 Q/DQ scales (`quantize --float fp16`) is newer than TensorRT "
                    f"{generation}.x parses (<= {limit}, FP32 scales only); quantize with --float fp32 and build "
                    "with --int8 --fp16"]
        return [f"opset {opset} is newer than TensorRT {generation}.x parses (<= {limit}); "
                f"export with --opset {limit}"]
    return []


def _has_fp16_initializers(proto) -> bool:  # noqa: ANN001
    return any(init.data_type == _FLOAT16 for init in proto.graph.initializer)


def _check_uint8_inputs(proto) -> List[str]:  # noqa: ANN001
    """Every TensorRT parser (8.x, 10.x, 11.x, RTX) takes a uint8 network input only into a Cast
    (TensorRT-RTX: "/Transpose: first input has type UInt8 but must have type Float, ..."; NVIDIA/TensorRT
    issues 2809 and 3985 for 8.6 and 10.x)."""
    inits = {i.name for i in proto.graph.initializer}
    out = []
    for vi in proto.graph.input:
        if vi.name in inits or _elem_type(vi) != _UINT8:
            continue
        bad = [n for n in proto.graph.node if vi.name in n.input and n.op_type != "Cast"]
        if bad:
            n = bad[0]
            out.append(f"uint8 input {vi.name} feeds {n.op_type} {n.name or n.output[0]}; TensorRT takes a uint8 "
                       "input only into a Cast: re-export with this fastscnn-edge (it casts frames first) "
                       "or with --input float")
    return out


def _dims(value_info) -> List[object]:  # noqa: ANN001
    dims: List[object] = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?"))
    return dims


def _check_static(proto) -> List[str]:  # noqa: ANN001
    out = []
    inits = {i.name for i in proto.graph.initializer}
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        dims = _dims(vi)
        if not all(isinstance(d, int) and d > 0 for d in dims):
            out.append(f"input {vi.name} has dynamic shape {dims}; a static engine needs fixed dimensions "
                       "(export without --dynamic, or build with an optimization profile per --res)")
    return out


def _elem_type(vi) -> int:  # noqa: ANN001
    return int(vi.type.tensor_type.elem_type)


def _check_io_types(proto, ref) -> List[str]:  # noqa: ANN001
    import onnx

    name = onnx.TensorProto.DataType.Name
    out = []
    for kind, got, want in (("input", proto.graph.input, ref.graph.input), ("output", proto.graph.output, ref.graph.output)):
        want_types = {v.name: _elem_type(v) for v in want}
        for v in got:
            if v.name in want_types and _elem_type(v) != want_types[v.name]:
                out.append(f"graph {kind} {v.name} changed type {name(want_types[v.name])} -> {name(_elem_type(v))}; "
                           "the converted model must keep the I/O types of the fp32 ONNX")
        missing = set(want_types) - {v.name for v in got}
        out += [f"graph {kind} {m} of the fp32 ONNX is missing" for m in sorted(missing)]
    return out


def _value_types(proto) -> Dict[str, int]:  # noqa: ANN001
    """Element type of every tensor name, after ONNX shape inference (best effort)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - inference is a help here, not a requirement
        inferred = proto
    g = inferred.graph
    types = {v.name: _elem_type(v) for v in list(g.value_info) + list(g.input) + list(g.output)}
    types.update({i.name: int(i.data_type) for i in g.initializer})
    return types


def _check_8x_types(proto) -> List[str]:  # noqa: ANN001
    """TensorRT 8.x: uint8 conversions only from/to float32/float16; no int64 network outputs."""
    import onnx

    out = []
    types = _value_types(proto)
    for node in proto.graph.node:
        if node.op_type != "Cast":
            continue
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        src = types.get(node.input[0])
        if to == _UINT8 and src is not None and src not in _FLOATS:
            out.append(f"Cast {node.name or node.output[0]} turns {onnx.TensorProto.DataType.Name(src)} into UINT8; "
                       "TensorRT 8.x converts to uint8 only from float32/float16: export with --labels int32 for 8.x")
    for v in proto.graph.output:
        if _elem_type(v) == _INT64:
            out.append(f"output {v.name} is INT64; TensorRT 8.x has no int64 I/O: export with --labels int32 for 8.x")
    return out


# ---------------------------------------------------------------------------------------------
# Q/DQ form


def check_qdq(proto) -> List[str]:  # noqa: ANN001
    """Problems with the explicit-quantization form TensorRT accepts (empty list: fine)."""
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute:
            attr = node.attribute[0]
            if attr.name == "value":
                consts[node.output[0]] = numpy_helper.to_array(attr.t)
    consumers: Dict[str, List[str]] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    qdq = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        return ["no QuantizeLinear/DequantizeLinear nodes: not a Q/DQ (explicitly quantized) model; "
                "make one with `fastscnn-edge quantize --int8 --calib DIR`"]
    out: List[str] = []
    for node in qdq:
        label = f"{node.op_type} {node.name or node.output[0]}"
        out += _check_scale(label, consts, node.input[1] if len(node.input) > 1 else "")
        out += _check_zero_point(label, consts, node.input[2] if len(node.input) > 2 else "")
        out += _check_axis(label, node, consts, consumers)
    dq_outputs = {n.output[0] for n in qdq if n.op_type == "DequantizeLinear"}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    if convs and not any(len(c.input) > 1 and c.input[1] in dq_outputs for c in convs):
        out.append("no Conv weight is quantized (no DequantizeLinear feeds a Conv's weights)")
    return out


def _check_scale(label: str, consts: Dict[str, np.ndarray], name: str) -> List[str]:
    if name not in consts:
        return [f"{label}: scale {name!r} is not a constant; TensorRT needs constant scales"]
    scale = consts[name]
    if scale.size == 0 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        return [f"{label}: scales must be finite and > 0 (min {float(np.min(scale)) if scale.size else 'n/a'})"]
    return []


def _check_zero_point(label: str, consts: Dict[str, np.ndarray], name: str) -> List[str]:
    if not name:
        return []  # absent zero point: uint8 0 by the ONNX spec for Q; TensorRT needs it explicit int8
    if name not in consts:
        return [f"{label}: zero point {name!r} is not a constant"]
    zp = consts[name]
    out = []
    if zp.dtype != np.int8:
        out.append(f"{label}: zero point is {zp.dtype}, TensorRT needs int8 (symmetric) quantization")
    if np.any(zp != 0):
        out.append(f"{label}: zero point is not 0 (TensorRT supports symmetric quantization only)")
    return out


def _check_axis(label: str, node, consts: Dict[str, np.ndarray], consumers: Dict[str, List[str]]) -> List[str]:  # noqa: ANN001
    scale = consts.get(node.input[1]) if len(node.input) > 1 else None
    if scale is None or scale.size <= 1:
        return []
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)  # ONNX default axis is 1
    feeds = consumers.get(node.output[0], [])
    want = 1 if "ConvTranspose" in feeds else 0  # per-channel scales are for weights: output channels
    if axis != want:
        return [f"{label}: per-channel weights quantized on axis {axis}; TensorRT needs axis {want} (output channels)"]
    return []


# TensorRT's Q/DQ placement (developer guide, "Q/DQ Layer-Placement Recommendations")

_WEIGHTED = ("Conv", "ConvTranspose", "Gemm")


def check_qdq_placement(proto, *, int8_weights: bool = True) -> List[str]:  # noqa: ANN001
    """Where a Q/DQ graph departs from TensorRT's placement rules (empty list: follows them).

    1. A weighted op (Conv, ConvTranspose, Gemm) has both its data input and its weights quantized,
       or neither.
    2. No Q/DQ on an op's output on its own: every activation DequantizeLinear feeds a weighted op's
       data input, a MatMul, or an Add.
    3. Of an Add fed by a quantized Conv, exactly one input is quantized (the residual); the other
       is that Conv's float output, so Conv + Add (+ ReLU) fuse.
    4. Dedicated pairs: each activation DequantizeLinear has one consumer and each activation
       QuantizeLinear feeds one DequantizeLinear.
    5. ``int8_weights``: weights are int8 initializers behind a DequantizeLinear, not fp32 weights
       quantized by a QuantizeLinear at build time.

    Advisory: TensorRT builds graphs that break these rules, but runs them slower (unfused layers,
    extra reformatting). ``check_qdq`` holds the rules it cannot build without.
    """
    graph = proto.graph
    inits = {t.name for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    users: Dict[str, List[object]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def from_dq(name: str) -> bool:
        node = producer.get(name)
        return node is not None and node.op_type == "DequantizeLinear"

    def weight_dq(node) -> bool:  # noqa: ANN001 - a DQ of a constant (a weight), directly or via Q
        src = node.input[0]
        q = producer.get(src)
        return src in inits or (q is not None and q.op_type == "QuantizeLinear" and q.input[0] in inits)

    out: List[str] = []
    quantized_convs = set()
    for node in graph.node:
        if node.op_type in _WEIGHTED and len(node.input) > 1:
            data_q, weight_q = from_dq(node.input[0]), from_dq(node.input[1])
            label = f"{node.op_type} {node.name or node.output[0]}"
            if weight_q and not data_q:
                out.append(f"{label} has quantized weights but a float input; TensorRT runs it in int8 only "
                           "with Q/DQ on both")
            elif data_q and not weight_q:
                out.append(f"{label} has a quantized input but float weights; quantize its weights too")
            if weight_q:
                quantized_convs.add(node.output[0])
    for node in graph.node:
        label = f"{node.op_type} {node.name or node.output[0]}"
        if node.op_type == "DequantizeLinear" and not weight_dq(node):
            readers = users.get(node.output[0], [])
            wrong = sorted({r.op_type for r in readers if r.op_type not in _WEIGHTED + ("MatMul", "Add")})  # type: ignore[attr-defined]
            if node.output[0] in outputs:
                wrong.append("a graph output")
            if wrong:
                out.append(f"{label} feeds {', '.join(wrong)}: a Q/DQ on an op's output alone, which TensorRT "
                           "cannot fuse into a weighted op; quantize weighted-op and residual inputs only")
            if len(readers) > 1:
                out.append(f"{label} is shared by {len(readers)} consumers; give each its own Q/DQ pair")
        elif node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            readers = users.get(node.output[0], [])
            if len(readers) != 1 or readers[0].op_type != "DequantizeLinear":  # type: ignore[attr-defined]
                out.append(f"{label} feeds {len(readers)} node(s); each activation Q/DQ pair should be "
                           "one QuantizeLinear -> one DequantizeLinear")
        elif node.op_type == "QuantizeLinear" and int8_weights:
            out.append(f"{label} quantizes the constant {node.input[0]} at build time; store int8 weights "
                       "behind a DequantizeLinear instead (4x smaller)")
        elif node.op_type == "Add" and len(node.input) == 2:
            conv_side = [i for i, name in enumerate(node.input) if name in quantized_convs]
            dq_side = [i for i, name in enumerate(node.input) if from_dq(name)]
            if len(dq_side) == 2:
                out.append(f"{label} has both inputs quantized; leave the Conv-side input in float so Conv + Add fuse")
            elif conv_side and not dq_side:
                out.append(f"{label} adds a quantized Conv's output to a float residual; quantize the residual "
                           "input so Conv + Add fuse into one int8 kernel")
            elif dq_side and not conv_side:
                out.append(f"{label} has a quantized residual but its other input is not a quantized Conv's "
                           "output: nothing to fuse it into")
    return out


def format_problems(path: Union[str, Path], problems: Iterable[str]) -> str:
    """One line for a UserError: the file and its problems separated by '; '."""
    items = list(problems)
    more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
    return f"{Path(str(path)).name} is not ready for TensorRT: " + "; ".join(items[:3]) + more + "."
