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
from typing import List, Optional, Tuple

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

# The largest input the toolkit accepts: 4x the paper's 1024x2048 on each side. The export's peak
# memory (PyTorch reference, exporter and onnxruntime check together; /usr/bin/time at 256x512,
# 512x1024 and 1024x2048, torch 2.13 CPU) is about 0.4 GB + 570 B/pixel for cls and
# 0.4 GB + 850 B/pixel for prob: 4096x8192 needs ~29 GB, 65536x65536 terabytes.
MAX_SIDE = 8192
MAX_PIXELS = 4096 * 8192
EXPORT_BYTES_PER_PIXEL = 900
EXPORT_BASE_BYTES = 400 * 2**20


def export_memory_bytes(h: int, w: int) -> int:
    """About how much memory exporting (and validating) an ``h`` x ``w`` model takes, in bytes."""
    return EXPORT_BASE_BYTES + EXPORT_BYTES_PER_PIXEL * h * w


def available_memory() -> Optional[int]:
    """MemAvailable from /proc/meminfo in bytes (None where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_export_memory(res: Resolution) -> None:
    """UserError where exporting ``res`` would need more memory than this machine has available."""
    from fastscnn_edge.fileio import human_size

    need = EXPORT_BYTES_PER_PIXEL * res[0] * res[1]  # beyond the base: torch and onnxruntime load either way
    free = available_memory()
    if free is not None and need > free:
        raise UserError(f"exporting {res[0]}x{res[1]} takes about {human_size(need)} of memory; only "
                        f"{human_size(free)} is available here.", fix="export a smaller --res, or free memory first.")


def resolution_problem(h: int, w: int, *, multiple: int = 32) -> Optional[str]:
    """What is wrong with ``h`` x ``w`` as a model input size (None: nothing)."""
    if h <= 0 or w <= 0 or h % multiple or w % multiple:
        return f"positive multiples of {multiple} (Fast-SCNN downsamples by 32)"
    if h > MAX_SIDE or w > MAX_SIDE or h * w > MAX_PIXELS:
        return f"at most {MAX_SIDE} per side and {MAX_PIXELS / 1e6:.1f} M pixels (e.g. 4096x8192)"
    return None


def parse_resolution(text: str, *, multiple: int = 32) -> Resolution:
    """Parse ``HxW`` (e.g. ``1024x2048``); both sides positive multiples of ``multiple``, at most
    ``MAX_SIDE`` each and ``MAX_PIXELS`` together (the memory estimate is in the error)."""
    from fastscnn_edge.fileio import human_size

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
    if h > MAX_SIDE or w > MAX_SIDE or h * w > MAX_PIXELS:
        raise UserError(
            f"resolution {h}x{w} ({h * w / 1e6:.1f} M pixels) is over the maximum of {MAX_SIDE} per side and "
            f"{MAX_PIXELS / 1e6:.1f} M pixels (4096x8192); exporting it would take about "
            f"{human_size(export_memory_bytes(h, w))} of memory.",
            fix="use at most 4096x8192 (the paper's largest size is 1024x2048).")
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
