"""Colours for label maps: the palette, its lookup, the overlay."""

from __future__ import annotations

import numpy as np
import pytest

from fastscnn_edge.data.palette import colorize, overlay, palette_bgr


@pytest.mark.parametrize("num_classes", [19, 5, 300])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
def test_colorize_is_the_palette_indexed_by_the_labels(num_classes, dtype):  # noqa: ANN001
    top = min(num_classes, 256) if dtype == np.uint8 else num_classes + 5
    labels = np.random.default_rng(0).integers(0, top, (31, 47)).astype(dtype)
    got = colorize(labels, num_classes)
    want = palette_bgr(num_classes)[np.clip(labels, 0, 255).astype(np.uint8)]
    assert got.shape == (31, 47, 3) and got.dtype == np.uint8 and np.array_equal(got, want)


def test_classes_past_the_count_are_black_and_the_palette_is_fixed():
    assert not palette_bgr(19)[19:].any() and np.array_equal(palette_bgr(7), palette_bgr(7))
    assert palette_bgr(300).shape == (256, 3)


def test_overlay_blends_the_colours_over_the_frame():
    bgr = np.full((4, 4, 3), 200, np.uint8)
    labels = np.zeros((4, 4), np.int64)
    out = overlay(bgr, labels, 19, alpha=0.5)
    assert np.allclose(out.astype(int), (palette_bgr(19)[0].astype(int) + 200) / 2, atol=1)
