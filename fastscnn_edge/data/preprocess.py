"""The one preprocessing policy shared by calibration, eval, predict and compare.

Policy ``resize``: the whole frame is resized (bilinear, OpenCV INTER_LINEAR) to the artifact's
H x W, no crop, no letterbox; grayscale and 4-channel images are converted to 3 channels; the
channel order and mean/std come from the artifact's metadata. Labels are mapped back to the
frame's size with nearest-neighbour resize. torch-free (numpy + OpenCV).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Tuple

import numpy as np

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta

POLICY = "resize-full-frame-bilinear"


def read_image_bgr(path: str | Path) -> np.ndarray:
    """Read an image as HxWx3 uint8 BGR; grayscale/alpha/16-bit are converted. Raises UserError."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"cannot read image {path} (missing, corrupt or not an image).",
                        fix="check the file, or remove it from the input list.")
    return to_bgr8(img)


def to_bgr8(img: np.ndarray) -> np.ndarray:
    import cv2

    if img.dtype == np.uint16:
        img = (img / 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img)


def resize_bgr(img: np.ndarray, res: Tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = res
    if img.shape[:2] == (h, w):
        return img
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def to_network_input(bgr: np.ndarray, meta: ModelMeta, res: Tuple[int, int]) -> np.ndarray:
    """One BGR uint8 frame -> a batch of 1 in the artifact's input format.

    ``float``: (1, 3, H, W) float32, normalized with the artifact's mean/std in its channel order.
    ``rgb8`` / ``bgr8``: (1, H, W, 3) uint8, the normalization happens inside the graph.
    """
    img = resize_bgr(to_bgr8(bgr), res)
    if meta.input_format == "bgr8":
        return img[None]
    if meta.input_format == "rgb8":
        return np.ascontiguousarray(img[:, :, ::-1])[None]
    lut = _normalize_lut(tuple(meta.mean), tuple(meta.std), meta.channel_order.upper() == "BGR")
    x = np.empty((1, 3, img.shape[0], img.shape[1]), np.float32)
    for k, (src, table) in enumerate(lut):
        np.take(table, img[:, :, src], out=x[0, k])
    return x


@functools.lru_cache(maxsize=16)
def _normalize_lut(mean: Tuple[float, ...], std: Tuple[float, ...], bgr_order: bool) -> Tuple[Tuple[int, np.ndarray], ...]:
    """Per output channel: (the BGR frame's channel it reads, its 256-entry float32 table).

    The table holds ``(v / 255 - mean) / std`` computed with exactly the float32 operations of
    :func:`normalize_reference` for every byte value v, so the lookup gives the same bits in one
    pass per channel instead of five passes over the frame."""
    v = np.arange(256, dtype=np.uint8)[:, None].astype(np.float32) / 255.0
    table = (v - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)  # (256, 3), RGB order
    out = []
    for k in range(3):
        r = 2 - k if bgr_order else k  # the RGB channel that output channel k holds
        out.append((2 - r, np.ascontiguousarray(table[:, r], dtype=np.float32)))
    return tuple(out)


def normalize_reference(img: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """The float normalization written out plainly (HxWx3 BGR uint8 at the model's size -> (1, 3, H, W)):
    what :func:`to_network_input`'s lookup tables compute, kept as their definition for the tests."""
    rgb = img[:, :, ::-1]
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.asarray(meta.mean, np.float32)) / np.asarray(meta.std, np.float32)
    if meta.channel_order.upper() == "BGR":
        x = x[:, :, ::-1]
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None].astype(np.float32)


def labels_to_size(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an HxW label map to ``size`` (H, W)."""
    import cv2

    if labels.shape[:2] == tuple(size):
        return labels
    dtype = labels.dtype
    out = cv2.resize(labels.astype(np.uint16 if labels.max(initial=0) > 255 else np.uint8),
                     (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return out.astype(dtype)
