"""Precision-explicit ONNX: FP16 graphs and INT8 Q/DQ graphs from an fp32 export.

Every TensorRT generation builds from these files (11.x only from them), and onnxruntime runs
them on CPU, which is how each result is checked against the fp32 model before it is written.

- ``to_fp16``: NVIDIA ModelOpt AutoCast where installed, else onnxconverter-common, with the graph
  I/O types unchanged and the in-graph uint8 normalization and the head kept in fp32.
- ``to_int8``: Q/DQ with onnxruntime's calibrator and QDQ quantizer (what ``quantize_static`` runs
  inside), split so the ranges can be cached and reused without the images. Where the Q/DQ pairs
  go is :mod:`fastscnn_edge.quantize.qdq`: ``form="tensorrt"`` follows TensorRT's placement rules,
  ``form="cpu"`` is the form onnxruntime's x86 int8 kernels run fastest. The check against
  fp32 (agreement, and mIoU where there is ground truth) runs on images calibration never saw.

torch-free: needs onnx, onnxruntime, numpy (and onnxconverter-common for FP16).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Set, Tuple

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.paths import beside, calibration_cache
from fastscnn_edge.core.progress import Progress
from fastscnn_edge.core.vocab import INT8_FORMS
from fastscnn_edge.export.cls_head import refuse_refined
from fastscnn_edge.quantize.calibration import FORMS as RANGE_FORMS, METHODS
from fastscnn_edge.quantize.sensitivity import FLOAT_TYPES, LAYER_OPS, quantizable_layers, release_float_inputs, resolve
from fastscnn_edge.runtime.artifact import Artifact, open_artifact
from fastscnn_edge.quantize.quant_eval import (  # noqa: F401 - part of this module's public surface
    FP16_MIN_AGREEMENT, EvalFrames, check_bar, compare, cpu_session, describe, image_frames, synthetic_frames,
)

if TYPE_CHECKING:
    from fastscnn_edge.quantize.calibration import CalibrationSet
    from fastscnn_edge.quantize.sensitivity import Outlier, Plan

Log = Optional[Callable[[str], None]]

# The INT8 forms: TensorRT's placement and onnxruntime's (ranges from our calibration), and
# OpenVINO's (NNCF's post-training quantization on the same images: its own statistics, no cache).
FORMS = INT8_FORMS
assert FORMS == RANGE_FORMS + ("openvino",)

OUTLIER_FRAMES = 4  # calibration frames the range-outlier report looks at
DEFAULT_HOLDOUT = 0.1  # of --calib, when no --val is given: every 10th image is never calibrated on
# Kept in fp32 in FP16 graphs besides the normalization and the head after the last Conv.
FP16_BLOCK_OPS = ["Softmax", "ArgMax"]
# In onnxconverter-common's default block list; fp16 Resize inside the body measured the same
# agreement as fp32 Resize, and TensorRT runs it natively, so it is converted.
FP16_ALLOW_OPS = ["Resize"]
DYNAMIC_CHECK_RES = (256, 512)  # where a dynamic-shape FP16 model is validated


@dataclass
class QuantizeResult:
    """A written FP16/INT8 ONNX, its metadata, the CPU check against fp32, and the wall time (s)."""

    path: Path
    meta: ModelMeta
    validation: Dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cache: Optional[Path] = None  # the calibration cache written or reused (INT8)
    cache_reused: bool = False
    checked_on: str = "synthetic frames"  # what the validation frames were (never calibration images)
    plan: Optional["Plan"] = None  # mixed INT8: sensitivity, the budget's float layers, their cost
    outliers: List["Outlier"] = field(default_factory=list)  # calibrated tensors whose range an outlier sets

    @property
    def size(self) -> int:
        return self.path.stat().st_size


# --- shared steps -----------------------------------------------------------------------------

def load_fp32(src: "Path | Artifact"):  # noqa: ANN201 - (Artifact, onnx.ModelProto to edit, ModelMeta, bytes)
    """The fp32 export ``src`` (an Artifact, or a path read once), a copy of its graph to edit, its
    metadata and bytes; refuse anything already reduced in precision."""
    import copy

    a = open_artifact(src)
    if a.kind != "onnx":
        raise UserError(f"{a.path} is not an ONNX file.", fix="pass an .onnx written by `fastscnn-edge export`.")
    proto, meta = a.proto, a.meta
    reason = _reduced_precision(proto)
    if meta.precision != "fp32" or reason:
        raise UserError(f"{a.path} is already {meta.precision if meta.precision != 'fp32' else 'reduced'} precision"
                        f"{f' ({reason})' if reason else ''}; quantizing it again would compound the error.",
                        fix="pass the fp32 ONNX from `fastscnn-edge export`.")
    return a, copy.deepcopy(proto), copy.deepcopy(meta), a.data


def _reduced_precision(proto) -> str:  # noqa: ANN001
    import onnx

    q_ops = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
             "DynamicQuantizeLinear"}
    found = sorted({n.op_type for n in proto.graph.node if n.op_type in q_ops})
    if found:
        return f"has {', '.join(found)} nodes"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer):
        return "has fp16 weights"
    return ""


def edge_nodes(proto) -> Tuple[List[str], List[str]]:  # noqa: ANN001
    """Names of the nodes before the first Conv (in-graph normalization) and after the last (head)."""
    nodes = list(proto.graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    if not convs:
        raise UserError("the model has no Conv node; it is not a Fast-SCNN export.",
                        fix="pass an .onnx written by `fastscnn-edge export`.")
    return [n.name for n in nodes[:convs[0]]], [n.name for n in nodes[convs[-1] + 1:]]


def shape_only_nodes(proto) -> List[str]:  # noqa: ANN001
    """Names of the nodes that compute from shapes and constants alone, not from the image.

    In a dynamic export they build the exact PPM pooling matrices at run time (Shape -> Range ->
    masks -> Cast -> Div); kept fp32 in FP16 graphs, as the static export's folded matrices are:
    converted, their ``Cast(to=FLOAT)`` and the fp16 arithmetic around it disagree on types.
    """
    from_image = {i.name for i in proto.graph.input}
    out = []
    for node in proto.graph.node:  # topological order
        if node.op_type != "Shape" and any(i in from_image for i in node.input):
            from_image.update(node.output)
        elif node.op_type not in ("Shape", "Constant"):
            out.append(node.name)
    return out


def _finish(proto, meta: ModelMeta, src_bytes: bytes, frames: EvalFrames, dst: Path, *,  # noqa: ANN001
            validate: bool, min_agreement: Optional[float], log: Log, runtime: str = "onnxruntime") -> Dict[str, float]:
    """Attach metadata, check the graph, validate against fp32, then write atomically."""
    import onnx

    from fastscnn_edge.core.fileio import atomic_path
    from fastscnn_edge.core.metadata import meta_from_proto, write_onnx_meta

    write_onnx_meta(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    meta_from_proto(proto, dst)  # what every reader checks: the fields and the graph against them
    data = proto.SerializeToString()
    validation: Dict[str, float] = {}
    if validate:
        validation = compare(src_bytes, data, frames.inputs, meta.head, frames.labels, meta.num_classes,
                             runtime=runtime)
        check_bar(validation, min_agreement, meta.precision, meta, log)
    else:
        cpu_session(data)  # at least prove onnxruntime loads it
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)
    return validation


def _resolution(a: Artifact, asked: Optional[Tuple[int, int]], *, needed: bool) -> Tuple[int, int]:
    """The size to calibrate and validate at: a static export's own (``asked`` must match), else
    ``asked``; a dynamic export's INT8 calibration needs the deployment size, its FP16 check does not."""
    if a.resolution is not None or asked is not None:
        return tuple(a.resolution_for(asked))  # type: ignore[return-value]
    if needed:
        raise UserError(f"{a.path} has dynamic height/width; INT8 calibration needs the deployment size.",
                        fix="pass --res HxW (the size it will run at), or export with a fixed --res.")
    return DYNAMIC_CHECK_RES


