"""The Python API: the pipeline's steps as typed functions, for embedding fastscnn-edge in your own code.

Each step takes paths (or an :class:`~fastscnn_edge.runtime.artifact.Artifact`) and returns what it made,
exactly as the commands do (the commands are a thin skin over the same library); errors are
:class:`~fastscnn_edge.core.errors.UserError` with ``.cause`` and ``.fix``. Long steps take ``progress``,
a ``(task, done, total)`` callback. Nothing heavy is imported until a function runs: ``export``
needs torch, ``build_engine`` TensorRT or TensorRT-RTX, the rest onnxruntime (or OpenVINO). Functions
with many options take an options dataclass (:class:`~fastscnn_edge.engine.BuildOptions`,
:class:`~fastscnn_edge.quantize.convert.Int8Options`); every parameter after the first is keyword-only.

    import fastscnn_edge as fe

    onnx = fe.export_model(resolutions=["256x512"])[0]   # weights="model.pt" for trained weights
    fp16 = fe.quantize_model(onnx, precision="fp16")
    with fe.open_runner(onnx) as runner:
        labels = runner.labels(runner(runner.preprocess(frame)))   # frame: an HxWx3 BGR image
    (result,) = fe.benchmark(onnx, iters=20, warmup=5)
    engine = fe.build_engine(onnx, options=fe.BuildOptions(precision="fp16", runtime="rtx"))

The names differ from the packages that implement them (``fastscnn_edge.export``, ``.bench``...),
so ``import fastscnn_edge.bench`` never hides ``fastscnn_edge.benchmark``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

from fastscnn_edge.core.progress import Progress

if TYPE_CHECKING:
    from fastscnn_edge.bench.cases import BenchResult
    from fastscnn_edge.engine import BuildOptions, BuildResult, build_engine
    from fastscnn_edge.quantize.convert import Int8Options
    from fastscnn_edge.runtime.artifact import Artifact
    from fastscnn_edge.runtime.backends import open_runner
    from fastscnn_edge.serve.predict import PredictResult

PathLike = Union[str, Path]
ArtifactLike = Union[str, Path, "Artifact"]
ResolutionLike = Union[str, Sequence[int]]


def _resolutions(values: Sequence[ResolutionLike]) -> List[Any]:
    from fastscnn_edge.core.resolution import as_resolution

    return [as_resolution(v) for v in values]


def _one_resolution(value: Optional[ResolutionLike]) -> Any:
    return _resolutions([value])[0] if value is not None else None


def export_model(weights: Optional[PathLike] = None, *, arch: Optional[str] = None, head: str = "cls",
           resolutions: Sequence[ResolutionLike] = (), output: Optional[PathLike] = None, input_format: str = "float",
           labels: str = "uint8", dynamic: bool = False, validate: bool = True, cls_layout: str = "nhwc",
           progress: Optional[Progress] = None) -> List[Path]:
    """Export ONNX files (default: the paper's three resolutions into ``artifacts/``), each validated
    against PyTorch; returns their paths. ``weights``: a native checkpoint (None: random weights).
    ``cls_layout="refine"``: the cls head for onnxruntime on the CPU (:mod:`fastscnn_edge.export.cls_head`)."""
    from fastscnn_edge.export.to_onnx import export_many

    results = export_many(weights=Path(weights) if weights is not None else None, arch=arch, head=head,
                          resolutions=_resolutions(resolutions), output=Path(output) if output is not None else None,
                          validate=validate, progress=progress, dynamic=dynamic, input_format=input_format,
                          labels=labels, cls_layout=cls_layout)
    return [r.path for r in results]


def quantize_model(model: ArtifactLike, *, precision: str = "fp16", calib: Optional[PathLike] = None,
                   output: Optional[PathLike] = None, int8: Optional["Int8Options"] = None,
                   progress: Optional[Progress] = None) -> Path:
    """A precision-explicit copy of an fp32 export; returns its path. ``precision="fp16"``, or
    ``"int8"`` with ``calib`` images and ``int8``, an :class:`~fastscnn_edge.quantize.convert.Int8Options`
    holding every option of ``quantize --int8`` (form: tensorrt | cpu | openvino; calibration
    method and percentile, image count, cache; the held-out check: ``val``, ``holdout``,
    ``min_agreement``; mixed INT8: ``exclude``, ``max_drop``, ``sensitivity``; ``float_type``)."""
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.core.precision import get
    from fastscnn_edge.quantize.convert import Int8Options, to_fp16, to_int8

    out = Path(output) if output is not None else None
    if get(precision).name == "fp16":
        if int8 is not None or calib is not None:
            raise UserError("calib and int8 options are for precision='int8'.", fix="drop them, or pass precision='int8'.")
        return Path(to_fp16(model, out).path)
    if precision == "int8":
        return Path(to_int8(model, out, Path(calib) if calib is not None else None, options=int8 or Int8Options(),
                            progress=progress).path)
    raise UserError(f"precision {precision!r} is what export writes; quantize makes fp16 or int8.",
                    fix="pass precision='fp16' or precision='int8'.")


# One function each, the library's own (the same object the commands call), resolved on first use so
# that importing the package stays cheap.
_LAZY = {"build_engine": "engine", "BuildOptions": "engine", "BuildResult": "engine", "open_runner": "runtime.backends",
         "Int8Options": "quantize.convert"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"fastscnn_edge.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'fastscnn_edge.api' has no attribute {name!r}")


def benchmark(artifact: Optional[ArtifactLike] = None, *, resolutions: Sequence[ResolutionLike] = (), backend: str = "auto",
          device: str = "auto", warmup: int = 100, iters: int = 100, threads: Optional[int] = None,
          progress: Optional[Progress] = None) -> List["BenchResult"]:
    """Time ``artifact`` (None: the default artifacts, as ``fastscnn-edge bench`` picks them) with the
    paper's protocol; one result per resolution (``fps``, ``latency`` statistics, ``to_json()``)."""
    from fastscnn_edge.bench.cases import BenchOptions, select_cases
    from fastscnn_edge.bench.timing import benchmark as time_cases

    cases = select_cases([artifact] if artifact is not None else [], backend=backend, device=device,
                         resolutions=_resolutions(resolutions))
    return time_cases(cases, BenchOptions(warmup=warmup, iters=iters, threads=threads), progress=progress)


def evaluate_model(artifact: ArtifactLike, data: PathLike, *, data_format: str = "cityscapes", split: str = "val",
             limit: Optional[int] = None, resolution: Optional[ResolutionLike] = None, backend: str = "auto",
             device: str = "auto", progress: Optional[Progress] = None) -> Dict[str, object]:
    """mIoU, per-class and category IoU, pixel accuracy of ``artifact`` on a labelled split (fractions)."""
    from fastscnn_edge.bench.evaluate import evaluate as _evaluate

    return _evaluate(artifact, data, data_format, split, limit, _one_resolution(resolution), backend, device=device,
                     progress=progress)


def predict_files(artifact: ArtifactLike, inputs: Sequence[PathLike], output: PathLike = "predictions", *,
            format: str = "color", resolution: Optional[ResolutionLike] = None,  # noqa: A002
            progress: Optional[Progress] = None) -> "PredictResult":
    """Segment images, folders or videos into ``output`` (``format``: color | overlay | trainids |
    cityscapes-labelids); the result lists what was written and skipped."""
    from fastscnn_edge.serve.predict import predict as _predict

    return _predict(artifact, [str(i) for i in inputs], output, format, res=_one_resolution(resolution),
                    progress=progress)


__all__ = ["BuildOptions", "BuildResult", "Int8Options", "benchmark", "build_engine", "evaluate_model", "export_model", "open_runner",
           "predict_files", "quantize_model"]
