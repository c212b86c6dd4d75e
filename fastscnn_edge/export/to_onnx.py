"""PyTorch -> ONNX, exactly: the PPM's adaptive pooling as matrices, heads and camera-frame
preprocessing in the graph, metadata, simplification, and validation against PyTorch.

``export_onnx(ExportSpec(...))`` writes one model; ``export_many()`` writes several (default: the
paper's three resolutions, where ``build-engine`` and ``bench`` look for them).
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError, ValidationFailed
from fastscnn_edge.core.metadata import (INPUT_FORMATS, LABEL_DTYPES, RANDOM_WEIGHTS, ModelMeta, check_labels_fit,
                                    meta_from_proto, write_onnx_meta)
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.core.version import __version__
from fastscnn_edge.core.vocab import check

# Acceptance bars (issue #2): against PyTorch on the same input.
PROB_MAX_ABS_DIFF = 1e-4
CLS_MIN_AGREEMENT = 0.9999
CLS_LAYOUTS = ("nhwc", "nchw", "refine")  # refine: fastscnn_edge.export.cls_head, onnxruntime only
MIN_OPSET, MAX_OPSET = 13, 20  # 17 is the newest TensorRT 8.6's parser takes


@dataclass
class ExportSpec:
    arch: Optional[str] = None  # None: from the weights, else "paper"
    weights: Optional[Path] = None
    head: str = "cls"
    res: Tuple[int, int] = (1024, 2048)
    dynamic: bool = False
    input_format: str = "float"
    labels: str = "uint8"
    opset: int = 17
    output: Optional[Path] = None
    num_classes: int = 19
    simplify: bool = True
    cls_layout: str = "nhwc"  # cls head: upsample + argmax over NHWC (same labels, ~2x faster on CPU than NCHW)

    def check(self) -> None:
        from fastscnn_edge.core.resolution import check_export_memory, parse_resolution

        check("head", self.head)
        if self.input_format not in INPUT_FORMATS:
            raise UserError(f"unknown input format {self.input_format!r}.", fix=f"use one of: {', '.join(INPUT_FORMATS)}.")
        if self.labels not in LABEL_DTYPES:
            raise UserError(f"unknown labels dtype {self.labels!r}.", fix=f"use one of: {', '.join(LABEL_DTYPES)}.")
        if not MIN_OPSET <= int(self.opset) <= MAX_OPSET:
            raise UserError(f"opset {self.opset} is outside {MIN_OPSET}..{MAX_OPSET}.",
                            fix="use --opset 17 (TensorRT 8.6 parses up to 17; 10.x and 11.x take newer).")
        if self.cls_layout not in CLS_LAYOUTS:
            raise UserError(f"unknown cls head layout {self.cls_layout!r}.", fix=f"use one of: {', '.join(CLS_LAYOUTS)}.")
        if self.cls_layout == "refine" and (self.head != "cls" or self.dynamic):
            raise UserError("--cls-layout refine is a cls head for one static size"
                            f"{'' if self.head == 'cls' else f', and this is the {self.head} head'}.",
                            fix="drop --dynamic (export each size with --res)" if self.head == "cls" else "use --head cls.")
        parse_resolution(f"{self.res[0]}x{self.res[1]}")  # multiple of 32, within the maximum
        check_export_memory(self.res)  # before the model is loaded


@dataclass
class ExportResult:
    path: Path
    meta: ModelMeta
    validation: Dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    op_counts: Dict[str, int] = field(default_factory=dict)
    res: Tuple[int, int] = (0, 0)  # the size exported (and validated) at; the graph's own where static

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _export_module(model, spec: ExportSpec, mean, std, channel_order: str):  # noqa: ANN001, ANN202
    """Wrap the model with the in-graph preprocessing and head."""
    import torch
    from torch import nn

    label_dtype = {"uint8": torch.uint8, "int32": torch.int32, "int64": torch.int64}[spec.labels]

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            # (x/255 - mean)/std == (x - 255*mean) * 1/(255*std): one Sub, one Mul.
            m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
            s = 1.0 / (torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
            if channel_order.upper() == "BGR":  # the network wants BGR: mean/std are given in RGB
                m, s = m.flip(1), s.flip(1)
            self.register_buffer("pix_mean", m, persistent=False)
            self.register_buffer("pix_scale", s, persistent=False)
            swap = (spec.input_format == "bgr8") != (channel_order.upper() == "BGR")
            self.swap = swap

        def forward(self, x):  # noqa: ANN001, ANN202
            if spec.input_format != "float":
                # Cast first: every TensorRT parser takes a uint8 network input only into a Cast.
                x = x.to(torch.float32).permute(0, 3, 1, 2)
                if self.swap:
                    x = x[:, [2, 1, 0]]
                x = (x - self.pix_mean) * self.pix_scale
            if spec.head == "logits":
                return self.net.forward_logits_low(x)
            y = self.net(x)
            if spec.head == "prob":
                # softmax over channels spelled out (ReduceMax, Sub, Exp, ReduceSum, Div): onnxruntime's
                # Softmax over a 19-wide axis is slow at full resolution (410 vs 116 ms at 512x1024 on
                # one core); the numbers agree to 5e-7 and export validation checks them against torch.
                e = torch.exp(y - y.amax(dim=1, keepdim=True))
                return e / e.sum(dim=1, keepdim=True)
            return y.argmax(dim=1).to(label_dtype)

    return Exported().eval()


def sample_input(spec: ExportSpec, res: Tuple[int, int], mean, std, seed: int = 0) -> np.ndarray:  # noqa: ANN001
    """A camera-like random frame in the export's input format (smooth + noise, not pure noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = res
    small = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    img = np.clip(img + rng.integers(-20, 21, size=img.shape), 0, 255).astype(np.uint8)  # RGB
    if spec.input_format == "rgb8":
        return img[None]
    if spec.input_format == "bgr8":
        return np.ascontiguousarray(img[:, :, ::-1])[None]
    x = (img.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None]


