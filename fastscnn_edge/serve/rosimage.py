"""``sensor_msgs/Image`` and ``CompressedImage`` <-> numpy, for the ROS 2 node and for bags.

Works on any object with the messages' fields (rclpy's generated classes and rosbags' dataclasses
alike), so the node and the bag reader share one set of rules: ``bgr8``, ``rgb8`` and ``mono8``
(and their ``8UC3``/``8UC1`` spellings) come in as BGR uint8; 16-bit and other encodings are refused
with one line; a frame whose buffer does not match its height, width and step is refused. Labels go
out as ``mono8`` train IDs (``32SC1`` for models with more than 255 classes), colour as ``rgb8``.
numpy and OpenCV only.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from fastscnn_edge.core.errors import UserError

INPUT_ENCODINGS = {"bgr8": 3, "rgb8": 3, "mono8": 1, "8UC3": 3, "8UC1": 1}
"""Accepted ``Image.encoding`` values and their channel counts (``8UC3`` is read as BGR)."""
SIXTEEN_BIT = ("mono16", "16UC1", "16SC1", "bgr16", "rgb16", "bgra16", "rgba16", "16UC3")


def image_to_bgr(msg: Any) -> np.ndarray:
    """An ``Image`` message -> H x W x 3 BGR uint8 (a copy-free view where the layout allows).
    Raises UserError for an unsupported encoding or a buffer that does not match its size."""
    import cv2

    enc = str(msg.encoding)
    if enc not in INPUT_ENCODINGS:
        if enc in SIXTEEN_BIT or "16" in enc or "32" in enc:
            raise UserError(f"image encoding {enc!r} is not 8-bit; the model takes 8-bit colour or mono frames.",
                            fix="publish bgr8, rgb8 or mono8 (a depth or 16-bit camera stream is not a colour image).")
        raise UserError(f"image encoding {enc!r} is not supported.",
                        fix=f"publish one of {', '.join(INPUT_ENCODINGS)} (debayer with image_proc first).")
    h, w, c = int(msg.height), int(msg.width), INPUT_ENCODINGS[enc]
    step = int(msg.step)
    data = np.frombuffer(msg.data, np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data.view(np.uint8).ravel()
    if h < 1 or w < 1 or step < w * c or data.size < step * h:
        raise UserError(f"a {enc} frame claims {h}x{w} (step {step}) but holds {data.size} bytes.",
                        fix="check the publisher: height * step must equal the data length.")
    img = data[: step * h].reshape(h, step)[:, : w * c].reshape(h, w, c)
    if c == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if enc == "rgb8":
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return img if img.flags.c_contiguous else np.ascontiguousarray(img)


def compressed_to_bgr(msg: Any) -> np.ndarray:
    """A ``CompressedImage`` (JPEG/PNG) -> H x W x 3 BGR uint8; UserError if it does not decode."""
    import cv2

    from fastscnn_edge.data.preprocess import to_bgr8

    img = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"a compressed frame ({msg.format or 'no format'}, {len(msg.data)} bytes) does not decode.",
                        fix="publish JPEG or PNG in sensor_msgs/CompressedImage.")
    return to_bgr8(img)


def labels_fields(labels: np.ndarray, num_classes: int) -> Dict[str, Any]:
    """The ``Image`` fields of a label map: ``mono8`` train IDs, ``32SC1`` above 255 classes."""
    h, w = labels.shape[:2]
    if num_classes > 255:
        data = np.ascontiguousarray(labels, dtype="<i4")
        return dict(height=h, width=w, encoding="32SC1", is_bigendian=0, step=4 * w, data=data.view(np.uint8).ravel())
    return dict(height=h, width=w, encoding="mono8", is_bigendian=0, step=w,
                data=np.ascontiguousarray(labels, dtype=np.uint8).ravel())


def color_fields(bgr: np.ndarray) -> Dict[str, Any]:
    """The ``Image`` fields of a BGR picture, sent as ``rgb8`` (what RViz and Isaac ROS show)."""
    h, w = bgr.shape[:2]
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    return dict(height=h, width=w, encoding="rgb8", is_bigendian=0, step=3 * w, data=rgb.ravel())


def labels_from_fields(msg: Any) -> np.ndarray:
    """A ``mono8``/``32SC1`` label ``Image`` -> H x W int64 (for reading our own output back)."""
    dtype = {"mono8": np.uint8, "32SC1": np.dtype("<i4")}.get(str(msg.encoding))
    if dtype is None:
        raise UserError(f"label image encoding {msg.encoding!r} is not mono8 or 32SC1.", fix="read a labels topic.")
    data = np.frombuffer(msg.data, np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data.view(np.uint8).ravel()
    item = np.dtype(dtype).itemsize
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    return data[: h * step].reshape(h, step)[:, : w * item].copy().view(dtype).reshape(h, w).astype(np.int64)