def _output_for(src: Path, dst: Optional[Path], default: Path) -> Path:
    """The output path, refusing to overwrite the fp32 source (the cache is keyed by its hash)."""
    from fastscnn_edge.core.fileio import check_writable

    out = Path(dst) if dst is not None else default
    if out.resolve() == src.resolve():
        raise UserError(f"output {out} is the input model.", fix="pass another -o, or leave -o out for the default name.")
    check_writable(out)
    return out


# --- FP16 -------------------------------------------------------------------------------------

def to_fp16(src: "Path | Artifact", dst: Optional[Path] = None, *, validate: bool = True,
            min_agreement: Optional[float] = None, log: Log = None,
            res: Optional[Tuple[int, int]] = None) -> QuantizeResult:
    """Write an FP16 copy of an fp32 export with its I/O types unchanged, validated on CPU.

    The in-graph uint8 normalization (before the first Conv) and the head after the last Conv
    (Resize, Softmax/ArgMax, the label Cast) stay fp32. Validation: synthetic frames through the
    preprocessing policy; ``min_agreement`` (0..1) raises ValidationFailed below it, else a
    warning under 99.9 %. Nothing is written on failure.
    """
    t0 = time.perf_counter()
    a, proto, meta, src_bytes = load_fp32(src)
    src = a.path
    refuse_refined(a, "FP16")
    dst = _output_for(src, dst, beside(src, "fp16"))
    pre, head = edge_nodes(proto)
    if not head:  # the logits head ends in the classifier Conv: keep that Conv fp32, so its output (the
        head = [[n for n in proto.graph.node if n.op_type == "Conv"][-1].name]  # graph output) stays fp32
    pre += [n for n in shape_only_nodes(proto) if n not in pre and n not in head]
    converted, converter = _convert_fp16(src, proto, pre, head)
    out_meta = _derived_meta(meta, "fp16", {"converter": converter, "fp32_nodes": str(len(pre + head)),
                                           "source_onnx_sha256": _sha(src_bytes)})
    frames = EvalFrames(synthetic_frames(meta, _resolution(a, res, needed=False)))
    v = _finish(converted, out_meta, src_bytes, frames, dst, validate=validate, min_agreement=min_agreement, log=log)
    return QuantizeResult(dst, out_meta, v, time.perf_counter() - t0, checked_on=frames.source)