def validate_against_torch(module, onnx_bytes: bytes, spec: ExportSpec, res: Tuple[int, int],  # noqa: ANN001
                           mean, std, seed: int = 0) -> Dict[str, float]:  # noqa: ANN001
    """Run PyTorch and onnxruntime (CPU) on the same input; return the differences."""
    import onnxruntime as ort
    import torch

    x = sample_input(spec, res, mean, std, seed)
    logits = []  # the network's own output: cls labels are checked as values, before any dtype cast
    hook = module.net.register_forward_hook(lambda _m, _i, y: logits.append(y)) if spec.head == "cls" else None
    try:
        with torch.inference_mode():
            ref = module(torch.from_numpy(x)).numpy()
    finally:
        if hook is not None:
            hook.remove()
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    if out.shape != ref.shape:
        raise ValidationFailed(f"ONNX output shape {out.shape} differs from PyTorch's {ref.shape}.",
                               fix="report this as a bug with the export options used.")
    result: Dict[str, float] = {"height": res[0], "width": res[1]}
    if spec.head == "cls":
        true = logits[-1].argmax(dim=1).numpy()  # int64 labels, however the graph's output is typed
        got = out.astype(np.int64)
        result["pixel_agreement"] = float(np.mean(got == true))
        result["max_label"], result["reference_max_label"] = int(got.max()), int(true.max())
    else:
        result["max_abs_diff"] = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
        if spec.head == "prob":
            result["pixel_agreement"] = float(np.mean(out.argmax(1) == ref.argmax(1)))
    return result


def _check_bars(v: Dict[str, float], spec: ExportSpec) -> None:
    if spec.head == "cls" and "max_label" in v and v["max_label"] != v["reference_max_label"]:
        raise ValidationFailed(
            f"exported cls model's labels reach {v['max_label']}, PyTorch's {v['reference_max_label']}: the label values "
            f"do not survive the {spec.labels} output; nothing was written.", fix="export with --labels int32.")
    if spec.head == "cls" and v["pixel_agreement"] < CLS_MIN_AGREEMENT:
        raise ValidationFailed(
            f"exported cls model agrees with PyTorch on only {100 * v['pixel_agreement']:.4f} % of pixels "
            f"(bar {100 * CLS_MIN_AGREEMENT:.2f} %); nothing was written.",
            fix="try another --opset, and report the failing options.")
    if spec.head == "prob" and v["max_abs_diff"] > PROB_MAX_ABS_DIFF:
        raise ValidationFailed(
            f"exported prob model differs from PyTorch by {v['max_abs_diff']:.2e} (bar {PROB_MAX_ABS_DIFF:.0e}); "
            "nothing was written.", fix="try another --opset, and report the failing options.")


