"""Where the QuantizeLinear/DequantizeLinear pairs go: one INT8 form per runtime.

Both forms come from onnxruntime's QDQ quantizer (what ``quantize_static`` runs inside), fed
precomputed ranges so a calibration cache rebuilds the same file.

TensorRT form (``form="tensorrt"``): the placement of NVIDIA's explicit-quantization guidance
(TensorRT developer guide, "Q/DQ Layer-Placement Recommendations"; ModelOpt's ONNX PTQ applies the
same policy):

- the inputs of weighted ops (Conv) are quantized: activations per tensor, weights per output
  channel, symmetric int8, zero points 0; the weights are stored once, as int8 initializers behind
  a DequantizeLinear (``fp32_weights=True``: fp32 weights through a Q/DQ pair, 4x larger);
- op outputs are not quantized on their own (``OpTypesToExcludeOutputQuantization``): TensorRT
  fuses Conv + ReLU and quantizes at the next weighted op's input;
- of each residual Add, only the residual input is quantized; the other input is the output of a
  Conv (the longer branch), left in float so that Conv + Add (+ ReLU) fuse into one int8 kernel
  (onnxruntime cannot express this; :func:`place_for_tensorrt` removes that pair afterwards);
- a tensor read by several quantized consumers gets one Q/DQ pair per consumer (``DedicatedQDQPair``),
  and consumers that are not quantized read the float tensor.

``fastscnn_edge.export.onnx_rules.check_qdq_placement`` checks these rules on a graph.

CPU form (``form="cpu"``): what onnxruntime's x86 int8 kernels run fastest: uint8 asymmetric
activations, int8 per-channel weights, every op type onnxruntime quantizes (Conv, Add, Concat,
MatMul, Resize, ArgMax, ...), ReLU folded into the quantization range. ``quantize`` then gives a
static cls export the refined head of :mod:`fastscnn_edge.export.cls_head` (float). torch-free.
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

# Conv carries almost all the compute; Add is the residual / feature-fusion sum. The PPM's MatMul
# (the exact pooling, at 1/32 scale), Resize and Concat cost little on a GPU and stay float.
TRT_OP_TYPES = ["Conv", "Add"]
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
TRT_OPTIONS: Dict[str, object] = {
    "ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
    "OpTypesToExcludeOutputQuantization": list(TRT_OP_TYPES), "DedicatedQDQPair": True,
    "QDQOpTypePerChannelSupportToAxis": {"Conv": 0, "ConvTranspose": 1},
}
CPU_OPTIONS: Dict[str, object] = {"ActivationSymmetric": False, "WeightSymmetric": True}


def cpu_op_types() -> List[str]:
    """Every op type onnxruntime's quantizer handles (its QDQ and QLinear registries), sorted."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QDQRegistry) | set(QLinearOpsRegistry))


def insert_qdq(proto, ranges: Dict[str, Tuple[float, float]], *, form: str, method: str,  # noqa: ANN001
               exclude: List[str], fp32_weights: bool = False):  # noqa: ANN202 - (ModelProto, str)
    """Quantize ``proto`` (fp32, not modified) with ``ranges`` {tensor: (lowest, highest)}: (ModelProto, description).

    Plain ONNX shape inference, not ``quant_pre_process``: on our exports (already folded and
    slimmed) it changed no node, but it added com.microsoft and other opset imports to the graph.
    """
    import copy

    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    trt = form == "tensorrt"
    model = copy.deepcopy(proto)
    if not trt:
        ranges = pad_conv_channels(model, ranges)
        # the channel pad stays float: on the NCHW input it is one plane copy
        exclude = exclude + [n.name for n in model.graph.node if n.name.endswith("_channel_pad")]
    options = copy.deepcopy(TRT_OPTIONS if trt else CPU_OPTIONS)
    if trt:
        options["AddQDQPairToWeight"] = fp32_weights
    kwargs = dict(model=onnx.shape_inference.infer_shapes(model), per_channel=True,
                  reduce_range=False, weight_qType=QuantType.QInt8,
                  activation_qType=QuantType.QInt8 if trt else QuantType.QUInt8,
                  tensors_range=tensors_range(ranges, method), nodes_to_quantize=[], nodes_to_exclude=exclude,
                  op_types_to_quantize=list(TRT_OP_TYPES) if trt else cpu_op_types(), extra_options=options)
    if "static" in inspect.signature(QDQQuantizer.__init__).parameters:  # older onnxruntime: fixed mode + static
        from onnxruntime.quantization.quant_utils import QuantizationMode

        kwargs.update(mode=QuantizationMode.QLinearOps, static=True)
    quantizer = QDQQuantizer(**kwargs)
    quantizer.quantize_model()
    out = quantizer.model.model
    version = f"onnxruntime {onnxruntime.__version__} QDQQuantizer (quantize_static's quantizer)"
    if trt:
        place_for_tensorrt(out, fusible_add_inputs(proto))
        weights = "fp32 weights through Q/DQ" if fp32_weights else "int8 weights behind DequantizeLinear"
        return out, (f"{version}, TensorRT placement (Conv inputs, residual Add inputs, dedicated pairs, no "
                     f"output Q/DQ), per-channel {weights}, int8 symmetric activations")
    _topological_sort(out)
    return out, (f"{version}, every op type it quantizes outside {len(exclude)} float node(s), per-channel int8 "
                 "weights, uint8 asymmetric activations")