def _convert_fp16(src: Path, proto, pre: List[str], head: List[str]):  # noqa: ANN001, ANN202
    """(fp16 ModelProto, converter description). ModelOpt AutoCast first, onnxconverter-common else."""
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision  # type: ignore[import-not-found]
    except ImportError:
        convert_to_mixed_precision = None
    if convert_to_mixed_precision is not None:
        import modelopt  # type: ignore[import-not-found]

        model = convert_to_mixed_precision(onnx_path=str(src), low_precision_type="fp16", keep_io_types=True,
                                           nodes_to_exclude=[_exact(n) for n in pre + head],
                                           op_types_to_exclude=FP16_BLOCK_OPS)
        return model, f"nvidia-modelopt {getattr(modelopt, '__version__', '?')} AutoCast"
    try:
        import onnxconverter_common
        from onnxconverter_common import float16
    except ImportError:
        raise MissingDependency("FP16 conversion needs nvidia-modelopt (AutoCast) or onnxconverter-common.",
                                fix="pip install onnxconverter-common (or nvidia-modelopt[onnx]).") from None
    import warnings

    body, reattach = _split_head(proto, head)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns for every constant it clamps to the fp16 range
        model = float16.convert_float_to_float16(
            body, keep_io_types=True, op_block_list=fp16_op_block_list(float16.DEFAULT_OP_BLOCK_LIST),
            node_block_list=pre)
    del model.graph.value_info[:]  # the converter leaves stale fp32 entries beside its fp16 ones
    reattach(model)
    return model, (f"onnxconverter-common {onnxconverter_common.__version__} convert_float_to_float16"
                   "(keep_io_types=True), head after the last Conv kept fp32")


def _split_head(proto, head: List[str]):  # noqa: ANN001, ANN202
    """Cut the fp32 head off: (body ending at the last Conv's output, ``reattach(model)``).

    onnxconverter-common fails ("downstream node of the second cast node should be graph output")
    when a blocked node writes a graph output with keep_io_types; converting the body alone, whose
    output is the fp32 logits, and putting the untouched head back avoids that.
    """
    import copy

    import onnx

    model = onnx.shape_inference.infer_shapes(copy.deepcopy(proto))  # the converter places Casts by value_info
    head_set = set(head)
    head_nodes = [copy.deepcopy(n) for n in model.graph.node if n.name in head_set]
    body_nodes = [n for n in model.graph.node if n.name not in head_set]
    used_by_body = {i for n in body_nodes for i in n.input}
    head_inputs = {i for n in head_nodes for i in n.input}
    head_inits = [copy.deepcopy(t) for t in model.graph.initializer if t.name in head_inputs and t.name not in used_by_body]
    produced = {o for n in body_nodes for o in n.output}
    cut = [i for i in dict.fromkeys(i for n in head_nodes for i in n.input) if i in produced]
    infos = {v.name: v for v in model.graph.value_info}
    outputs = [copy.deepcopy(o) for o in model.graph.output]
    del model.graph.node[:]
    model.graph.node.extend(body_nodes)
    keep_inits = [t for t in model.graph.initializer if t.name not in {h.name for h in head_inits}]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep_inits)
    del model.graph.output[:]
    model.graph.output.extend(copy.deepcopy(infos[name]) for name in cut)

    def reattach(converted) -> None:  # noqa: ANN001
        converted.graph.node.extend(head_nodes)
        converted.graph.initializer.extend(head_inits)
        del converted.graph.output[:]
        converted.graph.output.extend(outputs)

    return model, reattach


def fp16_op_block_list(default: List[str]) -> List[str]:
    """onnxconverter-common's default list minus Resize (the feature-map upsampling inside the body
    is exact enough in fp16 and TensorRT runs it natively), plus the head ops."""
    return [op for op in default if op not in FP16_ALLOW_OPS] + FP16_BLOCK_OPS


def _exact(name: str) -> str:
    """AutoCast takes node-name regex patterns; match exactly one name."""
    import re

    return f"^{re.escape(name)}$"


def meta_input_name(meta: ModelMeta) -> str:
    """The graph input's name for ``meta``'s input format (what export names it; conformance-checked)."""
    from fastscnn_edge.core.conformance import INPUT_NAMES

    return INPUT_NAMES[meta.input_format]


def _derived_meta(meta: ModelMeta, precision: str, extra: Dict[str, str]) -> ModelMeta:
    import dataclasses

    return dataclasses.replace(meta, precision=precision, extra={**meta.extra, **extra})


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- INT8 -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Int8Options:
    """Every option of INT8 quantization (``quantize --int8``'s flags), typed; see :func:`to_int8`.

    ``form``: tensorrt | cpu | openvino. ``method``: the calibration method (entropy | minmax |
    percentile) and ``percentile`` its value. ``count``: calibration images used (default: all).
    ``cache``: the calibration-range cache file. ``holdout``/``val``: the held-out check images.
    ``fp32_weights``: fp32 weights behind Q/DQ pairs (TensorRT form). ``validate``/``min_agreement``:
    the check against fp32 and its floor. ``res``: the size of a dynamic export. ``refine_head``: the
    CPU form's refined cls head. ``exclude``/``max_drop``/``sensitivity``/``speed``: mixed INT8.
    ``float_type``: what the TensorRT form's float parts compute in (fp32 | fp16).
    """

    form: str = "tensorrt"
    method: str = "entropy"
    percentile: Optional[float] = None
    count: Optional[int] = None
    cache: Optional[Path] = None
    holdout: Optional[float] = None
    val: Optional[Path] = None
    fp32_weights: bool = False
    validate: bool = True
    min_agreement: Optional[float] = None
    res: Optional[Tuple[int, int]] = None
    refine_head: bool = True
    exclude: Sequence[str] = ()
    max_drop: Optional[float] = None
    sensitivity: bool = False
    speed: bool = True
    float_type: str = "fp32"