def export_onnx(spec: ExportSpec, *, model=None, checkpoint=None, validate: bool = True,  # noqa: ANN001
                log: Optional[Callable[[str], None]] = None) -> ExportResult:
    """Export one ONNX file per ``spec``; validate it against PyTorch; write it atomically.

    ``model``/``checkpoint`` override ``spec.weights``/``spec.arch`` (used by tests and
    ``export_many`` to load weights once). Raises ``ValidationFailed`` below the bars
    (prob max abs diff <= 1e-4, cls pixel agreement >= 99.99 %) and writes nothing then.
    """
    import onnx
    import torch

    from fastscnn_edge.core.fileio import atomic_path, check_writable
    from fastscnn_edge.core.paths import default_onnx
    from fastscnn_edge.model.checkpoint import resolve_model

    spec.check()
    t0 = time.perf_counter()
    if model is None:
        model, checkpoint = resolve_model(spec.weights, spec.arch, spec.num_classes)
    arch = model.cfg.name
    if spec.head == "cls":
        check_labels_fit(model.num_classes, spec.labels)  # uint8 holds <= 255 classes
    if spec.arch is not None and checkpoint is not None and spec.arch != arch:
        raise UserError(f"the weights hold a {arch!r} model, but --arch {spec.arch} was given.",
                        fix=f"drop --arch or pass --arch {arch}.")
    mean = tuple(checkpoint.mean) if checkpoint is not None else ModelMeta().mean
    std = tuple(checkpoint.std) if checkpoint is not None else ModelMeta().std
    channel_order = checkpoint.channel_order if checkpoint is not None else "RGB"
    out_path = Path(spec.output) if spec.output else default_onnx(arch, spec.head, spec.res)
    check_writable(out_path)  # fail on an unwritable output before the work, not after

    model = model.eval()
    model.set_exact_export(True)
    try:
        module = _export_module(model, spec, mean, std, channel_order)
        x = sample_input(spec, spec.res, mean, std)
        input_name = "frames" if spec.input_format != "float" else "input"
        output_name = {"cls": "labels", "prob": "probs", "logits": "logits"}[spec.head]
        dynamic_axes = None
        if spec.dynamic:
            hw = (1, 2) if spec.input_format != "float" else (2, 3)
            out_hw = (1, 2) if spec.head == "cls" else (2, 3)
            dynamic_axes = {input_name: {0: "batch", hw[0]: "height", hw[1]: "width"},
                            output_name: {0: "batch", out_hw[0]: "out_height", out_hw[1]: "out_width"}}
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.from_numpy(x),), buf, dynamo=False, opset_version=int(spec.opset),
                              input_names=[input_name], output_names=[output_name], dynamic_axes=dynamic_axes,
                              do_constant_folding=True)
        proto = onnx.load_from_string(buf.getvalue())
        if spec.simplify:
            proto = _simplify(proto)
        cls_layout = "nchw"
        if spec.cls_layout == "refine":  # replaces the whole head: no NHWC or label-cast rewrite first
            from fastscnn_edge.export.cls_head import refine_cls_head

            why = refine_cls_head(proto)
            if why:
                raise UserError(f"--cls-layout refine cannot be built for this model: {why}.",
                                fix="use the default --cls-layout nhwc (the dense head; same labels).")
            cls_layout = "refine"
        # A dynamic NHWC head with uint8 or int64 labels fails inside TensorRT-RTX's builder (Myelin
        # CHECK_EQ(dim_count(), stride_order().size()) on a min != max profile); the NCHW head builds
        # with every label type, so dynamic exports keep it (tests/runtime/trt/test_rtx.py).
        elif spec.head == "cls" and spec.cls_layout == "nhwc" and not spec.dynamic and nhwc_cls_head(proto):
            cls_layout = "nhwc"
        if spec.head == "cls" and spec.labels == "uint8" and cls_layout != "refine":
            labels_through_float(proto)
        meta = ModelMeta(
            arch=arch, head=spec.head, input_format=spec.input_format,
            resolution=None if spec.dynamic else tuple(spec.res),  # type: ignore[arg-type]
            num_classes=model.num_classes,
            class_names=list(checkpoint.class_names) if checkpoint is not None else ModelMeta().class_names
            if model.num_classes == 19 else [f"class_{i}" for i in range(model.num_classes)],
            mean=mean, std=std, channel_order=channel_order,  # type: ignore[arg-type]
            labels_dtype=spec.labels if spec.head == "cls" else "",
            precision="fp32",
            weights_sha256=(checkpoint.state_sha256 if checkpoint is not None else RANDOM_WEIGHTS),
            weights_source=(checkpoint.source if checkpoint is not None else "random initialisation (seed 0)"),
            toolkit_version=__version__,
            extra={"opset": str(spec.opset), "align_corners": "true" if model.cfg.align_corners else "false",
                   "ppm": "exact adaptive average pooling as MatMul",
                   **({"cls_head_layout": cls_layout} if spec.head == "cls" else {})},
        )
        proto.producer_name, proto.producer_version = "fastscnn-edge", __version__
        proto.doc_string = f"Fast-SCNN ({arch}) head={spec.head} input={spec.input_format}"
        write_onnx_meta(proto, meta)
        onnx.checker.check_model(proto, full_check=True)
        meta_from_proto(proto, out_path)  # what every reader checks: the fields, and the graph against them
        data = proto.SerializeToString()
        validation: Dict[str, float] = {}
        if validate:
            sizes = [tuple(spec.res)]
            if spec.dynamic:  # a second size proves the graph is not tied to the traced one
                sizes.append((spec.res[0] + 32, spec.res[1] + 64))
            for i, r in enumerate(sizes):
                v = validate_against_torch(module, data, spec, r, mean, std)
                _check_bars(v, spec)
                if i == 0:
                    validation = v
                else:
                    validation.update({f"{k}@{r[0]}x{r[1]}": val for k, val in v.items() if k not in ("height", "width")})
        with atomic_path(out_path) as tmp:
            tmp.write_bytes(data)
    finally:
        model.set_exact_export(False)
    counts: Dict[str, int] = {}
    for n in proto.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return ExportResult(out_path, meta, validation, time.perf_counter() - t0, counts, tuple(spec.res))  # type: ignore[arg-type]


