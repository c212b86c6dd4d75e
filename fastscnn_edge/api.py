"""The Python API: the pipeline's steps as typed functions, for embedding fastscnn-edge in your own code.

Each step takes paths (or an :class:`~fastscnn_edge.artifact.Artifact`) and returns what it made,
exactly as the commands do (the commands are a thin skin over the same library); errors are
:class:`~fastscnn_edge.errors.UserError` with ``.cause`` and ``.fix``. Long steps take ``progress``,
a ``(task, done, total)`` callback. Nothing heavy is imported until a function runs: ``export``
needs torch, ``build_engine`` TensorRT or TensorRT-RTX, the rest onnxruntime.

    import fastscnn_edge as fe

    onnx = fe.export_model(resolutions=["256x512"])[0]   # weights="model.pt" for trained weights
    fp16 = fe.quantize_model(onnx, precision="fp16")
    with fe.open_runner(onnx) as runner:
        labels = runner.labels(runner(runner.preprocess(frame)))   # frame: an HxWx3 BGR image
    (result,) = fe.benchmark(onnx, iters=20, warmup=5)

The names differ from the modules that implement them (``fastscnn_edge.export``, ``.bench``...),
so ``import fastscnn_edge.bench`` never hides ``fastscnn_edge.benchmark``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

from fastscnn_edge.progress import Progress

if TYPE_CHECKING:
    from fastscnn_edge.artifact import Artifact
    from fastscnn_edge.bench import BenchResult
    from fastscnn_edge.predict import PredictResult
    from fastscnn_edge.runner import Runner

PathLike = Union[str, Path]
ArtifactLike = Union[str, Path, "Artifact"]
ResolutionLike = Union[str, Sequence[int]]


def _resolutions(values: Sequence[ResolutionLike]) -> List[Any]:
    from fastscnn_edge.resolution import Resolution, parse_resolution

    return [parse_resolution(v) if isinstance(v, str) else Resolution.of(v) for v in values]


def _one_resolution(value: Optional[ResolutionLike]) -> Any:
    return _resolutions([value])[0] if value is not None else None


def export_model(weights: Optional[PathLike] = None, *, arch: Optional[str] = None, head: str = "cls",
           resolutions: Sequence[ResolutionLike] = (), output: Optional[PathLike] = None, input_format: str = "float",
           labels: str = "uint8", dynamic: bool = False, validate: bool = True, cls_layout: str = "nhwc",
           progress: Optional[Progress] = None) -> List[Path]:
    """Export ONNX files (default: the paper's three resolutions into ``artifacts/``), each validated
    against PyTorch; returns their paths. ``weights``: a native checkpoint (None: random weights).
    ``cls_layout="refine"``: the cls head for onnxruntime on the CPU (:mod:`fastscnn_edge.cls_head`)."""
    from fastscnn_edge.export import export_many

    results = export_many(weights=Path(weights) if weights is not None else None, arch=arch, head=head,
                          resolutions=_resolutions(resolutions), output=Path(output) if output is not None else None,
                          validate=validate, progress=progress, dynamic=dynamic, input_format=input_format,
                          labels=labels, cls_layout=cls_layout)
    return [r.path for r in results]


def quantize_model(model: ArtifactLike, *, precision: str = "fp16", calib: Optional[PathLike] = None,
             form: str = "tensorrt", output: Optional[PathLike] = None, val: Optional[PathLike] = None,
             calib_method: str = "entropy", max_drop: Optional[float] = None, exclude: Sequence[str] = (),
             float_type: str = "fp32") -> Path:
    """A precision-explicit copy of an fp32 export: ``precision="fp16"``, or ``"int8"`` with ``calib``
    images (``form``: ``tensorrt`` Q/DQ or ``cpu`` for onnxruntime; ``val``: held-out images to check
    on; ``max_drop``/``exclude``: layers kept float, see ``quantize --max-drop``; ``float_type``: what
    the TensorRT form's float parts compute in); returns its path."""
    from fastscnn_edge.errors import UserError
    from fastscnn_edge.quantize import to_fp16, to_int8

    out = Path(output) if output is not None else None
    if precision == "fp16":
        return Path(to_fp16(model, out).path)
    if precision == "int8":
        return Path(to_int8(model, out, Path(calib) if calib is not None else None, form=form, method=calib_method,
                            val=Path(val) if val is not None else None, max_drop=max_drop, exclude=list(exclude),
                            float_type=float_type).path)
    raise UserError(f"unknown precision {precision!r}.", fix="use fp16 or int8.")


def build_engine(model: ArtifactLike, *, precision: Optional[str] = None, runtime: str = "auto", target: str = "auto",
                 resolutions: Sequence[ResolutionLike] = (), compute_capabilities: Sequence[str] = (),
                 output: Optional[PathLike] = None, calib: Optional[PathLike] = None,
                 progress: Optional[Progress] = None) -> Path:
    """Build a TensorRT (or TensorRT-RTX) engine and its sidecar from an ONNX; returns the engine's path.
    ``precision``: fp32 | fp16 | int8 (default: int8 for a Q/DQ ONNX, else fp16)."""
    from fastscnn_edge.artifact import open_artifact
    from fastscnn_edge.trt.build import build_engine as _build
    from fastscnn_edge.trt.capability import default_precision, parse_compute_capabilities

    a = open_artifact(model)
    result = _build(a, Path(output) if output is not None else None, precision or default_precision(a.onnx_kind),
                    _resolutions(resolutions), target, None, None, None, Path(calib) if calib is not None else None,
                    runtime=runtime, compute_capabilities=parse_compute_capabilities(compute_capabilities),
                    progress=progress)
    return result.path


def open_runner(artifact: ArtifactLike, *, backend: str = "auto", device: str = "auto",
                resolution: Optional[ResolutionLike] = None, threads: Optional[int] = None,
                openvino_options: Optional[Dict[str, str]] = None) -> "Runner":
    """A runner for any artifact (use it as a context manager): ``runner.preprocess(bgr)`` makes its
    input, ``runner(x)`` runs it, ``runner.labels(y)`` gives (N, H, W) train-ID labels.

    ``backend``: auto | onnxruntime | openvino | tensorrt | torch; ``auto`` on a CPU runs an ONNX file
    on OpenVINO where it is installed (except the INT8 CPU form: onnxruntime), and ``runner.description``
    says which. ``openvino_options``: ``precision`` (``f32`` default, ``bf16``), ``cls_head`` (``best``:
    the refined head at load, default; ``dense``: the file's own head)."""
    from fastscnn_edge.evaluate import open_runner as _open

    return _open(artifact, backend=backend, device=device, res=_one_resolution(resolution), threads=threads,
                 openvino_options=openvino_options)


def benchmark(artifact: Optional[ArtifactLike] = None, *, resolutions: Sequence[ResolutionLike] = (), backend: str = "auto",
          device: str = "auto", warmup: int = 100, iters: int = 100, threads: Optional[int] = None,
          progress: Optional[Progress] = None) -> List["BenchResult"]:
    """Time ``artifact`` (None: the default artifacts, as ``fastscnn-edge bench`` picks them) with the
    paper's protocol; one result per resolution (``fps``, ``latency`` statistics, ``to_json()``)."""
    from fastscnn_edge.bench import BenchOptions, select_cases
    from fastscnn_edge.timing import benchmark as time_cases

    cases = select_cases([artifact] if artifact is not None else [], backend=backend, device=device,
                         resolutions=_resolutions(resolutions))
    return time_cases(cases, BenchOptions(warmup=warmup, iters=iters, threads=threads), progress=progress)


def evaluate_model(artifact: ArtifactLike, data: PathLike, *, data_format: str = "cityscapes", split: str = "val",
             limit: Optional[int] = None, resolution: Optional[ResolutionLike] = None, backend: str = "auto",
             device: str = "auto", progress: Optional[Progress] = None) -> Dict[str, object]:
    """mIoU, per-class and category IoU, pixel accuracy of ``artifact`` on a labelled split (fractions)."""
    from fastscnn_edge.evaluate import evaluate as _evaluate

    return _evaluate(artifact, data, data_format, split, limit, _one_resolution(resolution), backend, device=device,
                     progress=progress)


def predict_files(artifact: ArtifactLike, inputs: Sequence[PathLike], output: PathLike = "predictions", *,
            format: str = "color", resolution: Optional[ResolutionLike] = None,  # noqa: A002
            progress: Optional[Progress] = None) -> "PredictResult":
    """Segment images, folders or videos into ``output`` (``format``: color | overlay | trainids |
    cityscapes-labelids); the result lists what was written and skipped."""
    from fastscnn_edge.predict import predict as _predict

    return _predict(artifact, [str(i) for i in inputs], output, format, res=_one_resolution(resolution),
                    progress=progress)


__all__ = ["benchmark", "build_engine", "evaluate_model", "export_model", "open_runner", "predict_files", "quantize_model"]