def to_int8(src: "Path | Artifact", dst: Optional[Path] = None, calib: Optional[Path] = None, *,
            options: Int8Options = Int8Options(), progress: Optional[Progress] = None, log: Log = None) -> QuantizeResult:
    """Write an INT8 Q/DQ copy of an fp32 export, calibrated on ``calib`` (folder or .txt list).

    ``form``: ``tensorrt`` (TensorRT's Q/DQ placement; ``fp32_weights`` keeps fp32 weights
    behind Q/DQ pairs instead of int8 initializers) or ``cpu`` (onnxruntime's x86 kernels); see
    :mod:`fastscnn_edge.quantize.qdq`. The CPU form of a static ``cls`` export also gets the refined head of
    :mod:`fastscnn_edge.export.cls_head` (same labels, full-resolution scores only at class boundaries;
    ``refine_head=False`` keeps the dense one). The ranges are cached as JSON at ``cache`` (default
    ``<dst stem>.calib.json``), keyed by the source ONNX's sha256, the ordered calibration image list
    (names + sha256), ``method`` and ``form``; with ``calib=None`` they come from ``cache`` alone
    and the same file is rebuilt byte for byte.

    Validation (fp32 vs int8 on CPU: pixel agreement, and mIoU of both where images have ground
    truth) runs only on images calibration never saw: the ``val`` images (folder, Cityscapes root
    or .txt list; calibration images among them are left out), else the ``holdout`` fraction of
    ``calib`` (default 0.1 without ``val``, 0 with it: every k-th image is set aside), else
    synthetic frames. Nothing is written on failure.

    Mixed INT8 (:mod:`fastscnn_edge.quantize.sensitivity`): ``exclude`` keeps the named layers float (module
    paths or prefixes); ``sensitivity`` measures each layer quantized alone on the validation frames;
    ``max_drop`` (mIoU points where the frames have ground truth, else agreement points) keeps the
    fewest layers float that stay within it, or raises ValidationFailed (nothing written).
    ``float_type="fp16"`` (TensorRT form): everything outside the int8 layers, the normalization and
    the head runs in FP16, with FP16 Q/DQ scales (opset 19), as strongly typed TensorRT (10.x with the
    flag, 11.x, RTX) builds it; on 8.x build the fp32-float file with ``--fp16`` instead. The plan
    (``result.plan``) says which layers stayed float and, with ``speed``, what that costs on
    onnxruntime's CPU and in size.
    """
    from fastscnn_edge.core.fileio import check_writable
    from fastscnn_edge.quantize import calibration as cal

    t0 = time.perf_counter()
    o = options
    form, method, percentile, count, cache, holdout, val = o.form, o.method, o.percentile, o.count, o.cache, o.holdout, o.val
    fp32_weights, validate, min_agreement, res, refine_head = o.fp32_weights, o.validate, o.min_agreement, o.res, o.refine_head
    exclude, max_drop, sensitivity, speed, float_type = o.exclude, o.max_drop, o.sensitivity, o.speed, o.float_type
    if form not in FORMS:
        raise UserError(f"unknown INT8 form {form!r}.", fix=f"use one of: {', '.join(FORMS)}.")
    if method not in METHODS:
        raise UserError(f"unknown calibration method {method!r}.", fix=f"use one of: {', '.join(METHODS)}.")
    if fp32_weights and form != "tensorrt":
        raise UserError("fp32 weights are an option of the TensorRT form only.", fix="drop it, or use --form tensorrt.")
    if max_drop is not None and not (max_drop >= 0 and max_drop == max_drop):
        raise UserError(f"--max-drop {max_drop} is negative or not a number.",
                        fix="pass the points you accept to lose, e.g. --max-drop 0.5.")
    if percentile is not None and (method != "percentile" or not 50.0 < percentile <= 100.0):
        raise UserError(f"--calib-percentile {percentile} needs --calib-method percentile and a value in (50, 100].",
                        fix="e.g. --calib-method percentile --calib-percentile 99.99.")
    if float_type not in FLOAT_TYPES:
        raise UserError(f"unknown float type {float_type!r} for the parts INT8 leaves float.",
                        fix=f"use one of: {', '.join(FLOAT_TYPES)}.")
    if float_type == "fp16" and form != "tensorrt":
        raise UserError("--float fp16 is an option of the TensorRT form (onnxruntime's CPU runs FP16 slowly).",
                        fix="drop --float, or use --form tensorrt.")
    if (max_drop is not None or sensitivity) and not validate:
        raise UserError("--max-drop and --sensitivity measure against fp32; they cannot run with --no-validate.",
                        fix="drop --no-validate.")
    if form == "openvino":
        mixed = [flag for flag, on in (("--exclude", bool(exclude)), ("--max-drop", max_drop is not None),
                                       ("--sensitivity", sensitivity), ("--fp32-weights", fp32_weights),
                                       ("--float fp16", float_type != "fp32"), ("--calib-percentile", percentile is not None),
                                       ("--cache", cache is not None)) if on]
        if mixed:
            raise UserError(f"{', '.join(mixed)} apply to the TensorRT and CPU forms; the OpenVINO form is NNCF's own "
                            "quantization.", fix="drop them, or use --form cpu / --form tensorrt.")
        return _to_int8_openvino(src, dst, calib, count=count, holdout=holdout, val=val, validate=validate,
                                 min_agreement=min_agreement, progress=progress, log=log, res=res, t0=t0)
    a, proto, meta, src_bytes = load_fp32(src)
    src = a.path
    if form == "tensorrt":
        refuse_refined(a, "the TensorRT form")
    res = _resolution(a, res, needed=True)
    dst = _output_for(src, dst, beside(src, "int8", form))
    cache_path = Path(cache) if cache is not None else calibration_cache(dst)
    check_writable(cache_path)
    src_sha = _sha(src_bytes)
    if holdout is None:
        holdout = 0.0 if val is not None or calib is None else DEFAULT_HOLDOUT
    always = _float_nodes(proto, form)
    layers = quantizable_layers(proto, always)
    forced = resolve(exclude, layers) if exclude else []  # before any work: a bad name is one line
    c = _calibrate(src, src_sha, meta, res, calib, cache, cache_path, method, form, count, holdout, progress, log,
                   percentile)
    frames = _validation_frames(c, val, meta, res, log) if validate else EvalFrames([])
    outliers = []
    if c.images is not None:  # what sets the ranges: a few calibration frames through fp32, every layer input
        from fastscnn_edge.quantize.sensitivity import calibration_outliers

        outliers = calibration_outliers(proto, image_frames(c.images.paths[:OUTLIER_FRAMES], meta, res,
                                                            "calibration images").inputs, layers)
    try:
        plan = None
        float_layers = list(forced)
        plain = _plain_qdq(proto, c.ranges, form, method, fp32_weights, always)
        if sensitivity or max_drop is not None or forced:
            plan = _plan(proto, plain, form, always, layers, forced, frames, meta, src_bytes, max_drop,
                         sensitivity, progress)
            float_layers = plan.forced + plan.float_layers
        quantized, converter = _build_mixed(proto, plain, form, always, {x.node for x in float_layers})
    except (ValueError, KeyError) as exc:
        if not c.reused:
            raise
        # onnxruntime names the tensor it has no range for; a cache keyed to this model lost some
        raise UserError(f"calibration cache {cache_path} lacks ranges this model needs "
                        f"({' '.join(str(exc).split())[:160]}).",
                        fix="delete it and calibrate again with --calib DIR (do not edit the cache by hand).") from None
    head_layout = {}
    if form == "tensorrt":
        _check_placement(quantized, fp32_weights)
        if float_type == "fp16":
            quantized = _float_parts_to_fp16(quantized, *edge_nodes(proto))
            converter += "; float parts FP16 (opset 19, FP16 Q/DQ scales)"
    elif refine_head and meta.head == "cls" and meta.extra.get("cls_head_layout") != "refine":
        head_layout = _refine_head(quantized, log)
    out_meta = _derived_meta(meta, "int8", {**head_layout,
        "converter": converter, "calib_method": method, "calib_count": str(c.count),
        "calib_policy": c.policy, "calib_images_sha256": c.images_sha256, "qdq_form": form,
        "quantized_op_types": ",".join(sorted({n.op_type for n in _quantized_nodes(quantized)})),
        "source_onnx_sha256": src_sha,
    })
    if float_layers:
        out_meta.extra["float_layers"] = ",".join(x.name for x in float_layers)
    if float_type != "fp32":
        out_meta.extra["float_type"] = float_type
    if percentile is not None:
        out_meta.extra["calib_percentile"] = f"{percentile:g}"
    if max_drop is not None:
        out_meta.extra["max_drop"] = f"{max_drop:g} {plan.metric if plan else ''}".strip()
    if plan is not None and speed and float_layers:
        _measure_cost(plan, plain[0], form, quantized, src_bytes, frames, refine=bool(head_layout))
    v = _finish(quantized, out_meta, src_bytes, frames, dst, validate=validate, min_agreement=min_agreement, log=log)
    if c.images is not None and not c.reused:
        cal.save_cache(cache_path, onnx_sha256=src_sha, images=c.images, method=method, form=form,
                       policy=c.policy, ranges=c.ranges,
                       key_method=None if percentile is None else f"{method}@{percentile:g}")
    return QuantizeResult(dst, out_meta, v, time.perf_counter() - t0, cache_path, c.reused, frames.source, plan,
                          outliers)