def nhwc_cls_head(proto) -> bool:  # noqa: ANN001 - onnx.ModelProto, rewritten in place
    """Rewrite the cls head ``Resize (NCHW) -> ArgMax(axis=1)`` as ``Transpose to NHWC at 1/8 ->
    Resize -> ArgMax(axis=3)``; True where the pattern was found and rewritten.

    The labels are the same: bilinear resizing is per channel, and ArgMax keeps the first maximum
    in either layout (the export validation checks it against PyTorch). The transpose runs on the
    1/8-resolution logits, and ArgMax then reads contiguous channels: on onnxruntime CPU this
    halves the head's time (benchmarks/results: Resize 10.7 ms + ArgMax 8.6 ms at 512x1024).
    TensorRT's resize layer works on the innermost dimensions, which NHWC keeps spatial.
    """
    from onnx import TensorProto, helper, numpy_helper

    g = proto.graph
    inits = {t.name: t for t in g.initializer}
    consumers: Dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for idx, r in enumerate(g.node):
        if r.op_type != "Resize" or len(consumers.get(r.output[0], [])) != 1 or (len(r.input) > 1 and r.input[1]):
            continue
        a = consumers[r.output[0]][0]
        attrs = {at.name: at.i for at in a.attribute}
        if a.op_type != "ArgMax" or attrs.get("axis", 0) != 1 or attrs.get("keepdims", 1) != 0:
            continue
        p = r.name or "head"
        new = [helper.make_node("Transpose", [r.input[0]], [f"{p}_nhwc_in"], perm=[0, 2, 3, 1], name=f"{p}_nhwc_t")]
        ins = [f"{p}_nhwc_in", "", "", ""]
        slot = 3 if len(r.input) > 3 and r.input[3] else 2  # sizes, else scales: both permuted like the data
        if r.input[slot] in inits:  # static: permute the constant
            v = numpy_helper.to_array(inits[r.input[slot]])
            g.initializer.append(numpy_helper.from_array(v[[0, 2, 3, 1]], f"{p}_nhwc_shape"))
        else:  # dynamic: permute at run time
            g.initializer.append(helper.make_tensor(f"{p}_nhwc_perm", TensorProto.INT64, [4], [0, 2, 3, 1]))
            new.append(helper.make_node("Gather", [r.input[slot], f"{p}_nhwc_perm"], [f"{p}_nhwc_shape"], axis=0,
                                        name=f"{p}_nhwc_gather"))
        ins[slot] = f"{p}_nhwc_shape"
        del r.input[:]
        r.input.extend(ins[:slot + 1])
        for at in a.attribute:
            if at.name == "axis":
                at.i = 3
        for k, n in enumerate(new):
            g.node.insert(idx + k, n)
        for vi in [v for v in g.value_info if v.name == r.output[0]]:
            g.value_info.remove(vi)
        return True
    return False


