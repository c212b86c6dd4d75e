"""The ``cls`` head for onnxruntime on the CPU: the same labels, full-resolution scores only where needed.

The dense head upsamples the 1/8-resolution logits x8 (bilinear, half-pixel) and takes the argmax
at every output pixel: 19 scores per pixel written and read back, ~5 ms of memory traffic at
512x1024 on a 2-core CPU, whatever the network's precision (for the INT8 CPU form it was a third
of the frame). :func:`refine_cls_head` rewrites it so that the scores are computed only in the
cells where they can change the answer:

- A cell is the block of s x s output pixels (s = the upsampling factor) that lies between four
  neighbouring low-resolution pixels, its corners; every pixel of it is a convex combination
  (weights >= 0, summing to 1) of those four logit vectors.
- If the four corners have the same argmax c (c the first maximum at each), then at each corner
  v_c >= v_k for every k, and v_c > v_k for k < c; a convex combination keeps both, so c is the
  first maximum at every pixel of the cell. Those cells take the label c, with no upsampling.
- Only the other cells (class boundaries: 12-14 % of the cells on synthetic street scenes, about
  60 % on noise) have their s x s pixels interpolated and argmaxed, as one matrix product.

Exact in real arithmetic; in float32 the interpolation is summed in another order than
onnxruntime's Resize, which can move a label only where two classes tie to rounding (0 of 4.7 M
pixels on fp32 scenes; 1-5 per frame with INT8's quantized, often tied, logits). The export
validation checks the labels against PyTorch as for every head.

Cells at the image border have clamped corners (the low-resolution maps padded with their edge
values), which is exactly the half-pixel Resize's clamping. A frame with more than ``MAX_MIXED``
of its cells mixed (noise, a checkerboard) takes the dense head instead, inside an ``If``: the worst
case is the dense head plus the check (about 0.3 ms at 512x1024). Static sizes, batch 1, an even
integer factor and at most 256 classes only; anything else keeps the dense head (the reason is
returned). The graph uses NonZero, ScatterND and If with a data-dependent count, which TensorRT
would build as dynamic shapes: this head is for onnxruntime, and ``build-engine`` refuses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from fastscnn_edge.core.errors import UserError

if TYPE_CHECKING:
    import numpy as np

    from fastscnn_edge.runtime.artifact import Artifact

LAYOUT = "refine"  # the ``cls_head_layout`` metadata value of this head
# Above this share of mixed cells a frame takes the dense head. Measured (benchmarks/results/
# quant-speed-cpu-2026-11-25, 2 threads, 512x1024): refined 1.0 ms at 14 % mixed, 5.2 ms with every
# cell mixed, dense 4.9 ms; falling back well before the crossing bounds the worst case by the dense
# head on machines where the mixed cells' work costs relatively more.
MAX_MIXED = 0.6
PREFIX = "cls_refine/"


def refine_cls_head(proto, max_mixed: float = MAX_MIXED) -> Optional[str]:  # noqa: ANN001 - onnx.ModelProto, rewritten in place
    """Replace the dense head ``[Transpose NHWC] -> Resize -> ArgMax -> Cast...`` with the refined
    one; None when rewritten, else why the dense head stays (nothing is changed then). A frame with
    more than ``max_mixed`` of its cells mixed runs the dense head instead (an If): the worst case
    costs the dense head plus the check."""
    import onnx
    from onnx import TensorProto

    g = proto.graph
    found = _dense_head(proto)
    if isinstance(found, str):
        return found
    logits, removed, out = found
    shapes = _static_shapes(proto)
    xs = shapes.get(logits)
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in out.type.tensor_type.shape.dim]
    if not xs or 0 in xs or len(dims) != 3 or 0 in dims:
        return "the size is dynamic (the refined head is built for one static size)"
    n, classes, h, w = xs
    if n != 1 or dims[0] != 1:
        return "the batch is not 1"
    if classes > 256:
        return f"{classes} classes (the refined head assembles uint8 labels)"
    if out.type.tensor_type.elem_type not in (TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64):
        return "the labels are not uint8, int32 or int64"
    H, W = dims[1], dims[2]
    s = H // h
    if s * h != H or s * w != W or s % 2:
        return f"the upsampling {h}x{w} -> {H}x{W} is not one even integer factor"
    keep = [nd for nd in g.node if nd.output[0] not in removed]
    del g.node[:]
    g.node.extend(keep)
    nodes, inits = _refined_nodes(logits, out.name, out.type.tensor_type.elem_type, classes, h, w, s, max_mixed)
    g.node.extend(nodes)
    g.initializer.extend(inits)
    _drop_unused(proto)
    onnx.checker.check_model(proto)
    return None


def refuse_refined(a: "Artifact", what: str) -> None:
    """Refuse an export with this head where ``what`` (FP16, the TensorRT form, an engine) is for GPUs."""
    if a.meta.extra.get("cls_head_layout") == LAYOUT:
        raise UserError(f"{a.path.name} has the refined cls head, which is for onnxruntime on the CPU (its work depends "
                        f"on the image); {what} is for GPUs.", fix="export again with the default --cls-layout nhwc "
                        "(the dense head, same labels) and use that file.")


# --- the pattern ------------------------------------------------------------------------------

def _dense_head(proto):  # noqa: ANN001, ANN202 - (logits, outputs of the nodes to remove, graph output) | reason
    g = proto.graph
    if len(g.output) != 1:
        return "the graph has more than one output"
    out = g.output[0]
    producer = {o: nd for nd in g.node for o in nd.output}
    consumers: Dict[str, List[Any]] = {}
    for nd in g.node:
        for i in nd.input:
            consumers.setdefault(i, []).append(nd)
    chain = []
    node = producer.get(out.name)
    while node is not None and node.op_type == "Cast":  # ArgMax -> [Cast(float)] -> Cast(labels dtype)
        chain.append(node)
        node = producer.get(node.input[0])
    if node is None or node.op_type != "ArgMax":
        return "the output is not an ArgMax's (not a cls head)"
    argmax = node
    am = {a.name: a.i for a in argmax.attribute}
    if am.get("keepdims", 1) != 0 or am.get("select_last_index", 0) != 0:
        return "the ArgMax keeps its axis or picks the last maximum"
    resize = producer.get(argmax.input[0])
    if resize is None or resize.op_type != "Resize" or len(consumers.get(resize.output[0], [])) != 1:
        return "the ArgMax does not read a Resize"
    ra = {a.name: a for a in resize.attribute}
    mode = ra["mode"].s.decode() if "mode" in ra else "nearest"
    coord = ra["coordinate_transformation_mode"].s.decode() if "coordinate_transformation_mode" in ra else "half_pixel"
    if mode != "linear" or coord not in ("half_pixel", "pytorch_half_pixel") or \
            ("antialias" in ra and ra["antialias"].i) or "axes" in ra:
        return f"the upsampling is {mode}/{coord}, not bilinear half-pixel (align_corners=False)"
    src = producer.get(resize.input[0])
    removed = {argmax.output[0], resize.output[0]} | {c.output[0] for c in chain}
    axis = am.get("axis", 0)
    if src is not None and src.op_type == "Transpose" and \
            next((list(a.ints) for a in src.attribute if a.name == "perm"), None) == [0, 2, 3, 1]:
        if axis not in (3, -1):
            return "the ArgMax is not over the channels"
        if len(consumers.get(src.output[0], [])) == 1:
            removed.add(src.output[0])
        logits = src.input[0]
    elif axis == 1:
        logits = resize.input[0]
    else:
        return "the ArgMax is not over the channels"
    if any(len(consumers.get(c.output[0], [])) > 1 for c in chain[1:]) or \
            len(consumers.get(argmax.output[0], [])) > (1 if chain else 0):
        return "the head's tensors have other readers"
    return logits, removed, out


def _static_shapes(proto) -> Dict[str, List[int]]:  # noqa: ANN001
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    return shapes


# --- the refined head -------------------------------------------------------------------------

def cell_tables(h: int, w: int, s: int) -> Tuple["np.ndarray", "np.ndarray"]:
    """The (h+1) x (w+1) cells' corner indices into the flattened h x w logits, [cells, 4] (top-left,
    top-right, bottom-left, bottom-right, clamped at the border), and the interpolation weights of
    the s x s pixels of a cell from its corners, [s*s, 4] float32.

    Cell (i, j) holds the output pixels s*i - s/2 .. s*i + s/2 - 1 (rows; columns alike), which
    half-pixel bilinear resizing maps between input rows i-1 and i at fractions (0.5 .. s-0.5)/s.
    """
    import numpy as np

    top, bottom = np.clip(np.arange(h + 1) - 1, 0, h - 1), np.clip(np.arange(h + 1), 0, h - 1)
    left, right = np.clip(np.arange(w + 1) - 1, 0, w - 1), np.clip(np.arange(w + 1), 0, w - 1)
    corners = np.stack([top[:, None] * w + left[None], top[:, None] * w + right[None],
                        bottom[:, None] * w + left[None], bottom[:, None] * w + right[None]], -1)
    f = (np.arange(s) + 0.5) / s  # the share of the second (bottom / right) corner
    a = np.stack([1 - f, f], 1)  # [s, 2]
    weights = (a[:, None, :, None] * a[None, :, None, :]).reshape(s * s, 4)
    return corners.reshape(-1, 4).astype(np.int64), weights.astype(np.float32)


def _refined_nodes(logits: str, output: str, out_type: int, classes: int, h: int, w: int, s: int,
                   max_mixed: float):  # noqa: ANN202 - (nodes, initializers)
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    outer: List[Any] = []  # NodeProtos
    fine: List[Any] = []  # the If's branches: the refined head, and the dense one for a frame
    dense: List[Any] = []  # with more than max_mixed of its cells mixed
    inits: Dict[str, Any] = {}  # name -> TensorProto
    cells = (h + 1) * (w + 1)
    _, weights = cell_tables(h, w, s)

    def const(name: str, value) -> str:  # noqa: ANN001 - outer-scope initializers, read by both branches too
        if PREFIX + name not in inits:
            inits[PREFIX + name] = numpy_helper.from_array(np.asarray(value), PREFIX + name)
        return PREFIX + name

    def op(op_type: str, inputs: List[str], name: str, into: Optional[List[Any]] = None, **attrs) -> str:  # noqa: ANN003
        (outer if into is None else into).append(
            helper.make_node(op_type, inputs, [PREFIX + name], name=PREFIX + name, **attrs))
        return PREFIX + name

    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    edge = i64(0, 1, 1, 0, 1, 1)  # pad [1, h, w] by one row/column of each border's own value (the clamping)
    # the low-resolution labels; cell (i, j)'s corners are padded pixels (i, j), (i, j+1), (i+1, j), (i+1, j+1)
    low = op("Pad", [op("ArgMax", [logits], "low_argmax", axis=1, keepdims=0), const("edge", edge)], "low_padded",
             mode="edge")  # [1, h+2, w+2]

    def corner(name: str, dy: int, dx: int) -> str:
        return op("Slice", [low, const(f"{name}_starts", i64(dy, dx)), const(f"{name}_ends", i64(h + 1 + dy, w + 1 + dx)),
                            const("hw_axes", i64(1, 2))], name)

    tl = corner("top_left", 0, 0)
    agree = op("And", [op("And", [op("Equal", [tl, corner("top_right", 0, 1)], "same_tr"),
                                  op("Equal", [tl, corner("bottom_left", 1, 0)], "same_bl")], "same_tr_bl"),
                       op("Equal", [tl, corner("bottom_right", 1, 1)], "same_br")], "agree")
    mixed = op("Reshape", [op("Not", [agree], "mixed_2d"), const("flat", i64(-1))], "mixed")  # [cells]
    k = op("Reshape", [op("NonZero", [mixed], "mixed_where"), const("flat_k", i64(-1))], "mixed_cells")  # [K]
    too_many = op("Greater", [op("Shape", [k], "mixed_count"), const("max_mixed", i64(int(max_mixed * cells)))],
                  "too_many_mixed")
    # refined: the mixed cells' corner logits, interpolated to their s*s pixels in one product, argmax
    scores = op("Pad", [op("Transpose", [logits], "logits_nhwc", fine, perm=[0, 2, 3, 1]),
                        const("edge_nhwc", i64(0, 1, 1, 0, 0, 1, 1, 0))], "logits_padded", fine, mode="edge")
    scores = op("Reshape", [scores, const("hw_c", i64((h + 2) * (w + 2), classes))], "logits_flat", fine)
    row = op("Div", [k, const("cells_per_row", i64(w + 1))], "cell_row", fine)
    col = op("Mod", [k, const("cells_per_row", i64(w + 1))], "cell_col", fine)
    first = op("Unsqueeze", [op("Add", [k, row], "corner_tl", fine), const("axis1", i64(1))], "corner_tl_col", fine)
    idx = op("Add", [first, const("corner_offsets", i64(0, 1, w + 2, w + 3))], "corner_index", fine)  # [K, 4]
    q = op("Gather", [scores, idx], "corner_scores", fine, axis=0)  # [K, 4, C]
    q = op("Reshape", [op("Transpose", [q], "corner_scores_t", fine, perm=[1, 0, 2]), const("four", i64(4, -1))],
           "corner_rows", fine)
    v = op("Reshape", [op("MatMul", [const("weights", weights), q], "pixel_scores", fine),
                       const("pix", i64(s * s, -1, classes))], "pixel_scores_3d", fine)  # [s*s, K, C]
    refined = op("Cast", [op("ArgMax", [v], "pixel_argmax", fine, axis=2, keepdims=0)], "pixel_labels", fine,
                 to=TensorProto.UINT8)  # [s*s, K]
    refined = op("Reshape", [op("Transpose", [refined], "pixel_labels_t", fine, perm=[1, 0]), const("kss", i64(-1, s, s))],
                 "cell_blocks", fine)  # [K, s, s]
    # every cell's s x s block filled with its top-left corner's label (right where the corners agree),
    # as the image shifted by s/2 in [cell row, row in cell, cell column, column in cell]; then the
    # mixed cells' rows are written over it
    image = op("Tile", [op("Reshape", [op("Cast", [tl], "cell_labels", fine, to=TensorProto.UINT8),
                                       const("cell_grid", i64(h + 1, 1, w + 1, 1))], "cell_grid_labels", fine),
                        const("block", i64(1, s, 1, s))], "shifted_blocks", fine)
    where = op("Add", [op("Add", [op("Mul", [op("Unsqueeze", [row, const("axes12", i64(1, 2))], "row3", fine),
                                             const("pick_row", i64(1, 0, 0).reshape(1, 1, 3))], "row_part", fine),
                                  op("Mul", [op("Unsqueeze", [col, const("axes12", i64(1, 2))], "col3", fine),
                                             const("pick_col", i64(0, 0, 1).reshape(1, 1, 3))], "col_part", fine)],
                       "cell_part", fine),
                       const("sub_rows", np.stack([np.zeros(s), np.arange(s), np.zeros(s)], 1).astype(np.int64)[None])],
               "block_rows", fine)  # [K, s, 3]: (cell row, row inside the cell, cell column)
    image = op("ScatterND", [image, where, refined], "refined_blocks", fine)
    image = op("Slice", [op("Reshape", [image, const("image", i64((h + 1) * s, (w + 1) * s))], "shifted_image", fine),
                         const("starts", i64(s // 2, s // 2)), const("ends", i64(s // 2 + s * h, s // 2 + s * w)),
                         const("axes", i64(0, 1))], "cropped", fine)
    op("Reshape", [image, const("labels_shape", i64(1, s * h, s * w))], "refined_labels", fine)
    # dense: what the export's NHWC head computes
    up = op("Resize", [op("Transpose", [logits], "dense_nhwc", dense, perm=[0, 2, 3, 1]), "", "",
                       const("dense_sizes", i64(1, s * h, s * w, classes))], "dense_up", dense, mode="linear",
            coordinate_transformation_mode="half_pixel")
    op("Cast", [op("ArgMax", [up], "dense_argmax", dense, axis=3, keepdims=0)], "dense_labels", dense,
       to=TensorProto.UINT8)

    def branch(name: str, nodes: List[Any], result: str):  # noqa: ANN202
        out = helper.make_tensor_value_info(result, TensorProto.UINT8, [1, s * h, s * w])
        return helper.make_graph(nodes, PREFIX + name, [], [out])

    labels = op("If", [too_many], "labels_uint8", then_branch=branch("dense", dense, PREFIX + "dense_labels"),
                else_branch=branch("refined", fine, PREFIX + "refined_labels"))
    if out_type != TensorProto.UINT8:
        labels = op("Cast", [labels], "labels_cast", to=out_type)
    outer.append(helper.make_node("Identity", [labels], [output], name=PREFIX + "labels"))
    return outer, list(inits.values())


def _drop_unused(proto) -> None:  # noqa: ANN001
    """Initializers and value_info the removed dense head alone used (the If's branches read
    outer-scope initializers too)."""
    g = proto.graph

    def inputs(graph) -> set:  # noqa: ANN001
        found = set()
        for nd in graph.node:
            found.update(nd.input)
            for a in nd.attribute:
                if a.HasField("g"):
                    found |= inputs(a.g)
        return found

    used = inputs(g) | {o.name for o in g.output}
    made = {o for nd in g.node for o in nd.output} | {i.name for i in g.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    for v in [v for v in g.value_info if v.name not in made]:
        g.value_info.remove(v)