class _CalibFrames:
    """NNCF's calibration dataset: the images read and preprocessed one at a time, on every pass."""

    def __init__(self, paths: List[Path], meta: ModelMeta, res: Tuple[int, int], progress: Optional[Progress]) -> None:
        self.paths, self.meta, self.res, self.progress = paths, meta, res, progress
        self.done = 0

    def __iter__(self):  # noqa: ANN204 - Iterator[Dict[str, np.ndarray]]
        from fastscnn_edge.core.progress import report
        from fastscnn_edge.quantize.calibration import ImageReader

        def tick() -> None:
            self.done += 1
            report(self.progress, "calibrating (NNCF)", min(self.done, len(self.paths)), len(self.paths))
        return iter(ImageReader(self.paths, self.meta, self.res, meta_input_name(self.meta), tick))

    def __len__(self) -> int:
        return len(self.paths)


def _to_int8_openvino(src: "Path | Artifact", dst: Optional[Path], calib: Optional[Path], *, count: Optional[int],
                      holdout: Optional[float], val: Optional[Path], validate: bool, min_agreement: Optional[float],
                      progress: Optional[Progress], log: Log, res: Optional[Tuple[int, int]], t0: float) -> QuantizeResult:
    """The OpenVINO form: NNCF post-training INT8 (ONNX backend) of the fp32 export, on the ``calib``
    images; checked on OpenVINO against the fp32 file on OpenVINO over frames calibration never saw."""
    from fastscnn_edge.quantize import calibration as cal
    from fastscnn_edge.runtime import ov_runtime

    ov_runtime.require()
    if calib is None:
        raise UserError("the OpenVINO form calibrates with NNCF on images each time; it has no range cache.",
                        fix="pass --calib DIR (or a .txt list).")
    a, proto, meta, src_bytes = load_fp32(src)
    refuse_refined(a, "the OpenVINO form (OpenVINO runs the dense head of the file in the refined form itself)")
    size = _resolution(a, res, needed=True)
    dst = _output_for(a.path, dst, beside(a.path, "int8", "openvino"))
    if holdout is None:
        holdout = 0.0 if val is not None else DEFAULT_HOLDOUT
    images = cal.collect_images(calib, count=count, holdout=holdout, log=log)
    c = _Calibration({}, False, cal.policy_string(meta, size), len(images.paths), images.digest(), images,
                     list(images.sha256))
    frames = _validation_frames(c, val, meta, size, log) if validate else EvalFrames([])
    quantized = ov_runtime.quantize_onnx(proto, _CalibFrames(images.paths, meta, size, progress))
    import nncf

    out_meta = _derived_meta(meta, "int8", {
        "converter": f"NNCF {nncf.__version__} post-training quantization (ONNX backend, performance preset)",
        "calib_method": "nncf", "calib_count": str(c.count), "calib_policy": c.policy,
        "calib_images_sha256": c.images_sha256, "qdq_form": "openvino",
        "quantized_op_types": ",".join(sorted({n.op_type for n in _quantized_nodes(quantized)})),
        "source_onnx_sha256": _sha(src_bytes),
    })
    v = _finish(quantized, out_meta, src_bytes, frames, dst, validate=validate, min_agreement=min_agreement, log=log,
                runtime="openvino")
    return QuantizeResult(dst, out_meta, v, time.perf_counter() - t0, None, False, frames.source)