def tensors_range(ranges: Dict[str, Tuple[float, float]], method: str):  # noqa: ANN201
    """Plain (lowest, highest) floats -> what QDQQuantizer takes: TensorsData (onnxruntime >= 1.17),
    a dict of tuples before that."""
    try:
        from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData
    except ImportError:
        return {k: (np.float32(lo), np.float32(hi)) for k, (lo, hi) in sorted(ranges.items())}
    methods = {"entropy": CalibrationMethod.Entropy, "minmax": CalibrationMethod.MinMax,
               "percentile": CalibrationMethod.Percentile}
    return TensorsData(methods[method], {k: TensorData(lowest=np.float32(lo), highest=np.float32(hi))
                                         for k, (lo, hi) in sorted(ranges.items())})


def pad_conv_channels(model, ranges: Dict[str, Tuple[float, float]]) -> Dict[str, Tuple[float, float]]:  # noqa: ANN001
    """Give an ungrouped Conv that reads a graph input with a channel count not a multiple of 4 zero
    channels up to one (a Pad of the input, zero weights): the same numbers, but onnxruntime's x86
    int8 convolution has a fast kernel only for such channel counts (the first conv's 3 RGB
    channels: 3.0 ms at 512x1024, 0.9 ms with a fourth zero channel, 2 threads). Edits ``model`` in
    place; returns ``ranges`` with the padded tensors' ranges (the input's, widened to hold the pad
    value 0). Convs behind the in-graph uint8 normalization are left alone: onnxruntime would run
    that normalization and the pad channels-last, with slow broadcasts (they stay float instead).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    ranges = dict(ranges)
    graph_inputs = {i.name for i in graph.input}
    for conv in [n for n in graph.node if n.op_type == "Conv" and n.input[0] in graph_inputs]:
        group = next((a.i for a in conv.attribute if a.name == "group"), 1)
        w_init = inits.get(conv.input[1])
        if group != 1 or w_init is None or conv.input[0] not in ranges:
            continue
        w = numpy_helper.to_array(w_init)
        extra = -w.shape[1] % 4
        if extra == 0:
            continue
        w_init.CopyFrom(numpy_helper.from_array(np.concatenate(
            [w, np.zeros((w.shape[0], extra) + w.shape[2:], w.dtype)], axis=1), w_init.name))
        src, padded, pads = conv.input[0], f"{conv.input[0]}_c{w.shape[1] + extra}", f"{conv.name}_channel_pads"
        graph.initializer.append(numpy_helper.from_array(
            np.array([0, 0] + [0] * (w.ndim - 2) + [0, extra] + [0] * (w.ndim - 2), np.int64), pads))
        graph.node.insert(list(graph.node).index(conv), helper.make_node("Pad", [src, pads], [padded],
                                                                         name=f"{conv.name}_channel_pad"))
        conv.input[0] = padded
        lo, hi = ranges[src]
        ranges[padded] = (min(lo, 0.0), max(hi, 0.0))
    return ranges


# --- the TensorRT placement -------------------------------------------------------------------

def fusible_add_inputs(proto) -> Dict[str, int]:  # noqa: ANN001
    """{Add node name: index of its input TensorRT fuses into the Conv that produces it}.

    The fusible input is the output of a Conv read by nothing else; where both inputs are, the one
    on the longer path from their nearest common ancestor (ModelOpt's rule): in a residual block the
    block's last Conv, in Fast-SCNN's feature fusion the low-resolution branch. The other input is
    the residual, which gets the Q/DQ pair.
    """
    nodes = list(proto.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    readers: Dict[str, int] = {}
    for n in nodes:
        for name in n.input:
            readers[name] = readers.get(name, 0) + 1
    graph_outputs = {o.name for o in proto.graph.output}
    out: Dict[str, int] = {}
    for add in (n for n in nodes if n.op_type == "Add" and len(n.input) == 2):
        if not all(i in producer and producer[i].op_type != "Constant" for i in add.input):
            continue
        fusible = [i for i, name in enumerate(add.input) if producer[name].op_type in ("Conv", "ConvTranspose")
                   and readers.get(name, 0) == 1 and name not in graph_outputs]
        if len(fusible) == 1:
            out[add.name] = fusible[0]
        elif len(fusible) == 2:
            d0, d1 = _distances_to_common_ancestor(producer, add.input[0], add.input[1])
            out[add.name] = 0 if d0 > d1 else 1
    return out


def _ancestor_distances(producer: Dict[str, object], tensor: str) -> Dict[str, int]:
    """{tensor name: fewest nodes between it and ``tensor``} over everything ``tensor`` depends on."""
    dist = {tensor: 0}
    queue = deque([tensor])
    while queue:
        name = queue.popleft()
        node = producer.get(name)
        for parent in (node.input if node is not None else []):  # type: ignore[attr-defined]
            if parent and parent not in dist:
                dist[parent] = dist[name] + 1
                queue.append(parent)
    return dist


def _distances_to_common_ancestor(producer: Dict[str, object], a: str, b: str) -> Tuple[int, int]:
    da, db = _ancestor_distances(producer, a), _ancestor_distances(producer, b)
    common = [t for t in da if t in db]
    if not common:
        return 0, 0
    nearest = min(common, key=lambda t: (da[t] + db[t], t))
    return da[nearest], db[nearest]


def place_for_tensorrt(model, fusible: Dict[str, int]) -> None:  # noqa: ANN001
    """Edit onnxruntime's Q/DQ output in place into TensorRT's placement (module doc).

    ``fusible`` comes from :func:`fusible_add_inputs` on the fp32 graph (node names are kept).
    """
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}

    def float_source(name: str) -> Optional[str]:
        """The float tensor behind an activation DQ(Q(x)), else None."""
        dq = producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] in inits:
            return None
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or q.input[0] in inits:
            return None
        return q.input[0]

    for node in graph.node:
        for j, name in enumerate(node.input):
            src = float_source(name)
            if src is not None and not _wants_qdq(node, j, fusible):
                node.input[j] = src  # a fused Add input, or a consumer that runs in float
    _dedicate_pairs(model, producer, inits)
    _drop_dead(model)
    _topological_sort(model)


def _wants_qdq(node, index: int, fusible: Dict[str, int]) -> bool:  # noqa: ANN001
    if node.op_type in ("Conv", "ConvTranspose", "Gemm"):
        return index == 0
    if node.op_type == "MatMul":
        return True
    if node.op_type == "Add":
        return fusible.get(node.name) != index
    return False


def _dedicate_pairs(model, producer, inits: Set[str]) -> None:  # noqa: ANN001
    """Give every consumer of a shared activation Q/DQ pair its own copy."""
    import copy

    graph = model.graph
    users: Dict[str, List[Tuple[object, int]]] = {}
    for node in graph.node:
        for j, name in enumerate(node.input):
            users.setdefault(name, []).append((node, j))
    new_nodes = []
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits]:
        q = producer.get(dq.input[0])
        consumers = users.get(dq.output[0], [])
        if q is None or q.op_type != "QuantizeLinear" or len(consumers) < 2:
            continue
        for k, (node, j) in enumerate(consumers[1:], start=2):
            q2, dq2 = copy.deepcopy(q), copy.deepcopy(dq)
            q2.name, q2.output[0] = f"{q.name}_{k}", f"{q.output[0]}_{k}"
            dq2.name, dq2.input[0], dq2.output[0] = f"{dq.name}_{k}", q2.output[0], f"{dq.output[0]}_{k}"
            node.input[j] = dq2.output[0]  # type: ignore[attr-defined]
            new_nodes += [q2, dq2]
    graph.node.extend(new_nodes)


def _drop_dead(model) -> None:  # noqa: ANN001
    """Remove Q/DQ nodes nobody reads any more, then initializers nobody reads."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        read = {name for n in graph.node for name in n.input} | outputs
        dead = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                and not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    read = {name for n in graph.node for name in n.input} | outputs
    for t in [t for t in graph.initializer if t.name not in read]:
        graph.initializer.remove(t)


def _topological_sort(model) -> None:  # noqa: ANN001
    from onnxruntime.quantization.onnx_model import ONNXModel

    ONNXModel(model).topological_sort()
