"""The ``Resolution`` value type (height x width of a model input), its parsing and its limits.

A ``Resolution`` is a named tuple, so ``(1024, 2048) == Resolution(1024, 2048)`` and JSON writes it
as ``[1024, 2048]``; ``str()`` gives ``1024x2048``. Every size the toolkit accepts is a positive
multiple of 32 (Fast-SCNN downsamples by 32), at most ``MAX_SIDE`` per side and ``MAX_PIXELS``
in all.
"""

from __future__ import annotations

import re
from typing import Iterable, List, NamedTuple, Optional, Sequence

from fastscnn_edge.core.errors import UserError


class Resolution(NamedTuple):
    """Height and width of a model input, in pixels."""

    height: int
    width: int

    def __str__(self) -> str:
        return f"{self.height}x{self.width}"

    @classmethod
    def parse(cls, text: str) -> "Resolution":
        """``"1024x2048"`` -> Resolution(1024, 2048); UserError naming the fix for anything else."""
        return parse_resolution(text)

    @classmethod
    def of(cls, value: Sequence[int]) -> "Resolution":
        """A Resolution from any (h, w) pair (a list read from JSON, a tuple)."""
        return cls(int(value[0]), int(value[1]))


PAPER_RESOLUTIONS = (Resolution(1024, 2048), Resolution(512, 1024), Resolution(256, 512))
"""The three input resolutions (H, W) of the paper's Tables 5 and 7: the default wherever sizes are asked for."""

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


def check_export_memory(res: Sequence[int]) -> None:
    """UserError where exporting ``res`` would need more memory than this machine has available."""
    from fastscnn_edge.core.fileio import human_size

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
    from fastscnn_edge.core.fileio import human_size

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
    return Resolution(h, w)


def as_resolution(value: "str | Sequence[int]") -> Resolution:
    """An ``"HxW"`` text (checked by :func:`parse_resolution`) or an (H, W) pair, as a Resolution: what
    the Python API and the options dataclasses accept wherever a size is asked for."""
    return parse_resolution(value) if isinstance(value, str) else Resolution.of(value)


def parse_resolutions(texts: Optional[Iterable[str]]) -> List[Resolution]:
    """``--res`` values (repeatable, comma-separated) -> resolutions; none given: [] (the caller's
    default applies, see :func:`or_paper`)."""
    out: List[Resolution] = []
    for t in texts or ():
        for part in t.split(","):
            if part.strip():
                out.append(parse_resolution(part))
    return list(dict.fromkeys(out))


def or_paper(resolutions: Sequence[Sequence[int]]) -> List[Resolution]:
    """``resolutions`` as Resolutions, or the paper's three where none were asked for: the one default."""
    return [Resolution.of(r) for r in resolutions] if resolutions else list(PAPER_RESOLUTIONS)
