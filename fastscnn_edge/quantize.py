"""Precision-explicit ONNX: FP16 graphs and INT8 Q/DQ graphs from an fp32 export.

Every TensorRT generation builds from these files (11.x only from them), and onnxruntime runs
them on CPU, which is how each result is validated against the fp32 model before it is written.

- ``to_fp16``: NVIDIA ModelOpt AutoCast where installed, else onnxconverter-common, with the graph
  I/O types unchanged and the in-graph uint8 normalization and the head kept in fp32.
- ``to_int8``: Q/DQ with onnxruntime's calibrator and QDQ quantizer (what ``quantize_static`` runs
  inside), split so the ranges can be cached and reused without the images.
  ``target="tensorrt"``: symmetric int8 activations, per-output-channel int8 weights, zero points 0.
  ``target="cpu"``: uint8 activations, int8 weights, the form onnxruntime's x86 kernels run.

torch-free: needs onnx, onnxruntime, numpy (and onnxconverter-common for FP16).
"""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

import numpy as np

from fastscnn_edge.errors import MissingDependency, UserError, ValidationFailed
from fastscnn_edge.metadata import ModelMeta

if TYPE_CHECKING:
    from fastscnn_edge.calibration import CalibrationSet

Log = Optional[Callable[[str], None]]

TARGETS = ("tensorrt", "cpu")
METHODS = ("entropy", "minmax", "percentile")
FP16_MIN_AGREEMENT = 0.999  # issue 3's bar for a trained model; on random weights it only warns
# Conv carries almost all the compute; Add is the residual / feature-fusion sum, whose Q/DQ inputs
# let TensorRT fuse it into the int8 convolution. MatMul (the exact PPM pooling, at 1/32 scale),
# Resize and Concat cost little and stay float: adding them measured ~5 points lower pixel
# agreement with fp32 (varied random model, 128x256, minmax and entropy, both targets).
INT8_OP_TYPES = ["Conv", "Add"]
# Kept in fp32 in FP16 graphs besides the normalization and the head after the last Conv.
FP16_BLOCK_OPS = ["Softmax", "ArgMax"]
# In onnxconverter-common's default block list; fp16 Resize inside the body measured the same
# agreement as fp32 Resize, and TensorRT runs it natively, so it is converted.
FP16_ALLOW_OPS = ["Resize"]
TRT_EXTRA_OPTIONS = {  # FACTS.md: the recipe ModelOpt uses internally for TensorRT explicit quantization
    "ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False, "AddQDQPairToWeight": True,
    "DedicatedQDQPair": False, "QDQOpTypePerChannelSupportToAxis": {"Conv": 0, "ConvTranspose": 1},
}
CPU_EXTRA_OPTIONS: Dict[str, object] = {"ActivationSymmetric": False, "WeightSymmetric": True}
VALIDATION_IMAGES = 16  # calibration images re-used for the fp32-vs-int8 check
SYNTHETIC_FRAMES = 4
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

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def default_output(src: Path, precision: str, target: str = "tensorrt") -> Path:
    """``x.onnx`` -> ``x.fp16.onnx`` / ``x.int8.onnx`` (TensorRT form) / ``x.int8-cpu.onnx``, beside it.

    For a default export this is exactly ``paths.default_onnx(..., precision)``, where build-engine
    looks; the CPU form has its own suffix so it never shadows the TensorRT one.
    """
    tag = precision if precision != "int8" or target == "tensorrt" else "int8-cpu"
    return src.with_name(f"{src.stem}.{tag}.onnx")


def default_cache(dst: Path) -> Path:
    """``x.int8.onnx`` -> ``x.int8.calib.json`` beside the model."""
    return dst.with_suffix(".calib.json")


# --- shared steps -----------------------------------------------------------------------------

