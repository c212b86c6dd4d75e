"""How a reduced-precision ONNX compares with its fp32 source, on CPU with onnxruntime.

The frames it is measured on are never calibration images: held-out images of ``--calib``,
``--val`` images, or synthetic frames where there are none (FP16, or an INT8 rebuild from a cache
alone). Where a frame has ground truth (Cityscapes or folder layout, found by
:func:`fastscnn_edge.data.datasets.label_for_image`), both models' mIoU is measured too. torch-free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError, ValidationFailed
from fastscnn_edge.core.metadata import ModelMeta

Log = Optional[Callable[[str], None]]

FP16_MIN_AGREEMENT = 0.999  # issue 3's bar for a trained model; on random weights it only warns
SYNTHETIC_FRAMES = 4


@dataclass
class EvalFrames:
    """Network inputs, the ground truth of each where it exists, and what they are (for the report)."""

    inputs: List[np.ndarray]
    labels: List[Optional[np.ndarray]] = field(default_factory=list)
    source: str = "synthetic frames"


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

    from fastscnn_edge.data.preprocess import to_network_input

    rng = np.random.default_rng(seed)
    out = []
    h, w = res
    for _ in range(n):
        small = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.int16)
        img = np.clip(img + rng.integers(-20, 21, size=img.shape), 0, 255).astype(np.uint8)
        out.append(to_network_input(img, meta, res))
    return out


def image_frames(paths: List[Path], meta: ModelMeta, res: Tuple[int, int], source: str) -> EvalFrames:
    """``paths`` through the preprocessing policy, with their ground truth where it exists."""
    from fastscnn_edge.data import datasets
    from fastscnn_edge.data.preprocess import read_image_bgr, to_network_input

    frames = EvalFrames([], [], source)
    for p in paths:
        try:
            bgr = read_image_bgr(p)
        except UserError:
            continue
        frames.inputs.append(to_network_input(bgr, meta, res))
        found = datasets.label_for_image(p)
        label = None
        if found is not None:
            sample = datasets.Sample(image=Path(p), label=found[0], name=Path(p).stem)
            label = datasets.read_label(sample, found[1], meta.num_classes)
            datasets.check_label_size(sample, label, bgr)
        frames.labels.append(label)
    if not frames.inputs:
        raise UserError(f"none of the {len(paths)} {source} could be decoded.", fix="check the image files.")
    return frames


def _cpu_runner(model: bytes, runtime: str, head: str):  # noqa: ANN202 - ndarray -> ndarray
    """One ONNX model on the CPU runtime that will run it: onnxruntime, or OpenVINO (in its best form)."""
    if runtime == "openvino":
        import onnx

        from fastscnn_edge.core.metadata import PREFIX
        from fastscnn_edge.runtime import ov_runtime

        proto = onnx.load_from_string(model)
        props = {p.key: p.value for p in proto.metadata_props}
        return ov_runtime.compile_onnx(model, proto, head=head, layout=props.get(PREFIX + "extra.cls_head_layout", "nchw"))
    sess = cpu_session(model)
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def compare(reference: bytes, candidate: bytes, inputs: List[np.ndarray], head: str,
            labels: Optional[List[Optional[np.ndarray]]] = None, num_classes: int = 0,
            runtime: str = "onnxruntime") -> Dict[str, float]:
    """Run both models on CPU (``runtime``: onnxruntime, or openvino) over ``inputs``: pixel agreement of the labels (fraction), max |diff|
    of probabilities (``prob`` head), and, over the frames with ground truth in ``labels``, the mIoU
    of each (fractions: ``miou_reference``, ``miou``; ``labelled`` frames)."""
    from fastscnn_edge.data.metrics import ConfusionMatrix
    from fastscnn_edge.data.preprocess import labels_to_size

    run_ref, run_new = _cpu_runner(reference, runtime, head), _cpu_runner(candidate, runtime, head)
    same = total = labelled = 0
    max_diff = 0.0
    seen: set = set()
    cms = (ConfusionMatrix(num_classes), ConfusionMatrix(num_classes)) if num_classes else None
    for i, x in enumerate(inputs):
        a = run_ref(x)
        b = run_new(x)
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
        gt = labels[i] if labels is not None and i < len(labels) else None
        if gt is not None and cms is not None:
            cms[0].update(gt, labels_to_size(la[0], gt.shape[:2]))
            cms[1].update(gt, labels_to_size(lb[0], gt.shape[:2]))
            labelled += 1
    result = {"pixel_agreement": same / max(total, 1), "frames": float(len(inputs)),
              "reference_classes": float(len(seen))}
    if head != "cls":
        result["max_abs_diff"] = max_diff
    if labelled and cms is not None:
        result.update(labelled=float(labelled), miou_reference=cms[0].miou(), miou=cms[1].miou())
    return result


def describe(v: Dict[str, float], source: str = "frame(s)") -> str:
    """One line for the terminal: agreement (and mIoU where measured) and on what."""
    text = f"pixel agreement {100 * v['pixel_agreement']:.3f} %"
    if "max_abs_diff" in v:
        text += f", max |diff| {v['max_abs_diff']:.2e}"
    text += f" over {int(v.get('frames', 0))} {source}"
    if "miou" in v:
        text += (f"; mIoU {100 * v['miou']:.2f} % vs fp32 {100 * v['miou_reference']:.2f} % "
                 f"({100 * (v['miou'] - v['miou_reference']):+.2f} points, {int(v['labelled'])} labelled)")
    return text


def check_bar(v: Dict[str, float], min_agreement: Optional[float], precision: str, meta: ModelMeta,
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
