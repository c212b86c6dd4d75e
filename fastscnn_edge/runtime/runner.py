"""The runner interface every backend implements: :class:`Runner` and its :class:`IOSpec`.

A runner takes a batch in the artifact's own input format (see
:func:`fastscnn_edge.data.preprocess.to_network_input`) and returns the host output: labels (N, H, W)
for ``cls``, probabilities (N, C, H, W) for ``prob``, low-resolution logits (N, C, H/8, W/8) for
``logits``; ``runner.labels(out)`` turns any of them into a label map. The implementations live in
``fastscnn_edge.runtime.backends`` (onnxruntime, torch) and ``fastscnn_edge.runtime.trt.runner`` (TensorRT), which
both import this module and nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.resolution import Resolution


@dataclass
class IOSpec:
    input_name: str
    input_shape: Tuple[int, ...]
    input_dtype: str  # numpy dtype name
    output_name: str
    output_shape: Tuple[int, ...]
    output_dtype: str


@dataclass
class Runner:
    """Base class: subclasses implement ``__call__`` (and ``close`` where they hold resources)."""

    backend: str
    device: str
    meta: ModelMeta
    io: IOSpec
    description: str = ""
    details: Dict[str, object] = field(default_factory=dict)

    @property
    def resolution(self) -> Resolution:
        if self.meta.resolution is None:
            raise UserError("this artifact has dynamic input size; a resolution must be given.",
                            fix="pass --res HxW.")
        return Resolution.of(self.meta.resolution)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def random_input(self, rng: np.random.Generator, batch: int = 1) -> np.ndarray:
        """A random input of the right shape and dtype (uint8 frames or normalized floats)."""
        h, w = self.resolution
        if self.meta.input_format in ("rgb8", "bgr8"):
            return rng.integers(0, 256, size=(batch, h, w, 3), dtype=np.uint8)
        return rng.standard_normal((batch, 3, h, w), dtype=np.float32)

    def preprocess(self, bgr: np.ndarray) -> np.ndarray:
        from fastscnn_edge.data.preprocess import to_network_input

        return to_network_input(bgr, self.meta, self.resolution)

    def labels(self, out: np.ndarray) -> np.ndarray:
        """Output of ``__call__`` -> (N, H, W) int64 train-ID labels at the artifact's resolution."""
        if self.meta.head == "cls":
            return out.astype(np.int64)
        if self.meta.head == "logits":
            out = _upsample_logits(out, self.resolution, self.meta.extra.get("align_corners") == "true")
        return np.argmax(out, axis=1).astype(np.int64)

    def close(self) -> None:
        pass

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _upsample_logits(x: np.ndarray, res: Tuple[int, int], align_corners: bool) -> np.ndarray:
    """Bilinear upsampling of (N, C, h, w) logits to ``res``, as the network's own final upsample does
    (``align_corners`` as in PyTorch). torch-free, so the logits head reads the same on a Jetson."""
    import cv2

    if align_corners:
        ry, rx = _align_corners_matrix(res[0], x.shape[2]), _align_corners_matrix(res[1], x.shape[3])
        return np.einsum("Hh,nchw,Ww->ncHW", ry, x.astype(np.float32), rx, optimize=True).astype(np.float32)
    n, c = x.shape[:2]
    out = np.empty((n, c, *res), np.float32)
    for i in range(n):
        for j in range(c):
            out[i, j] = cv2.resize(x[i, j].astype(np.float32), (res[1], res[0]), interpolation=cv2.INTER_LINEAR)
    return out


def _align_corners_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of 1-D linear interpolation with corners aligned (source = i * (in-1)/(out-1))."""
    m = np.zeros((out_size, in_size), np.float32)
    if in_size == 1 or out_size == 1:
        m[:, 0] = 1.0
        return m
    pos = np.arange(out_size, dtype=np.float64) * (in_size - 1) / (out_size - 1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, in_size - 2)
    frac = (pos - lo).astype(np.float32)
    rows = np.arange(out_size)
    m[rows, lo] = 1.0 - frac
    m[rows, lo + 1] += frac
    return m
