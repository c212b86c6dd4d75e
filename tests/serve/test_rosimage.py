"""sensor_msgs/Image and CompressedImage <-> numpy: the encodings taken, those refused, the layouts."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.serve.rosimage import color_fields, compressed_to_bgr, image_to_bgr, labels_fields, labels_from_fields


def _msg(img: np.ndarray, encoding: str, pad: int = 0) -> SimpleNamespace:
    h, w = img.shape[:2]
    row = img.reshape(h, -1).view(np.uint8)
    step = row.shape[1] + pad
    buf = np.zeros((h, step), np.uint8)
    buf[:, : row.shape[1]] = row
    return SimpleNamespace(height=h, width=w, encoding=encoding, step=step, data=buf.tobytes(), is_bigendian=0)


@pytest.fixture()
def bgr() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_colour_and_mono_encodings_come_in_as_bgr(bgr):  # noqa: ANN001
    assert np.array_equal(image_to_bgr(_msg(bgr, "bgr8")), bgr)
    assert np.array_equal(image_to_bgr(_msg(bgr, "8UC3")), bgr)
    assert np.array_equal(image_to_bgr(_msg(bgr[:, :, ::-1].copy(), "rgb8")), bgr)
    gray = bgr[:, :, 0].copy()
    assert np.array_equal(image_to_bgr(_msg(gray, "mono8")), np.repeat(gray[:, :, None], 3, axis=2))
    assert np.array_equal(image_to_bgr(_msg(bgr, "bgr8", pad=5)), bgr)  # rows padded past width * 3


def test_16_bit_and_unknown_encodings_and_short_buffers_are_refused(bgr):  # noqa: ANN001
    with pytest.raises(UserError, match="'16UC1' is not 8-bit"):
        image_to_bgr(_msg(np.zeros((4, 4), np.uint16), "16UC1"))
    with pytest.raises(UserError, match="'bayer_rggb8' is not supported.*image_proc"):
        image_to_bgr(_msg(bgr[:, :, 0].copy(), "bayer_rggb8"))
    short = _msg(bgr, "bgr8")
    short.data = short.data[:-10]
    with pytest.raises(UserError, match="claims 5x7 .* holds 95 bytes"):
        image_to_bgr(short)


def test_compressed_frames_decode_and_garbage_is_one_line(bgr):  # noqa: ANN001
    ok, png = cv2.imencode(".png", bgr)
    assert np.array_equal(compressed_to_bgr(SimpleNamespace(format="png", data=png.tobytes())), bgr)
    with pytest.raises(UserError, match="does not decode"):
        compressed_to_bgr(SimpleNamespace(format="jpeg", data=b"\x00" * 20))


def test_labels_go_out_as_mono8_or_32sc1_and_read_back():
    labels = np.random.default_rng(1).integers(0, 19, (6, 9))
    f = labels_fields(labels, 19)
    assert f["encoding"] == "mono8" and f["step"] == 9
    assert np.array_equal(labels_from_fields(SimpleNamespace(**f)), labels)
    big = np.random.default_rng(2).integers(0, 300, (6, 9))
    f = labels_fields(big, 300)
    assert f["encoding"] == "32SC1" and f["step"] == 36
    assert np.array_equal(labels_from_fields(SimpleNamespace(**f)), big)


def test_colour_goes_out_as_rgb8(bgr):  # noqa: ANN001
    f = color_fields(bgr)
    assert f["encoding"] == "rgb8" and np.array_equal(image_to_bgr(SimpleNamespace(**f)), bgr)
