"""The naming module: what every artifact file is called and where it lives by default, so that
`export`, `quantize`, `build-engine` and `bench` chain with no arguments. No other module spells a
suffix.

Everything goes under ``./artifacts`` (or ``$FASTSCNN_EDGE_ARTIFACTS``):

    artifacts/fastscnn_<arch>_<head>_<H>x<W>.onnx               fp32 ONNX from `export`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.fp16.onnx          from `quantize --fp16`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8.onnx          from `quantize --int8` (TensorRT Q/DQ form)
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8-cpu.onnx      from `quantize --int8 --form cpu`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8-ov.onnx       from `quantize --int8 --form openvino`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8.calib.json    calibration ranges, reused with --cache
    artifacts/engines/fastscnn_<arch>_<head>_<H>x<W>.<prec>.engine       TensorRT (+ .engine.json sidecar)
    artifacts/engines/fastscnn_<arch>_<head>_<H>x<W>.<prec>.rtx.engine   TensorRT-RTX (+ sidecar, + .runtime-cache)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from fastscnn_edge.core.errors import UserError

DEFAULT_ARCH = "paper"
DEFAULT_HEAD = "cls"
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def artifacts_dir() -> Path:
    return Path(os.environ.get("FASTSCNN_EDGE_ARTIFACTS", "artifacts"))


def engines_dir() -> Path:
    return artifacts_dir() / "engines"


def stem(arch: str, head: str, res: Sequence[int]) -> str:
    return f"fastscnn_{arch}_{head}_{res[0]}x{res[1]}"


def precision_tag(precision: str, form: str = "tensorrt") -> str:
    """The suffix tag of a precision-explicit ONNX, from the precision table: "" (fp32), "fp16",
    "int8" (TensorRT Q/DQ form), "int8-cpu" (onnxruntime's form, so it never shadows the TensorRT
    one), "int8-ov" (OpenVINO's, NNCF)."""
    from fastscnn_edge.core.precision import file_tag

    return file_tag(precision, form)


def default_onnx(arch: str = DEFAULT_ARCH, head: str = DEFAULT_HEAD, res: Sequence[int] = (1024, 2048),
                 precision: str = "fp32", form: str = "tensorrt") -> Path:
    tag = precision_tag(precision, form)
    return artifacts_dir() / f"{stem(arch, head, res)}{'.' + tag if tag else ''}.onnx"


def beside(src: Path, precision: str, form: str = "tensorrt") -> Path:
    """``x.onnx`` -> ``x.fp16.onnx`` / ``x.int8.onnx`` / ``x.int8-cpu.onnx``, beside it. For a default
    export this is exactly :func:`default_onnx` of that precision, where build-engine and bench look."""
    src = Path(src)
    base = src.name[:-len(".onnx")] if src.name.endswith(".onnx") else src.stem
    tag = precision_tag(precision, form)
    return src.with_name(f"{base}{'.' + tag if tag else ''}.onnx")


def calibration_cache(dst: Path) -> Path:
    """``x.int8.onnx`` -> ``x.int8.calib.json`` beside the model."""
    return Path(dst).with_suffix(".calib.json")


def default_engine(arch: str, head: str, res: Sequence[int], precision: str, runtime: str = "tensorrt") -> Path:
    """TensorRT engines end in ``.<precision>.engine``, TensorRT-RTX ones in ``.<precision>.rtx.engine``
    (they run on other GPUs and another runtime, so the two never shadow each other)."""
    tag = ".rtx" if runtime == "rtx" else ""
    return engines_dir() / f"{stem(arch, head, res)}.{precision}{tag}.engine"


def multi_resolution_engine(single: Path, resolutions: Sequence[Sequence[int]]) -> Path:
    """The name of one engine with a profile per size: the sizes joined into the stem."""
    first = f"_{resolutions[0][0]}x{resolutions[0][1]}."
    sizes = "_".join(f"{h}x{w}" for h, w in resolutions)
    return single.with_name(single.name.replace(first, f"_{sizes}.", 1))


def sidecar_path(engine: str | os.PathLike) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    p = Path(engine)
    return p.with_name(p.name + ".json")


def runtime_cache_path(engine: str | os.PathLike) -> Path:
    """``model.rtx.engine`` -> ``model.rtx.engine.runtime-cache`` (TensorRT-RTX's just-in-time kernels)."""
    p = Path(engine)
    return p.with_name(p.name + ".runtime-cache")


def is_rtx_engine_name(path: Path) -> bool:
    return Path(path).name.endswith(".rtx.engine")


def precision_from_name(path: Path, default: str = "fp32") -> str:
    """The precision an engine's default name carries (for an engine without its sidecar)."""
    name = Path(path).name
    from fastscnn_edge.core.vocab import PRECISIONS

    return next((p for p in PRECISIONS if f".{p}." in name), default)


def artifact_kind(path: Path) -> str:
    """``onnx``, ``engine`` or ``checkpoint`` from the file's extension; UserError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in ENGINE_SUFFIXES:
        return "engine"
    if suffix in CHECKPOINT_SUFFIXES:
        return "checkpoint"
    if suffix in (".xml", ".bin"):
        raise UserError(f"{path} looks like an OpenVINO IR; fastscnn-edge runs ONNX files on OpenVINO (its metadata and "
                        "checks live in the ONNX), not IRs.",
                        fix="pass the .onnx it came from with --backend openvino (quantize --int8 --form openvino writes "
                            "an OpenVINO INT8 .onnx).")
    raise UserError(f"cannot tell what {path} is from its extension {suffix or '(none)'}.",
                    fix="pass a .onnx file, a TensorRT .engine/.plan, or a native .pt checkpoint.")
