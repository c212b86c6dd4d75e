"""resolution: the Resolution value, its one parser and its limits, the one default (the paper's three)."""

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.resolution import (MAX_SIDE, PAPER_RESOLUTIONS, Resolution, or_paper, parse_resolution,
                                      parse_resolutions, resolution_problem)


def test_parse_and_print():
    r = Resolution.parse(" 1024 X 2048 ")
    assert r == (1024, 2048) and (r.height, r.width) == (1024, 2048) and str(r) == "1024x2048"
    assert Resolution.of([256, 512]) == Resolution(256, 512)
    assert parse_resolutions(["256x512,512x1024", "256x512"]) == [(256, 512), (512, 1024)]  # repeats dropped
    assert parse_resolutions(None) == []


@pytest.mark.parametrize("text, needle, fix", [
    ("big", "not of the form HxW", "1024x2048"),
    ("100x200", "not a multiple of 32", "128x224"),
    ("0x64", "not a multiple of 32", "32x64"),
    (f"{MAX_SIDE * 2}x64", "over the maximum", "4096x8192"),
])
def test_bad_sizes_are_one_line_with_the_fix(text, needle, fix):
    with pytest.raises(UserError) as e:
        parse_resolution(text)
    assert needle in e.value.cause and fix in e.value.fix


def test_limits_and_the_one_default():
    assert resolution_problem(64, 128) is None
    assert "multiples of 32" in resolution_problem(65, 128)
    assert "at most" in resolution_problem(8192, 8192)
    assert or_paper([]) == list(PAPER_RESOLUTIONS) == [(1024, 2048), (512, 1024), (256, 512)]
    assert or_paper([(64, 128)]) == [Resolution(64, 128)]