def labels_through_float(proto) -> bool:  # noqa: ANN001 - onnx.ModelProto, rewritten in place
    """Rewrite the cls head's ``ArgMax -> Cast(uint8)`` as ``ArgMax -> Cast(float32) -> Cast(uint8)``;
    True where the pattern was found.

    TensorRT 8.5/8.6 converts to uint8 only from float32/float16 ("uint8 conversions are only
    supported for {float32, float16}"), so the direct int -> uint8 cast of the labels does not build
    there; through float32 it builds on 8.x, 10.x, 11.x and TensorRT-RTX alike, and the engine still
    copies back one byte per pixel. Label values (< 256) are exact in float32.
    """
    from onnx import TensorProto, helper

    g = proto.graph
    producers = {o: n for n in g.node for o in n.output}
    for idx, node in enumerate(g.node):
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        src = producers.get(node.input[0]) if node.op_type == "Cast" else None
        if to != TensorProto.UINT8 or src is None or src.op_type != "ArgMax":
            continue
        mid = f"{node.input[0]}_as_float"
        g.node.insert(idx, helper.make_node("Cast", [node.input[0]], [mid], to=TensorProto.FLOAT,
                                            name=f"{node.name or 'labels'}_via_float"))
        node.input[0] = mid
        return True
    return False


def _simplify(proto):  # noqa: ANN001, ANN202
    """onnxslim (constant folding, dead-node and Identity removal); onnxsim where onnxslim is absent."""
    try:
        import onnxslim
    except ImportError:
        try:
            import onnxsim

            simplified, ok = onnxsim.simplify(proto)
            return simplified if ok else proto
        except ImportError:
            return proto
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return onnxslim.slim(proto)


def export_many(*, weights: Optional[Path] = None, arch: Optional[str] = None, head: str = "cls",
                resolutions: Sequence[Sequence[int]] = (), output: Optional[Path] = None, validate: bool = True,
                progress: Optional[Progress] = None, **options: Any) -> List[ExportResult]:
    """Export ``resolutions`` (default: the paper's three), the weights loaded once.

    ``output``: None writes each where build-engine and bench look (``artifacts/``); a ``.onnx`` path
    names the one file of a single resolution; any other path is a folder for them all. ``options``
    are :class:`ExportSpec` fields (``dynamic``, ``input_format``, ``labels``, ``opset``, ``cls_layout``).
    Every option is checked before the model is loaded.
    """
    from fastscnn_edge.core.paths import stem
    from fastscnn_edge.core.resolution import or_paper
    from fastscnn_edge.model.checkpoint import resolve_model

    ress = or_paper(resolutions)
    if output is not None and len(ress) > 1 and Path(output).suffix.lower() == ".onnx":
        raise UserError(f"-o {output} names one file, but {len(ress)} resolutions were asked for.",
                        fix="pass a folder with -o, or a single --res.")
    for r in ress:  # the cheap checks before loading anything
        ExportSpec(arch=arch, head=head, res=tuple(r), **options).check()  # type: ignore[arg-type]
    model, ckpt = resolve_model(weights, arch)
    results = []
    for i, r in enumerate(ress):
        if output is None:
            out = None
        elif Path(output).suffix.lower() == ".onnx":
            out = Path(output)
        else:
            out = Path(output) / f"{stem(model.cfg.name, head, r)}{'_dynamic' if options.get('dynamic') else ''}.onnx"
        report(progress, f"exporting {r[0]}x{r[1]} and validating against PyTorch", i, len(ress))
        spec = ExportSpec(arch=arch, weights=weights, head=head, res=tuple(r), output=out, **options)  # type: ignore[arg-type]
        results.append(export_onnx(spec, model=model, checkpoint=ckpt, validate=validate))
        report(progress, f"exporting {r[0]}x{r[1]} and validating against PyTorch", i + 1, len(ress))
    return results


def describe_validation(result: ExportResult) -> str:
    """The export's check against PyTorch, as a clause with its bar."""
    v, head = result.validation, result.meta.head
    if "pixel_agreement" in v and head == "cls":
        return f"pixel agreement {100 * v['pixel_agreement']:.4f} % (bar >= {100 * CLS_MIN_AGREEMENT:.2f} %)"
    if v:
        return f"max |diff| {v['max_abs_diff']:.2e} (bar <= {PROB_MAX_ABS_DIFF:.0e})" + (
            f", pixel agreement {100 * v['pixel_agreement']:.4f} %" if "pixel_agreement" in v else "")
    return "not validated"