def load_fp32(src: Path):  # noqa: ANN201 - (onnx.ModelProto, ModelMeta, bytes)
    """Load an fp32 export (one read of the file), its metadata and its bytes; refuse anything
    already reduced in precision."""
    import onnx

    from fastscnn_edge.metadata import meta_from_proto

    src = Path(src)
    if not src.is_file():
        raise UserError(f"model {src} does not exist.", fix="pass an .onnx written by `fastscnn-edge export`.")
    data = src.read_bytes()
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise UserError(f"{src} is not a readable ONNX file ({type(exc).__name__}).",
                        fix="pass a file written by `fastscnn-edge export`.") from None
    meta = meta_from_proto(proto, src)
    reason = _reduced_precision(proto)
    if meta.precision != "fp32" or reason:
        raise UserError(f"{src} is already {meta.precision if meta.precision != 'fp32' else 'reduced'} precision"
                        f"{f' ({reason})' if reason else ''}; quantizing it again would compound the error.",
                        fix="pass the fp32 ONNX from `fastscnn-edge export`.")
    return proto, meta, data


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
        elif node.op_type != "Shape" and node.op_type != "Constant":
            out.append(node.name)
    return out


def cpu_session(model: bytes):  # noqa: ANN201 - onnxruntime.InferenceSession
    """A quiet onnxruntime CPU session (threads: $OMP_NUM_THREADS if set, else onnxruntime's choice)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    threads = os.environ.get("OMP_NUM_THREADS", "")
    so.intra_op_num_threads = int(threads) if threads.isdigit() else 0
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def synthetic_frames(meta: ModelMeta, res: Tuple[int, int], n: int = SYNTHETIC_FRAMES, seed: int = 0) -> List[np.ndarray]:
    """Camera-like frames (smooth colour fields + noise) through the real preprocessing policy."""
    import cv2

    from fastscnn_edge.preprocess import to_network_input

    rng = np.random.default_rng(seed)
    out = []
    h, w = res
    for _ in range(n):
        small = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.int16)
        img = np.clip(img + rng.integers(-20, 21, size=img.shape), 0, 255).astype(np.uint8)
        out.append(to_network_input(img, meta, res))
    return out


def compare(reference: bytes, candidate: bytes, inputs: List[np.ndarray], head: str) -> Dict[str, float]:
    """Run both models on CPU over ``inputs``: pixel agreement of the labels, max |diff| of floats."""
    ref_s, new_s = cpu_session(reference), cpu_session(candidate)
    name = ref_s.get_inputs()[0].name
    same = total = 0
    max_diff = 0.0
    seen: set = set()
    for x in inputs:
        a = ref_s.run(None, {name: x})[0]
        b = new_s.run(None, {name: x})[0]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValidationFailed(f"reduced-precision output {b.dtype}{b.shape} differs in form from fp32 "
                                   f"{a.dtype}{a.shape}; nothing was written.", fix="report this as a bug.")
        if head == "cls":
            la, lb = a, b
        else:
            la, lb = a.argmax(1), b.argmax(1)
            max_diff = max(max_diff, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
        same += int(np.sum(la == lb))
        total += la.size
        seen.update(np.unique(la).tolist())
    result = {"pixel_agreement": same / max(total, 1), "frames": float(len(inputs)),
              "reference_classes": float(len(seen))}
    if head != "cls":
        result["max_abs_diff"] = max_diff
    return result


def describe(v: Dict[str, float]) -> str:
    """One line for the terminal: agreement, max |diff| where there are probabilities, frames."""
    text = f"pixel agreement {100 * v['pixel_agreement']:.3f} %"
    if "max_abs_diff" in v:
        text += f", max |diff| {v['max_abs_diff']:.2e}"
    return f"{text} over {int(v.get('frames', 0))} frame(s)"


def _check_bar(v: Dict[str, float], min_agreement: Optional[float], precision: str, meta: ModelMeta,
               log: Log) -> None:
    """Fail below an explicit bar; otherwise warn below the FP16 bar (random weights make argmax fragile)."""
    if min_agreement is not None and v["pixel_agreement"] < min_agreement:
        raise ValidationFailed(
            f"{precision} model agrees with fp32 on {100 * v['pixel_agreement']:.3f} % of pixels, under the "
            f"--min-agreement bar {100 * min_agreement:.3f} %; nothing was written.",
            fix=("calibrate on more representative images or try --calib-method minmax, or lower the bar."
                 if precision == "int8" else "check the fp32 model's outputs for near-ties, or lower the bar."))
    random_weights = meta.weights_sha256 in ("", "random-init")
    if log is not None and (random_weights or v.get("reference_classes", 2) <= 1):
        why = "has random weights" if random_weights else "predicts a single class on these inputs"
        log(f"note: the fp32 model {why}, so this agreement says little about accuracy; measure a trained "
            "model with `fastscnn-edge compare` or `eval`.")
    if (min_agreement is None and precision == "fp16" and v["pixel_agreement"] < FP16_MIN_AGREEMENT
            and log is not None):
        trained = meta.weights_sha256 not in ("", "random-init")
        log(f"warning: fp16 agrees with fp32 on {100 * v['pixel_agreement']:.3f} % of pixels, under the "
            f"{100 * FP16_MIN_AGREEMENT:.1f} % bar{'' if trained else ' (random weights: argmax is fragile)'}.")


def _finish(proto, meta: ModelMeta, src_bytes: bytes, inputs: List[np.ndarray], dst: Path, *,  # noqa: ANN001
            validate: bool, min_agreement: Optional[float], log: Log) -> Dict[str, float]:
    """Attach metadata, check the graph, validate against fp32, then write atomically."""
    import onnx

    from fastscnn_edge.fileio import atomic_path
    from fastscnn_edge.metadata import meta_from_proto, write_onnx_meta

    write_onnx_meta(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    meta_from_proto(proto, dst)  # what every reader checks: the fields and the graph against them
    data = proto.SerializeToString()
    validation: Dict[str, float] = {}
    if validate:
        validation = compare(src_bytes, data, inputs, meta.head)
        _check_bar(validation, min_agreement, meta.precision, meta, log)
    else:
        cpu_session(data)  # at least prove onnxruntime loads it
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)
    return validation


def _resolution(meta: ModelMeta, src: Path, *, needed: bool) -> Tuple[int, int]:
    if meta.resolution is not None:
        return tuple(meta.resolution)  # type: ignore[return-value]
    if needed:
        raise UserError(f"{src} has dynamic height/width; INT8 calibration needs the deployment size.",
                        fix="export with a fixed --res (no --dynamic) and quantize that file.")
    return DYNAMIC_CHECK_RES


def _output_for(src: Path, dst: Optional[Path], default: Path) -> Path:
    """The output path, refusing to overwrite the fp32 source (the cache is keyed by its hash)."""
    from fastscnn_edge.fileio import check_writable

    out = Path(dst) if dst is not None else default
    if out.resolve() == src.resolve():
        raise UserError(f"output {out} is the input model.", fix="pass another -o, or leave -o out for the default name.")
    check_writable(out)
    return out


# --- FP16 -------------------------------------------------------------------------------------

def to_fp16(src: Path, dst: Optional[Path] = None, *, validate: bool = True, min_agreement: Optional[float] = None,
            log: Log = None) -> QuantizeResult:
    """Write an FP16 copy of an fp32 export with its I/O types unchanged, validated on CPU.

    The in-graph uint8 normalization (before the first Conv) and the head after the last Conv
    (Resize, Softmax/ArgMax, the label Cast) stay fp32. Validation: synthetic frames through the
    preprocessing policy; ``min_agreement`` (0..1) raises ValidationFailed below it, else a
    warning under 99.9 %. Nothing is written on failure.
    """
    t0 = time.perf_counter()
    src = Path(src)
    proto, meta, src_bytes = load_fp32(src)
    dst = _output_for(src, dst, default_output(src, "fp16"))
    pre, head = edge_nodes(proto)
    if not head:  # the logits head ends in the classifier Conv: keep that Conv fp32, so its output (the
        head = [[n for n in proto.graph.node if n.op_type == "Conv"][-1].name]  # graph output) stays fp32
    pre += [n for n in shape_only_nodes(proto) if n not in pre and n not in head]
    converted, converter = _convert_fp16(src, proto, pre, head)
    out_meta = _derived_meta(meta, "fp16", {"converter": converter, "fp32_nodes": str(len(pre + head)),
                                           "source_onnx_sha256": _sha(src_bytes)})
    inputs = synthetic_frames(meta, _resolution(meta, src, needed=False))
    v = _finish(converted, out_meta, src_bytes, inputs, dst, validate=validate, min_agreement=min_agreement, log=log)
    return QuantizeResult(dst, out_meta, v, time.perf_counter() - t0)


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


def _derived_meta(meta: ModelMeta, precision: str, extra: Dict[str, str]) -> ModelMeta:
    import dataclasses

    return dataclasses.replace(meta, precision=precision, extra={**meta.extra, **extra})


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- INT8 -------------------------------------------------------------------------------------

def to_int8(src: Path, dst: Optional[Path], calib: Optional[Path], *, target: str = "tensorrt",
            method: str = "entropy", count: Optional[int] = None, cache: Optional[Path] = None,
            validate: bool = True, min_agreement: Optional[float] = None, progress: bool = True,
            log: Log = None) -> QuantizeResult:
    """Write an INT8 Q/DQ copy of an fp32 export, calibrated on ``calib`` (folder or .txt list).

    The ranges are cached as JSON at ``cache`` (default ``<dst stem>.calib.json``), keyed by the
    source ONNX's sha256, the ordered image list (names + sha256), ``method`` and ``target``.
    With ``calib=None`` the ranges come from ``cache`` alone (same ONNX, method and target
    required). Validation: up to 16 calibration images (synthetic frames when reusing a cache
    without images), fp32 vs int8 on CPU. Nothing is written on failure.
    """
    from fastscnn_edge import calibration as cal
    from fastscnn_edge.fileio import check_writable

    t0 = time.perf_counter()
    if target not in TARGETS:
        raise UserError(f"unknown target {target!r}.", fix=f"use one of: {', '.join(TARGETS)}.")
    if method not in METHODS:
        raise UserError(f"unknown calibration method {method!r}.", fix=f"use one of: {', '.join(METHODS)}.")
    src = Path(src)
    proto, meta, src_bytes = load_fp32(src)
    res = _resolution(meta, src, needed=True)
    dst = _output_for(src, dst, default_output(src, "int8", target))
    cache_path = Path(cache) if cache is not None else default_cache(dst)
    check_writable(cache_path)
    src_sha = _sha(src_bytes)
    c = _calibrate(src, src_sha, meta, res, calib, cache, cache_path, method, target, count, progress, log)
    pre, head = edge_nodes(proto)
    exclude = pre + head + _classifier_conv(proto)
    try:
        quantized, converter = _qdq(proto, c.ranges, target, method, exclude)
    except (ValueError, KeyError) as exc:
        if not c.reused:
            raise
        # onnxruntime names the tensor it has no range for; a cache keyed to this model lost some
        raise UserError(f"calibration cache {cache_path} lacks ranges this model needs "
                        f"({' '.join(str(exc).split())[:160]}).",
                        fix="delete it and calibrate again with --calib DIR (do not edit the cache by hand).") from None
    out_meta = _derived_meta(meta, "int8", {
        "converter": converter, "calib_method": method, "calib_count": str(c.count),
        "calib_policy": c.policy, "calib_images_sha256": c.images_sha256, "target": target,
        "quantized_op_types": ",".join(INT8_OP_TYPES), "source_onnx_sha256": src_sha,
    })
    if c.images is not None:
        step = max(1, len(c.images.paths) // VALIDATION_IMAGES)
        inputs = _frames(c.images.paths[::step][:VALIDATION_IMAGES], meta, res)
    else:
        inputs = synthetic_frames(meta, res)
    v = _finish(quantized, out_meta, src_bytes, inputs, dst, validate=validate, min_agreement=min_agreement, log=log)
    if c.images is not None and not c.reused:
        cal.save_cache(cache_path, onnx_sha256=src_sha, images=c.images, method=method, target=target,
                       policy=c.policy, ranges=c.ranges)
    return QuantizeResult(dst, out_meta, v, time.perf_counter() - t0, cache_path, c.reused)


@dataclass
class _Calibration:
    ranges: Dict[str, Tuple[float, float]]
    reused: bool
    policy: str
    count: int
    images_sha256: str
    images: Optional["CalibrationSet"] = None


def _calibrate(src: Path, src_sha: str, meta: ModelMeta, res: Tuple[int, int], calib: Optional[Path],
               cache: Optional[Path], cache_path: Path, method: str, target: str, count: Optional[int],
               progress: bool, log: Log) -> _Calibration:
    """The ranges: from the cache alone (no images), from a matching cache, or a calibration pass."""
    from fastscnn_edge import calibration as cal

    if calib is None:
        if cache is None:
            raise UserError("INT8 needs calibration images or a calibration cache.",
                            fix="pass --calib DIR (or a .txt list), or --cache FILE from an earlier run.")
        doc = cal.load_cache(cache_path)
        _check_cache(doc, cache_path, src, src_sha, method, target)
        return _Calibration(cal.ranges_from_cache(doc), True, str(doc.get("policy", "")),
                            int(doc.get("count", 0)), str(doc.get("images_sha256", "")))  # type: ignore[call-overload]
    images = cal.collect_images(calib, count=count, log=log)
    policy = cal.policy_string(meta, res)
    found = _matching_cache(cache_path, cal.cache_key(src_sha, images.digest(), method, target), log)
    if found is not None:
        ranges = cal.ranges_from_cache(found)
    else:
        ranges = cal.compute_ranges(src, INT8_OP_TYPES, images.paths, meta, res, method, progress=progress, log=log)
    return _Calibration(ranges, found is not None, policy, len(images.paths), images.digest(), images)


def _tensors_range(ranges: Dict[str, Tuple[float, float]], method: str):  # noqa: ANN202
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


def _classifier_conv(proto) -> List[str]:  # noqa: ANN001
    """The last Conv (the 1x1 classifier) stays float: its logits decide every label via argmax."""
    convs = [n.name for n in proto.graph.node if n.op_type == "Conv"]
    return convs[-1:]


def _frames(paths: List[Path], meta: ModelMeta, res: Tuple[int, int]) -> List[np.ndarray]:
    from fastscnn_edge.preprocess import read_image_bgr, to_network_input

    out = []
    for p in paths:
        try:
            out.append(to_network_input(read_image_bgr(p), meta, res))
        except UserError:
            continue
    return out or synthetic_frames(meta, res)


def _check_cache(doc: Dict[str, object], path: Path, src: Path, src_sha: str, method: str, target: str) -> None:
    if doc.get("onnx_sha256") != src_sha:
        raise UserError(f"calibration cache {path} was made for a different ONNX than {src}.",
                        fix="calibrate again with --calib DIR (the cache is keyed by the fp32 model's sha256).")
    for name, want, opt in (("method", method, "--calib-method"), ("target", target, "--target")):
        if doc.get(name) != want:
            raise UserError(f"calibration cache {path} was made with {name} {doc.get(name)!r}, not {want!r}.",
                            fix=f"pass {opt} {doc.get(name)}, or calibrate again with --calib DIR.")


def _matching_cache(path: Path, key: str, log: Log) -> Optional[Dict[str, object]]:
    """The cache at ``path`` if it holds exactly this calibration, else None (it is recomputed)."""
    from fastscnn_edge import calibration as cal

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
        log(f"reusing calibration ranges from {path} (same model, images, method and target).")
    return doc


def _qdq(proto, ranges: Dict[str, Tuple[float, float]], target: str, method: str,  # noqa: ANN001
         exclude: List[str]):  # noqa: ANN202
    """Insert Q/DQ with onnxruntime's QDQQuantizer from precomputed ranges: (ModelProto, converter).

    Plain ONNX shape inference, not ``quant_pre_process``: on our exports (already folded and
    slimmed) it changed no node, but it added com.microsoft and other opset imports to the graph.
    """
    import copy

    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    trt = target == "tensorrt"
    kwargs = dict(model=onnx.shape_inference.infer_shapes(copy.deepcopy(proto)), per_channel=True,
                  reduce_range=False, weight_qType=QuantType.QInt8,
                  activation_qType=QuantType.QInt8 if trt else QuantType.QUInt8,
                  tensors_range=_tensors_range(ranges, method), nodes_to_quantize=[], nodes_to_exclude=exclude,
                  op_types_to_quantize=list(INT8_OP_TYPES),
                  extra_options=copy.deepcopy(TRT_EXTRA_OPTIONS if trt else CPU_EXTRA_OPTIONS))
    params = inspect.signature(QDQQuantizer.__init__).parameters
    if "static" in params:  # older onnxruntime also took the (here fixed) mode and static flags
        from onnxruntime.quantization.quant_utils import QuantizationMode

        kwargs.update(mode=QuantizationMode.QLinearOps, static=True)
    quantizer = QDQQuantizer(**kwargs)
    quantizer.quantize_model()
    quantizer.model.topological_sort()
    out = quantizer.model.model
    act = "int8 symmetric" if trt else "uint8 asymmetric"
    return out, (f"onnxruntime {onnxruntime.__version__} QDQQuantizer (quantize_static's quantizer) "
                 f"QDQ per-channel int8 weights, {act} activations")
