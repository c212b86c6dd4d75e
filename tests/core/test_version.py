"""version: the one version string, the same as the package metadata's."""

import re
from pathlib import Path

from fastscnn_edge.core.version import __version__


def test_version_matches_pyproject():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    assert declared is not None and declared.group(1) == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