def _plain_qdq(proto, ranges, form: str, method: str, fp32_weights: bool, always: List[str]):  # noqa: ANN001, ANN202
    """(Q/DQ ModelProto, converter): every layer INT8, ``always`` float. Mixed graphs are edits of it."""
    from fastscnn_edge.quantize.qdq import insert_qdq

    return insert_qdq(proto, ranges, form=form, method=method, exclude=list(always), fp32_weights=fp32_weights)


def _build_mixed(proto, plain, form: str, always: List[str], float_nodes: Set[str],  # noqa: ANN001, ANN202
                 only: Optional[str] = None):
    """(Q/DQ ModelProto, converter): ``plain`` (from :func:`_plain_qdq`) with ``float_nodes`` float,
    computing from float inputs and fp32 weights, or, with ``only``, that one layer INT8 and every
    other layer float. The search scores these graphs and the written file is one of them, so what
    was measured is what is written."""
    import copy

    graph, converter = plain
    if only is not None:
        float_nodes = {n.name for n in proto.graph.node if n.op_type in LAYER_OPS} - {only} - set(always)
    if form == "tensorrt":
        float_nodes = _float_adds(proto, float_nodes | set(always)) - set(always)
    quantized = copy.deepcopy(graph)
    if float_nodes:
        release_float_inputs(quantized, proto, float_nodes)
        if only is None:
            converter += f"; {len(float_nodes)} layer(s) kept float"
    return quantized, converter


FP16_QDQ_OPSET = 19  # QuantizeLinear/DequantizeLinear take FP16 scales from opset 19


def _float_parts_to_fp16(proto, pre: List[str], head: List[str]):  # noqa: ANN001, ANN202
    """The TensorRT form with its float parts in FP16: the graph moved to opset 19, then every float
    tensor outside ``pre`` (the normalization) and ``head`` (after the last Conv) converted, Q/DQ
    scales included, the graph's I/O types kept."""
    import warnings

    import onnx
    from onnx import version_converter

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise MissingDependency("--float fp16 needs onnxconverter-common.", fix="pip install onnxconverter-common.") from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < FP16_QDQ_OPSET:
        proto = version_converter.convert_version(proto, FP16_QDQ_OPSET)
    body, reattach = _split_head(proto, head)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = float16.convert_float_to_float16(
            body, keep_io_types=True, op_block_list=fp16_op_block_list(float16.DEFAULT_OP_BLOCK_LIST),
            node_block_list=pre)
    del model.graph.value_info[:]
    reattach(model)
    onnx.checker.check_model(model)
    return model


