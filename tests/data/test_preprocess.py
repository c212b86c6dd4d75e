"""The preprocessing policy: float normalization by lookup tables gives the same bits as the formula."""

from __future__ import annotations

import numpy as np
import pytest

from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.data.preprocess import labels_to_size, normalize_reference, to_network_input


def _meta(order: str, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), fmt: str = "float") -> ModelMeta:  # noqa: ANN001
    m = ModelMeta(arch="paper", head="cls", num_classes=19, weights_sha256="0" * 64)
    m.channel_order, m.mean, m.std, m.input_format = order, mean, std, fmt
    return m


@pytest.mark.parametrize("order", ["RGB", "BGR"])
@pytest.mark.parametrize("mean, std", [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                                        ((0.1, 0.7, 0.3), (0.9, 0.05, 1.7))])
def test_lookup_normalization_is_bit_identical_to_the_formula(order, mean, std):  # noqa: ANN001
    img = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    img[0, :3] = [[0, 0, 0], [255, 255, 255], [1, 128, 254]]
    m = _meta(order, mean, std)
    got, want = to_network_input(img, m, (37, 53)), normalize_reference(img, m)
    assert got.dtype == np.float32 and got.shape == (1, 3, 37, 53) and got.flags.c_contiguous
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_channel_order_and_uint8_formats():
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0], img[..., 2] = 10, 200  # blue 10, red 200
    rgb = to_network_input(img, _meta("RGB", (0, 0, 0), (1, 1, 1)), (4, 6))
    assert np.allclose(rgb[0, 0], 200 / 255) and np.allclose(rgb[0, 2], 10 / 255)
    bgr = to_network_input(img, _meta("BGR", (0, 0, 0), (1, 1, 1)), (4, 6))
    assert np.allclose(bgr[0, 0], 10 / 255) and np.allclose(bgr[0, 2], 200 / 255)
    assert np.array_equal(to_network_input(img, _meta("RGB", fmt="bgr8"), (4, 6))[0], img)
    assert np.array_equal(to_network_input(img, _meta("RGB", fmt="rgb8"), (4, 6))[0], img[:, :, ::-1])
    assert to_network_input(img, _meta("RGB"), (8, 12)).shape == (1, 3, 8, 12)  # resized first


def test_labels_come_back_at_the_frame_size_by_nearest():
    labels = np.array([[0, 1], [2, 3]])
    assert np.array_equal(labels_to_size(labels, (4, 4)), np.kron(labels, np.ones((2, 2), int)))
    big = np.array([[300, 1]])
    assert labels_to_size(big, (1, 4)).tolist() == [[300, 300, 1, 1]]
