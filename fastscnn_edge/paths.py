"""Where artifacts live by default, so that `export`, `build-engine` and `bench` chain with no
arguments.

Everything goes under ``./artifacts`` (or ``$FASTSCNN_EDGE_ARTIFACTS``):

    artifacts/fastscnn_<arch>_<head>_<H>x<W>.onnx               fp32 ONNX from `export`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.fp16.onnx          from `quantize --fp16`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8.onnx          from `quantize --int8` (TensorRT Q/DQ form)
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8-cpu.onnx      from `quantize --int8 --target cpu`
    artifacts/fastscnn_<arch>_<head>_<H>x<W>.int8.calib.json    calibration ranges, reused with --cache
    artifacts/engines/fastscnn_<arch>_<head>_<H>x<W>.<prec>.engine   (+ .engine.json sidecar)
    artifacts/engines/fastscnn_<arch>_<head>_<H>x<W>.<prec>.rtx.engine   TensorRT-RTX (+ sidecar)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Tuple

from fastscnn_edge.errors import UserError

Resolution = Tuple[int, int]

DEFAULT_ARCH = "paper"
DEFAULT_HEAD = "cls"


def artifacts_dir() -> Path:
    return Path(os.environ.get("FASTSCNN_EDGE_ARTIFACTS", "artifacts"))


def engines_dir() -> Path:
    return artifacts_dir() / "engines"


def stem(arch: str, head: str, res: Resolution) -> str:
    return f"fastscnn_{arch}_{head}_{res[0]}x{res[1]}"


def default_onnx(arch: str = DEFAULT_ARCH, head: str = DEFAULT_HEAD, res: Resolution = (1024, 2048),
                 precision: str = "fp32") -> Path:
    suffix = "" if precision == "fp32" else f".{precision}"
    return artifacts_dir() / f"{stem(arch, head, res)}{suffix}.onnx"


def default_engine(arch: str, head: str, res: Resolution, precision: str, runtime: str = "tensorrt") -> Path:
    """TensorRT engines end in ``.<precision>.engine``, TensorRT-RTX ones in ``.<precision>.rtx.engine``
    (they run on other GPUs and another runtime, so the two never shadow each other)."""
    tag = ".rtx" if runtime == "rtx" else ""
    return engines_dir() / f"{stem(arch, head, res)}.{precision}{tag}.engine"


_RES = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_resolution(text: str, *, multiple: int = 32) -> Resolution:
    """Parse ``HxW`` (e.g. ``1024x2048``); both sides must be positive multiples of ``multiple``."""
    m = _RES.match(text)
    if not m:
        raise UserError(f"resolution {text!r} is not of the form HxW.", fix="write it like 1024x2048 (height x width).")
    h, w = int(m.group(1)), int(m.group(2))
    if h <= 0 or w <= 0 or h % multiple or w % multiple:
        def up(v: int) -> int:
            return max(multiple, -(-v // multiple) * multiple)
        raise UserError(
            f"resolution {h}x{w} is not a multiple of {multiple} (Fast-SCNN downsamples by 32).",
            fix=f"use {up(h)}x{up(w)} or another size whose height and width are multiples of {multiple}.",
        )
    return h, w


def parse_resolutions(texts: List[str] | None) -> List[Resolution]:
    from fastscnn_edge import PAPER_RESOLUTIONS

    if not texts:
        return [tuple(r) for r in PAPER_RESOLUTIONS]  # type: ignore[misc]
    out: List[Resolution] = []
    for t in texts:
        for part in t.split(","):
            if part.strip():
                out.append(parse_resolution(part))
    return out