def _float_adds(proto, float_nodes: Set[str]) -> Set[str]:  # noqa: ANN001
    """TensorRT form: a residual Add runs in int8 only fused with the quantized Conv beside it, so an
    Add whose Conv-side input comes from a float Conv stays float too."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    out = set(float_nodes)
    for n in proto.graph.node:
        if n.op_type == "Add" and n.name not in out:
            convs = [producer[i] for i in n.input if i in producer and producer[i].op_type == "Conv"]
            if convs and all(c.name in out for c in convs):
                out.add(n.name)
    return out


def _plan(proto, plain_qdq, form: str, always: List[str], layers, forced,  # noqa: ANN001, ANN202
          frames: EvalFrames, meta: ModelMeta, src_bytes: bytes, max_drop: Optional[float], want_table: bool,
          progress: Optional[Progress]):
    """Sensitivity and/or the budget search on the validation frames (a :class:`sensitivity.Plan`)."""
    from fastscnn_edge.quantize import sensitivity as sens

    t0 = time.perf_counter()
    judge = sens.Judge.of(src_bytes, frames.inputs, frames.labels, meta.num_classes, meta.head, frames.source)
    forced_nodes = {x.node for x in forced}

    def build(float_nodes: Set[str], only: Optional[str]) -> bytes:
        q, _ = _build_mixed(proto, plain_qdq, form, always, set(float_nodes), only)
        return q.SerializeToString()

    plain = judge.score(build(set(), None))  # every layer INT8
    base = judge.score(build(forced_nodes, None)) if forced_nodes else plain  # the --exclude layers float
    plan = sens.Plan(judge.metric, judge.miou_reference, len(frames.inputs), judge.labelled, frames.source, plain,
                     list(forced), max_drop=max_drop, all_layers=len(layers))
    if want_table or (max_drop is not None and base.drop > max_drop):
        plan.sensitivity = sens.sensitivity(build, judge, layers, forced_nodes, progress)
    if max_drop is not None:
        plan.float_layers, plan.final = sens.fit_budget(build, judge, layers, forced_nodes, plan.ranked(), max_drop,
                                                        base, progress)
    else:
        plan.final = base
    plan.evaluations = judge.evaluations
    plan.seconds = time.perf_counter() - t0
    return plan


def _measure_cost(plan, plain_qdq, form: str, mixed, src_bytes: bytes, frames: EvalFrames,  # noqa: ANN001
                  refine: bool) -> None:
    """Size and onnxruntime CPU speed of the mixed file against plain INT8 (same head) and fp32."""
    import copy

    from fastscnn_edge.quantize import sensitivity as sens

    plain = copy.deepcopy(plain_qdq)
    if refine:
        _refine_head(plain, None)
    pb, mb = plain.SerializeToString(), mixed.SerializeToString()
    plan.sizes = {"plain": len(pb), "mixed": len(mb)}
    if form == "cpu":  # the TensorRT form's speed is TensorRT's: onnxruntime's CPU time would mislead
        plan.speed_ms = sens.cpu_speed({"fp32": src_bytes, "plain": pb, "mixed": mb}, frames.inputs)


def _refine_head(proto, log: Log) -> Dict[str, str]:  # noqa: ANN001 - rewritten in place
    """The CPU form's cls head: the refined one where it can be built (its metadata entry), else
    the dense one, said in one line."""
    from fastscnn_edge.export.cls_head import LAYOUT, refine_cls_head

    why = refine_cls_head(proto)
    if why is None:
        return {"cls_head_layout": LAYOUT}
    if log:
        log(f"note: the cls head stays dense (full-resolution upsample + argmax): {why}.")
    return {}


def calibration_op_types(form: str) -> List[str]:
    """The op types whose tensors are calibrated: TensorRT form Conv and Add, CPU form all ([])."""
    from fastscnn_edge.quantize.qdq import TRT_OP_TYPES

    return list(TRT_OP_TYPES) if form == "tensorrt" else []


def _float_nodes(proto, form: str) -> List[str]:  # noqa: ANN001
    """Nodes kept float, measured on onnxruntime (calibration/README.md has the numbers).

    Both forms: the in-graph uint8 normalization and the head after the last Conv (full-resolution
    upsample + argmax/softmax; onnxruntime's uint8 Resize and ArgMax are slower than float ones).
    TensorRT form: also the last Conv, the 1x1 classifier, whose logits decide every label. CPU form
    with uint8 frame input: also the first Conv, or onnxruntime runs the normalization channels-last
    with slow broadcasts in front of it.
    """
    pre, head = edge_nodes(proto)
    convs = [n.name for n in proto.graph.node if n.op_type == "Conv"]
    if form == "cpu":
        return pre + head + (convs[:1] if pre else [])
    return pre + head + convs[-1:]


def _quantized_nodes(proto):  # noqa: ANN001, ANN202
    """Nodes reading a DequantizeLinear output (what runs in int8)."""
    dq_out = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    return [n for n in proto.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
            and any(i in dq_out for i in n.input)]


def _check_placement(proto, fp32_weights: bool) -> None:  # noqa: ANN001
    from fastscnn_edge.core.errors import ValidationFailed
    from fastscnn_edge.export.onnx_rules import check_qdq, check_qdq_placement

    problems = check_qdq(proto) + check_qdq_placement(proto, int8_weights=not fp32_weights)
    if problems:
        raise ValidationFailed(f"the TensorRT-form Q/DQ graph breaks a placement rule ({problems[0]}); nothing was "
                               "written.", fix="report this as a bug, with the model.")


def _validation_frames(c: "_Calibration", val: Optional[Path], meta: ModelMeta, res: Tuple[int, int],
                       log: Log) -> EvalFrames:
    """Frames calibration never saw: --val images, else held-out --calib images, else synthetic."""
    from fastscnn_edge.quantize import calibration as cal

    images = c.images
    if val is not None:
        return image_frames(cal.validation_images(val, c.calibrated_sha256, log), meta, res, "--val image(s)")
    if images is not None and images.heldout:
        return image_frames(images.heldout, meta, res, "held-out --calib image(s), never calibrated on")
    if images is not None and log is not None:
        log("note: no image was held out of calibration (--holdout 0, or too few images), so agreement is "
            "measured on synthetic frames; pass --val DIR to measure it on real ones.")
    return EvalFrames(synthetic_frames(meta, res), [], "synthetic frame(s)")


@dataclass
class _Calibration:
    ranges: Dict[str, Tuple[float, float]]
    reused: bool
    policy: str
    count: int
    images_sha256: str
    images: Optional["CalibrationSet"] = None
    calibrated_sha256: List[str] = field(default_factory=list)  # content of every image the ranges came from


def _calibrate(src: Path, src_sha: str, meta: ModelMeta, res: Tuple[int, int], calib: Optional[Path],
               cache: Optional[Path], cache_path: Path, method: str, form: str, count: Optional[int],
               holdout: float, progress: Optional[Progress], log: Log,
               percentile: Optional[float] = None) -> _Calibration:
    """The ranges: from the cache alone (no images), from a matching cache, or a calibration pass."""
    from fastscnn_edge.quantize import calibration as cal

    if calib is None:
        if cache is None:
            raise UserError("INT8 needs calibration images or a calibration cache.",
                            fix="pass --calib DIR (or a .txt list), or --cache FILE from an earlier run.")
        doc = cal.load_cache(cache_path)
        _check_cache(doc, cache_path, src, src_sha, method, form)
        listed = doc.get("images", [])
        shas = [str(entry[1]) for entry in listed] if isinstance(listed, list) else []
        return _Calibration(cal.ranges_from_cache(doc), True, str(doc.get("policy", "")),
                            int(doc.get("count", 0)), str(doc.get("images_sha256", "")),  # type: ignore[call-overload]
                            calibrated_sha256=shas)
    images = cal.collect_images(calib, count=count, holdout=holdout, log=log)
    policy = cal.policy_string(meta, res)
    method_key = method if percentile is None else f"{method}@{percentile:g}"
    found = _matching_cache(cache_path, cal.cache_key(src_sha, images.digest(), method_key, form), log)
    if found is not None:
        ranges = cal.ranges_from_cache(found)
    else:
        ranges = cal.compute_ranges(src, calibration_op_types(form), images.paths, meta, res, method,
                                    progress=progress, log=log, input_name=meta_input_name(meta),
                                    percentile=percentile)
    return _Calibration(ranges, found is not None, policy, len(images.paths), images.digest(), images,
                        list(images.sha256))


def _check_cache(doc: Dict[str, object], path: Path, src: Path, src_sha: str, method: str, form: str) -> None:
    if doc.get("onnx_sha256") != src_sha:
        raise UserError(f"calibration cache {path} was made for a different ONNX than {src}.",
                        fix="calibrate again with --calib DIR (the cache is keyed by the fp32 model's sha256).")
    for name, want, opt in (("method", method, "--calib-method"), ("target", form, "--form")):
        if doc.get(name) != want:
            raise UserError(f"calibration cache {path} was made with {name} {doc.get(name)!r}, not {want!r}.",
                            fix=f"pass {opt} {doc.get(name)}, or calibrate again with --calib DIR.")


def _matching_cache(path: Path, key: str, log: Log) -> Optional[Dict[str, object]]:
    """The cache at ``path`` if it holds exactly this calibration, else None (it is recomputed)."""
    from fastscnn_edge.quantize import calibration as cal

    if not path.is_file():
        return None
    try:
        doc = cal.load_cache(path)
    except UserError:
        doc = None
    if doc is None or doc.get("key") != key:
        if log is not None:
            log(f"calibration cache {path} is for other images/model/method; calibrating again and replacing it.")
        return None
    if log is not None:
        log(f"reusing calibration ranges from {path} (same model, images, method and form).")
    return doc


def cpu_only_machine() -> bool:
    """True where neither TensorRT nor an NVIDIA GPU (nvidia-smi, a Jetson, an onnxruntime GPU provider) is here."""
    from fastscnn_edge.core.envinfo import gpu_info
    from fastscnn_edge.core.machine import ort_gpu_providers, tensorrt_available

    return not tensorrt_available() and not ort_gpu_providers() and not gpu_info()
